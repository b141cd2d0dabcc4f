"""One voter confirming the same ballot many times at once over HTTP (double clicks, several
tabs, a script): exactly one ballot reaches the log, every other request is told why."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, csrf_token, run_db, sign_in
from tests.fixtures.rounds import open_round_over_http, seed_round_primary


def test_concurrent_casts_by_one_voter_over_http_make_one_ballot(client: TestClient) -> None:
    primary = seed_round_primary(client)
    open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "impatient@example.org")
    data = {f"grade-{c}": "4" for c in primary.candidates}
    data["csrf_token"] = csrf_token(voter)
    url = f"/primaries/{primary.slug}/rounds/1/cast"
    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(
            pool.map(lambda _: voter.post(url, data=data, follow_redirects=False), range(50))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [409] * 49, statuses
    assert all(
        "Vous avez déjà voté à ce tour." in r.text for r in responses if r.status_code == 409
    )
    ballots = run_db(
        client,
        "SELECT (SELECT count(*) FROM log_entries WHERE primary_id = $1 AND kind = 'ballot')"
        " + (SELECT count(*) FROM log_queue WHERE primary_id = $1 AND kind = 'ballot') AS n",
        primary.id,
    )[0]["n"]
    assert ballots == 1
    assert run_db(client, "SELECT count(*) AS n FROM voters_voted")[0]["n"] == 1
