"""The no-JavaScript path of an encrypted round (docs/audit-log.md §10), under an assisted
key: the review page says that the service encrypts the ballot, so sees the grades when they
are sent; the receipt must not warn, as it does for a sealed round, that anyone knowing the
tracker can read the ballot once the result is out (no individual ballot is ever decrypted)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, api_request, post_form, sign_in
from tests.fixtures.rounds import cast_over_http, seed_round_primary
from voting.rounds import open_round
from voting.unit_of_work import UnitOfWork
from web.trustee import local_ceremony

ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}
GRADES4 = ["Insuffisant", "Passable", "Bien", "Très bien"]


def test_the_no_javascript_path_of_an_encrypted_round_says_who_sees_what(
    client: TestClient, public_tmp_path: Path
) -> None:
    primary = seed_round_primary(
        client, candidates=3, credentials="voter", grades=GRADES4, extra=ENCRYPTED
    )
    slug = primary.slug
    voter = another_client(client)
    sign_in(voter, "aide-sans-js@example.org")
    made = api_request(voter, "POST", f"/api/primaries/{slug}/credential", {})
    assert made.json()["assisted"] is True  # no JavaScript: the service holds the key
    app = client.app
    pool, log = app.state.pool, app.state.log  # type: ignore[attr-defined]
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]

    async def ceremony_and_opening() -> None:
        await local_ceremony(pool, log, primary.id, folders, ["A", "B", "C"])
        async with UnitOfWork(pool, log) as uow:
            await open_round(uow.conn, uow.log, primary_id=primary.id, opened_by=None)

    client.portal.call(ceremony_and_opening)  # type: ignore[union-attr]
    a, b, c = primary.candidates
    data = {f"grade-{a}": "3", f"grade-{b}": "0", f"grade-{c}": "1", "choice": "grades"}
    # The review page says who sees the grades on this path: the service, which encrypts.
    review = post_form(voter, f"/primaries/{slug}/rounds/1/vote", data)
    assert review.status_code == 200, review.text
    assert "le service chiffre votre bulletin pour vous : il voit vos mentions" in review.text
    page, receipt = cast_over_http(voter, f"/primaries/{slug}", 1, data)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    assert "Votre bulletin est chiffré et inscrit au journal public" in text
    assert "quiconque connaît votre traceur peut lire votre bulletin" not in text
    assert "aucun bulletin n’est jamais déchiffré" in text
    assert receipt["tracker"] in page.text

    english = voter.get(f"/primaries/{slug}/rounds/1/receipt", headers={"accept-language": "en"})
    assert "no ballot is ever decrypted" in english.text
