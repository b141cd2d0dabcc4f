"""A round's result at a glance: every candidate's merit profile on one chart, in ranking
order, above the per-candidate detail, with a table giving the same shares."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import (
    PASSPHRASE,
    cast_over_http,
    open_round_over_http,
    seed_round_primary,
)


def test_results_open_with_all_profiles_on_one_chart(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=3)
    organiser = open_round_over_http(client, primary)
    base = f"/primaries/{primary.slug}"
    first, second, third = primary.candidates
    for i, grades in enumerate([(5, 3, 1), (4, 4, 0), (6, 2, 2)]):
        voter = another_client(client)
        sign_in(voter, f"v{i}-{primary.slug}@example.org")
        data = {f"grade-{c}": str(g) for c, g in zip(primary.candidates, grades, strict=True)}
        cast_over_http(voter, base, 1, data)
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    assert (
        post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE}).status_code
        == 303
    )

    page = client.get(f"{base}/rounds/1/results").text
    overview = re.search(r"<svg[^>]*merit-overview.*?</svg>", page, re.S)
    assert overview is not None
    assert page.index("merit-overview") < page.index('id="candidat-1"')
    names = [primary.names[c] for c in (first, second, third)]
    drawn = re.findall(r">(\d)\. ([^<]+)</text>", overview.group())
    assert drawn == [("1", names[0]), ("2", names[1]), ("3", names[2])]
    assert overview.group().count("stroke-dasharray") == 1  # one median line for all
    # The table alternative: one row per candidate in the same order, shares and grade.
    table = page[page.index('class="profile-table overview-table"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<th scope="row">(\d)\. ([^<]+)</th>(.*?)</tr>', table, re.S)
    assert [(rank, name) for rank, name, _ in rows] == drawn
    assert "<td>33,3 %</td>" in rows[0][2] and "<td>Très bien</td>" in rows[0][2]
    english = client.get(f"{base}/rounds/1/results", headers={"Accept-Language": "en"}).text
    assert "Overview" in english and "Very good" in english
