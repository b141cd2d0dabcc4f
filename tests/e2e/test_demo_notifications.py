"""Issue 16's "must show": walking the demo, a candidate has been told by mail that their
candidacy was accepted, that it qualified (and by when to confirm), and that round 1 opened;
each of those mails offers a one-click unsubscribe."""

from __future__ import annotations

import asyncio

import asyncpg

from web.demo import DEMO_SLUG, seed_demo
from web.settings import Settings


async def _mail_of_round_one_candidates(database_url: str) -> dict[str, list[tuple[str, bool]]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            SELECT a.email, m.subject, m.headers IS NOT NULL AS unsubscribe
              FROM candidacies c
              JOIN primaries p ON p.id = c.primary_id AND p.slug = $1
              JOIN accounts a ON a.id = c.account_id
              JOIN mail_queue m ON m.recipient = a.email
             WHERE c.status = 'confirmed'
             ORDER BY m.id
            """,
            DEMO_SLUG,
        )
    finally:
        await conn.close()
    found: dict[str, list[tuple[str, bool]]] = {}
    for row in rows:
        found.setdefault(row["email"], []).append((row["subject"], row["unsubscribe"]))
    return found


def test_demo_candidates_were_told_of_acceptance_qualification_and_round_opening(
    settings: Settings, database_url: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))
    mails = asyncio.run(_mail_of_round_one_candidates(database_url))
    assert mails, "no mail to the demo's candidates"
    for email, received in mails.items():
        subjects = [subject for subject, _ in received]
        for expected in ("est acceptée", "est qualifiée", "Le tour 1 est ouvert"):
            assert any(expected in s for s in subjects), (email, expected, subjects)
        notices = [s for s, unsubscribe in received if unsubscribe]
        assert len(notices) >= 3, (email, received)
