"""Over HTTP, under `credentials: voter`: a citizen registers the key made on their device,
the round freezes the roll, the citizen seals, signs and casts, then votes again; an assisted
citizen votes without a key of their own; scrutin-audit passes with check 13 and reports the
revote and the assisted ballot (docs/audit-log.md §8 "Voter-held credentials")."""

from __future__ import annotations

import base64

from nacl.signing import SigningKey
from starlette.testclient import TestClient

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from tests.fixtures.accounts import another_client, api_request, sign_in
from tests.fixtures.rounds import export_and_key, open_round_over_http, seed_round_primary


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _vote(voter: TestClient, slug: str, key: SigningKey, grades: dict[str, int]) -> str:
    sealed = api_request(voter, "POST", f"/api/primaries/{slug}/rounds/1/seal", {"grades": grades})
    assert sealed.status_code == 200, sealed.text
    doc = sealed.json()
    signature = key.sign(base64.b64decode(doc["message"])).signature
    cast = api_request(
        voter,
        "POST",
        f"/api/primaries/{slug}/rounds/1/ballot",
        {"sealed": doc["sealed"], "token": doc["token"], "signature": _b64(signature)},
    )
    assert cast.status_code == 201, cast.text
    return cast.json()["tracker"]


def test_a_voter_casts_with_their_own_key_revotes_and_the_audit_passes(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2, credentials="voter")
    slug, (a, b) = primary.slug, primary.candidates
    voter, helped, late = another_client(client), another_client(client), another_client(client)
    sign_in(voter, "claire-cle@example.org")
    sign_in(helped, "henri-aide@example.org")
    sign_in(late, "luc-tard@example.org")
    key = SigningKey.generate()

    url = f"/api/primaries/{slug}/credential"
    assert api_request(voter, "GET", url).status_code == 404
    made = api_request(voter, "POST", url, {"public_key": _b64(bytes(key.verify_key))})
    assert made.status_code == 201, made.text
    assert made.json() == {"credential": _b64(bytes(key.verify_key)), "assisted": False}
    again = api_request(
        voter, "POST", url, {"public_key": _b64(bytes(SigningKey.generate().verify_key))}
    )
    assert again.status_code == 409 and again.json()["error"]["field"] == "credential"
    bad = api_request(voter, "POST", url, {"public_key": "not base64!"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "public_key"
    assisted = api_request(helped, "POST", url, {})
    assert assisted.status_code == 201 and assisted.json()["assisted"] is True

    open_round_over_http(client, primary)
    frozen = api_request(
        late, "POST", url, {"public_key": _b64(bytes(SigningKey.generate().verify_key))}
    )
    assert frozen.status_code == 409, frozen.text
    assert "figée" in frozen.json()["error"]["message"]

    first = _vote(voter, slug, key, {a: 6, b: 1})
    second = _vote(voter, slug, key, {a: 0, b: 5})  # a revote: this one counts
    assert first != second
    helped_cast = api_request(
        helped, "POST", f"/api/primaries/{slug}/rounds/1/ballot", {"grades": {a: 3, b: 3}}
    )
    assert helped_cast.status_code == 201, helped_cast.text
    # Someone who signs the sealed ballot with another key is refused, nothing is logged.
    doc = api_request(
        voter, "POST", f"/api/primaries/{slug}/rounds/1/seal", {"grades": {a: 6, b: 6}}
    ).json()
    forged = SigningKey.generate().sign(base64.b64decode(doc["message"])).signature
    refused = api_request(
        voter, "POST", f"/api/primaries/{slug}/rounds/1/ballot",
        {"sealed": doc["sealed"], "token": doc["token"], "signature": _b64(forged)},
    )  # fmt: skip
    assert refused.status_code == 400 and refused.headers["scrutin-refusal"] == "bad-signature"
    # The same signed ballot posted twice (a retry) is recorded once.
    doc = api_request(
        voter, "POST", f"/api/primaries/{slug}/rounds/1/seal", {"grades": {a: 0, b: 5}}
    ).json()
    signed = {"sealed": doc["sealed"], "token": doc["token"],
              "signature": _b64(key.sign(base64.b64decode(doc["message"])).signature)}  # fmt: skip
    url_ballot = f"/api/primaries/{slug}/rounds/1/ballot"
    assert api_request(voter, "POST", url_ballot, signed).status_code == 201
    twice = api_request(voter, "POST", url_ballot, signed)
    assert twice.status_code == 409 and twice.headers["scrutin-refusal"] == "already-cast"
    no_key = api_request(
        late, "POST", f"/api/primaries/{slug}/rounds/1/seal", {"grades": {a: 1, b: 1}}
    )
    assert no_key.status_code == 403 and no_key.headers["scrutin-refusal"] == "no-credential"

    raw, vkey = export_and_key(client, slug)
    report = verify(parse_export(raw, "export"), parse_verifier_key(vkey), workers=1)
    assert report.ok, report.render("en")
    summary = report.summary["credentials"]
    assert (summary["counted"], summary["revotes"], summary["assisted_ballots"]) == (2, 2, 1)
    assert "2 revote(s), 1 under an assisted key" in report.render("en")
