"""Issue 16 item 1, as far as the demo's calendar goes: what a newcomer reads on the demo's
pages agrees with what the demo did. Round 2 is open now and the page says so; round 1 and
the supports are over, so nobody is offered to support or to declare, and the service
refuses both."""

from __future__ import annotations

import asyncio
import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from web.app import create_app
from web.demo import DEMO_SLUG, seed_demo
from web.settings import Settings

CANDIDATE_LINK = re.compile(rf'href="/primaries/{DEMO_SLUG}/candidates/([0-9a-f-]{{36}})"')


def test_the_demo_pages_agree_with_what_the_demo_did(settings: Settings, database_url: str) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))
    base = f"/primaries/{DEMO_SLUG}"
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        home = client.get(base).text
        current = re.search(r'<p class="current-phase">(.*?)</p>', home, re.S)
        assert current is not None
        text = " ".join(re.sub(r"<[^>]+>", " ", current.group(1)).split())
        # The calendar says round 2 is under way, as it is (not "Candidatures, Soutiens").
        assert text.startswith("Phase en cours : Second tour — prochaine étape : Résultats"), text
        assert "Candidatures" not in text and "Soutiens" not in text
        assert f'href="{base}/declare"' not in home
        assert "Tour 2" in home and f"{base}/rounds/2" in home

        citizen = another_client(client)
        sign_in(citizen, "curieuse@example.org")
        listing = citizen.get(f"{base}/candidates").text
        ids = list(dict.fromkeys(CANDIDATE_LINK.findall(listing)))
        assert ids
        for cid in ids:
            page = citizen.get(f"{base}/candidates/{cid}").text
            assert "Soutenir" not in page  # the supports phase ended weeks ago
        # The programmes' versions are dated when they were submitted, in the candidacies
        # phase, as their log entries are (the page shows "Version 1 — <date>").
        assert asyncio.run(_versions_outside_candidacies(database_url)) == 0
        declared = post_form(
            citizen, f"{base}/declare",
            {"name": "Nouvelle Venue", "bio": "", "programme": "", "links": "", "charter": "on"},
        )  # fmt: skip
        assert declared.status_code == 409
        assert "La phase des candidatures n’est pas ouverte" in declared.text


async def _versions_outside_candidacies(database_url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            """
            SELECT count(*) FROM candidacy_versions v
              JOIN candidacies c ON c.id = v.candidacy_id
              JOIN primaries p ON p.id = c.primary_id,
                   jsonb_array_elements(p.definition -> 'phases') AS phase
             WHERE p.slug = $1 AND phase ->> 'name' = 'candidacies'
               AND NOT (v.created_at >= (phase ->> 'start')::timestamptz
                        AND v.created_at < (phase ->> 'end')::timestamptz)
            """,
            DEMO_SLUG,
        )
    finally:
        await conn.close()
