"""Eligibility pages: the organiser's import and approval queue, the citizen's request,
invitation codes and their claims, one account per mailbox."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import (
    another_client,
    csrf_token,
    last_mail,
    post_form,
    run_db,
    sign_in,
)
from tests.fixtures.eligibility import claim, import_codes
from web.ratelimit import limiter_for


def _primary(client: TestClient, policy: str, slug: str = "p") -> None:
    """A primary with its log (imports are logged), without the rest of a definition."""
    app = client.app

    async def create() -> None:
        async with app.state.pool.acquire() as conn, conn.transaction():  # type: ignore[attr-defined]
            primary_id = await conn.fetchval(
                "INSERT INTO primaries (slug, title, definition)"
                " VALUES ($1, 'Primaire', $2::jsonb) RETURNING id",
                slug,
                {"eligibility": policy},  # the app's pool encodes JSON itself
            )
            await app.state.log.create_log(conn, primary_id, slug)  # type: ignore[attr-defined]

    assert client.portal is not None
    client.portal.call(create)


def test_admin_pages_are_for_organisers_only(client: TestClient) -> None:
    _primary(client, "allow-list")
    anonymous = client.get("/primaries/p/admin/eligibility", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/signin?next=/primaries/p/admin/eligibility"
    sign_in(client, "citizen@example.org")
    assert client.get("/primaries/p/admin/eligibility").status_code == 403
    forbidden = post_form(
        client, "/primaries/p/admin/eligibility/import", {"entries": "a@example.org"}
    )
    assert forbidden.status_code == 403
    assert run_db(client, "SELECT count(*) AS n FROM eligibility_entries")[0]["n"] == 0


def test_unknown_primary_is_404(organiser_client: TestClient) -> None:
    assert organiser_client.get("/primaries/nope/admin/eligibility").status_code == 404


def test_csv_upload_and_errors_with_line_numbers(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    good = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        files={"file": ("liste.csv", b"email\na@example.org\nFR-12\n", "text/csv")},
    )
    assert good.status_code == 200  # the page with FR-12's invitation code
    assert "Liste importée." in good.text and "FR-12" in good.text
    bad = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        {"entries": "b@example.org\npas@valide@\n<b>x</b>"},
    )
    assert bad.status_code == 400
    assert "Ligne 2" in bad.text and "Ligne 3" in bad.text
    assert "&lt;b&gt;x&lt;/b&gt;" in bad.text  # the textarea keeps what was typed, escaped
    values = run_db(client, "SELECT value FROM eligibility_entries ORDER BY value")
    assert [row["value"] for row in values] == ["FR-12", "a@example.org"]


def test_a_listed_number_is_claimed_with_its_code_and_the_code_works_once(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    codes = import_codes(organiser_client, "p", "FR-77\nFR-78")
    assert set(codes) == {"FR-77", "FR-78"}
    assert all(
        re.fullmatch(r"[A-HJKMNP-TV-Z2-9]{4}(-[A-HJKMNP-TV-Z2-9]{4}){2}", c) for c in codes.values()
    )
    sign_in(client, "c@example.org")
    page = client.get("/primaries/p/eligibility")
    assert "ne figure pas sur la liste" in page.text and "code d’invitation" in page.text
    # The number alone (or with another number's code) gives nothing.
    refused = claim(client, "p", "FR-77", codes["FR-78"])
    assert refused.status_code == 400 and "incorrect" in refused.text
    assert "ne figure pas sur la liste" in client.get("/primaries/p/eligibility").text
    # Typed as read from a letter: lower case, spaces instead of dashes.
    done = claim(client, "p", "FR-77", codes["FR-77"].lower().replace("-", " "))
    assert done.status_code == 303
    page = client.get("/primaries/p/eligibility")
    assert "Vous pouvez participer" in page.text and "FR-77" in page.text
    # Single use: another account with the same number and code is refused.
    other = another_client(client)
    sign_in(other, "d@example.org")
    again = claim(other, "p", "FR-77", codes["FR-77"])
    assert again.status_code == 400 and "incorrect" in again.text
    assert "ne figure pas sur la liste" in other.get("/primaries/p/eligibility").text
    # One number per account and primary.
    second = claim(client, "p", "FR-78", codes["FR-78"])
    assert second.status_code == 400 and "déjà réclamé" in second.text
    claimed = run_db(client, "SELECT value, claimed_by IS NOT NULL AS c FROM eligibility_entries")
    assert {r["value"]: r["c"] for r in claimed} == {"FR-77": True, "FR-78": False}


def test_unknown_number_and_wrong_code_get_the_same_answer(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    import_codes(organiser_client, "p", "FR-100")
    sign_in(client, "prober@example.org")
    claim(client, "p", "XX-1", "AAAA-BBBB-CCCC")  # the session settles (its first form)
    listed = claim(client, "p", "FR-100", "AAAA-BBBB-CCCC")
    unknown = claim(client, "p", "ZZ-999", "AAAA-BBBB-CCCC")
    assert listed.status_code == unknown.status_code == 400
    assert listed.headers.keys() == unknown.headers.keys()
    token = re.compile(r'name="csrf_token" value="[^"]+"')  # masked anew on every page

    def page(response: object, number: str) -> str:
        return token.sub("", response.text).replace(number, "N")  # type: ignore[attr-defined]

    assert page(listed, "FR-100") == page(unknown, "ZZ-999")


def test_claims_are_rate_limited_per_account_and_per_primary(
    client: TestClient, organiser_client: TestClient
) -> None:
    from web.views.eligibility import CLAIM_FAILURES_PER_PRIMARY, CLAIM_LIMIT_PER_ACCOUNT

    _primary(client, "allow-list")
    codes = import_codes(organiser_client, "p", "FR-1\nFR-2")
    sign_in(client, "guesser@example.org")
    for _ in range(CLAIM_LIMIT_PER_ACCOUNT[0]):
        assert claim(client, "p", "FR-1", "AAAA-BBBB-CCCC").status_code == 400
    blocked = claim(client, "p", "FR-1", codes["FR-1"])  # even the right code now waits
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # Failures from many accounts add up per primary; then the primary's claims wait.
    limiter = limiter_for(client.app)
    limiter.reset("claim-account")
    for _ in range(CLAIM_FAILURES_PER_PRIMARY[0] - CLAIM_LIMIT_PER_ACCOUNT[0]):
        limiter.reset("claim-account")
        assert claim(client, "p", "FR-1", "AAAA-BBBB-CCCC").status_code == 400
    other = another_client(client)
    sign_in(other, "holder@example.org")
    assert claim(other, "p", "FR-2", codes["FR-2"]).status_code == 429
    limiter.reset("claim-failures")
    assert claim(other, "p", "FR-2", codes["FR-2"]).status_code == 303


def test_codes_are_shown_once_and_mailed_where_the_list_gives_an_address(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    codes = import_codes(organiser_client, "p", "FR-5;jean@example.org\nFR-6\nane@example.org")
    assert set(codes) == {"FR-5", "FR-6"}
    subject, body = last_mail(client, "jean@example.org")
    assert "invitation" in subject and codes["FR-5"] in body and "FR-5" in body
    assert "/primaries/p/eligibility" in body
    # Never again: not on the admin page, not on a second import of the same list.
    admin = organiser_client.get("/primaries/p/admin/eligibility")
    assert codes["FR-5"] not in admin.text and codes["FR-6"] not in admin.text
    again = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        {"entries": "FR-5;jean@example.org\nFR-6\nane@example.org"},
    )
    assert again.status_code == 303
    stored = run_db(client, "SELECT value, code_hash FROM eligibility_entries")
    assert all(codes["FR-5"].encode() not in bytes(r["code_hash"] or b"") for r in stored)
    # The codes given out still work (the entries kept them); a new number gets its own.
    new = import_codes(organiser_client, "p", "FR-5\nFR-6\nFR-7")
    assert set(new) == {"FR-7"}
    sign_in(client, "six@example.org")
    assert claim(client, "p", "FR-6", codes["FR-6"]).status_code == 303


def test_one_mailbox_is_one_citizen(client: TestClient) -> None:
    """Sub-addresses, and dots at gmail.com, reach one mailbox: they open one account."""
    first = sign_in(client, "a.b+c@gmail.com")
    for address in ("ab@gmail.com", "A.B@googlemail.com", "ab+other@gmail.com"):
        other = another_client(client)
        assert sign_in(other, address).id == first.id
    plain = sign_in(another_client(client), "a@example.org")
    assert sign_in(another_client(client), "a+1@example.org").id == plain.id
    # Dots matter elsewhere: another provider's a.b is another mailbox.
    assert sign_in(another_client(client), "a.b@example.org").id != plain.id
    rows = run_db(client, "SELECT count(*) AS n FROM accounts")
    assert rows[0]["n"] == 3


def test_a_listed_address_admits_the_other_addresses_of_its_mailbox(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    post_form(
        organiser_client, "/primaries/p/admin/eligibility/import", {"entries": "ab@gmail.com"}
    )
    sign_in(client, "a.b+primaire@gmail.com")
    assert "Vous pouvez participer" in client.get("/primaries/p/eligibility").text


def test_approval_request_and_decision(client: TestClient, organiser_client: TestClient) -> None:
    _primary(client, "approval")
    sign_in(client, "c@example.org", name="Camille")
    page = client.get("/primaries/p/eligibility")
    assert "faites une demande" in page.text
    assert post_form(client, "/primaries/p/eligibility", {}).status_code == 303
    assert "en attente" in client.get("/primaries/p/eligibility").text
    queue = organiser_client.get("/primaries/p/admin/eligibility")
    assert "c@example.org" in queue.text and "Camille" in queue.text
    account_id = run_db(client, "SELECT id FROM accounts WHERE email = 'c@example.org'")[0]["id"]
    decided = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/decide",
        {"account_id": str(account_id), "decision": "approve"},
    )
    assert decided.status_code == 303
    assert "Vous pouvez participer" in client.get("/primaries/p/eligibility").text
    for bad in ({"account_id": "nope", "decision": "approve"}, {"account_id": str(account_id)}):
        response = post_form(organiser_client, "/primaries/p/admin/eligibility/decide", bad)
        assert response.status_code == 400


def _approval_entries(client: TestClient) -> int:
    """`approval` entries appended (still queued, or already in the tree)."""
    return run_db(
        client,
        "SELECT (SELECT count(*) FROM log_queue WHERE kind = 'approval')"
        " + (SELECT count(*) FROM log_entries WHERE kind = 'approval') AS n",
    )[0]["n"]


def test_an_approval_and_a_removal_each_append_their_log_entry(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "approval")
    sign_in(client, "c@example.org")
    post_form(client, "/primaries/p/eligibility", {})
    account_id = run_db(client, "SELECT id FROM accounts WHERE email = 'c@example.org'")[0]["id"]
    url = "/primaries/p/admin/eligibility/decide"
    approve = {"account_id": str(account_id), "decision": "approve"}
    assert post_form(organiser_client, url, approve).status_code == 303
    assert _approval_entries(client) == 1
    assert "Vous pouvez participer" in client.get("/primaries/p/eligibility").text
    # Refused actions append nothing: a bad form, a citizen who asked nothing.
    assert post_form(organiser_client, url, {"account_id": str(account_id)}).status_code == 400
    nobody = {"account_id": "00000000-0000-0000-0000-000000000000", "decision": "refuse"}
    assert post_form(organiser_client, url, nobody).status_code == 404
    assert _approval_entries(client) == 1
    removal = {"account_id": str(account_id), "decision": "refuse"}
    assert post_form(organiser_client, url, removal).status_code == 303
    assert _approval_entries(client) == 2
    assert "Vous pouvez participer" not in client.get("/primaries/p/eligibility").text


def test_eligibility_page_in_english(client: TestClient) -> None:
    _primary(client, "approval")
    other = another_client(client)
    sign_in(other, "en@example.org")
    page = other.get("/primaries/p/eligibility", headers={"Accept-Language": "en"})
    assert "send a request" in page.text


def test_asking_for_approval_where_the_policy_is_not_approval_says_why(
    client: TestClient,
) -> None:
    _primary(client, "email")
    sign_in(client, "asker@example.org")
    refused = post_form(client, "/primaries/p/eligibility", {})
    assert refused.status_code == 400 and "Puis-je participer" in refused.text
    assert run_db(client, "SELECT count(*) AS n FROM eligibility_requests")[0]["n"] == 0


def test_an_allow_list_of_100000_lines_can_be_imported(
    client: TestClient, organiser_client: TestClient
) -> None:
    """The documented maximum fits in one upload (the general 2 MiB body limit did not)."""
    _primary(client, "allow-list")
    lines = "".join(f"electeur.{n:06d}@commune-exemple.example.org\n" for n in range(100_000))
    assert len(lines) > 4 * 1024 * 1024
    done = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        files={"file": ("liste.csv", lines.encode(), "text/csv")},
    )
    assert done.status_code == 303, done.text[:500]
    count = run_db(client, "SELECT count(*) AS n FROM eligibility_entries")[0]["n"]
    assert count == 100_000
    # Elsewhere the general limit still holds.
    big = post_form(client, "/account", {"display_name": "x" * (3 * 1024 * 1024)})
    assert big.status_code == 413


def test_an_import_is_logged_as_counts_and_a_digest(
    client: TestClient, organiser_client: TestClient
) -> None:
    """Observers see how the list changed and a commitment to it, never who is on it."""
    import hashlib
    import json

    from tests.fixtures.primaries import logged

    _primary(client, "allow-list")
    import_codes(organiser_client, "p", "A+x@example.org\nFR-1;jean@example.org\nFR-2")
    import_codes(organiser_client, "p", "a@example.org\nFR-2\nFR-3")
    primary_id = run_db(client, "SELECT id FROM primaries WHERE slug = 'p'")[0]["id"]
    assert client.portal is not None
    entries = client.portal.call(logged, client.app.state.pool, client.app.state.log, primary_id)  # type: ignore[attr-defined, call-arg]
    bodies = [body for kind, body in entries if kind == "allow-list"]
    expected = ["email:a@example.org", "voter_number:FR-2", "voter_number:FR-3"]
    digest = hashlib.sha256(json.dumps(expected, separators=(",", ":")).encode()).hexdigest()
    assert bodies[1] == {"emails": 1, "numbers": 2, "added": 1, "removed": 1, "digest": digest}
    assert bodies[0]["added"] == 3 and bodies[0]["removed"] == 0
    text = json.dumps(entries)
    assert "jean" not in text and "FR-1" not in text and "example.org" not in text


def test_the_claim_form_and_its_refusal_in_english(client: TestClient) -> None:
    _primary(client, "allow-list")
    sign_in(client, "en@example.org")
    english = {"Accept-Language": "en"}
    page = client.get("/primaries/p/eligibility", headers=english)
    assert "I received an invitation code" in page.text and "Voter number" in page.text
    refused = client.post(
        "/primaries/p/eligibility/claim",
        data={"voter_number": "FR-1", "code": "AAAA-BBBB-CCCC", "csrf_token": csrf_token(client)},
        headers=english,
    )
    assert refused.status_code == 400
    assert "Wrong voter number or invitation code" in refused.text


def test_claim_through_the_api(client: TestClient, organiser_client: TestClient) -> None:
    from tests.fixtures.accounts import api_request

    _primary(client, "allow-list")
    codes = import_codes(organiser_client, "p", "FR-1\nFR-2")
    anonymous = api_request(client, "POST", "/api/primaries/p/eligibility/claim", json={})
    assert anonymous.status_code == 401
    sign_in(client, "api@example.org")
    url = "/api/primaries/p/eligibility/claim"
    listed = api_request(client, "POST", url, json={"voter_number": "FR-1", "code": codes["FR-2"]})
    unknown = api_request(client, "POST", url, json={"voter_number": "XX-9", "code": codes["FR-2"]})
    assert listed.status_code == unknown.status_code == 400
    assert listed.json() == unknown.json()
    assert listed.json()["error"]["field"] == "claim"
    typed = api_request(client, "POST", url, json={"voter_number": 1, "code": codes["FR-1"]})
    assert typed.status_code == 422 and typed.json()["error"]["field"] == "voter_number"
    done = api_request(client, "POST", url, json={"voter_number": "FR-1", "code": codes["FR-1"]})
    assert done.status_code == 200 and done.json() == {"status": "claimed", "voter_number": "FR-1"}
    again = api_request(client, "POST", url, json={"voter_number": "FR-2", "code": codes["FR-2"]})
    assert again.status_code == 409
