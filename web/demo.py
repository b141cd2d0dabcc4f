"""`scrutin demo`: a primary with content, so that a newcomer sees a living site.

Idempotent: the demo primary is created once per data dir; later starts only print the
organiser's sign-in again (with a fresh password, since only its hash is stored).
"""

from __future__ import annotations

import json
import secrets

import nacl.pwhash

from web.database import connect
from web.settings import Settings

DEMO_SLUG = "demo"
ORGANISER_EMAIL = "organisatrice@demo.scrutin.localhost"


def demo_definition() -> dict[str, object]:
    return {
        "revision": 1,
        "title": "Primaire citoyenne de démonstration",
        "slug": DEMO_SLUG,
        "description": "Une primaire fictive pour découvrir Scrutin.",
        "threshold": 3,
        "support_cap": 5,
        "qualification": "threshold",
        "grades": [
            "À rejeter",
            "Insuffisant",
            "Passable",
            "Assez bien",
            "Bien",
            "Très bien",
            "Excellent",
        ],
        "rule": "majority-value",
        "missing": "normalize",
        "default_grade": 0,
        "upper_median": False,
        "subset_size": 0,
        "allow_blank": True,
        "eligibility": "email",
        "phases": [],
    }


async def seed_demo(database_url: str, settings: Settings) -> list[str]:
    """Create the demo content if missing; return the lines to print on the console."""
    password = secrets.token_urlsafe(9)
    password_hash = nacl.pwhash.argon2id.str(password.encode()).decode("ascii")
    conn = await connect(database_url)
    try:
        async with conn.transaction():
            organiser = await conn.fetchval(
                """
                INSERT INTO accounts (email, display_name, is_organiser, password_hash,
                                      email_verified_at)
                VALUES ($1, 'Organisatrice de la démo', true, $2, now())
                ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash
                RETURNING id
                """,
                ORGANISER_EMAIL,
                password_hash,
            )
            definition = demo_definition()
            await conn.execute(
                """
                INSERT INTO primaries (slug, title, description, definition, created_by)
                VALUES ($1, $2, $3, $4::jsonb, $5)
                ON CONFLICT (slug) DO NOTHING
                """,
                DEMO_SLUG,
                definition["title"],
                definition["description"],
                json.dumps(definition),
                organiser,
            )
    finally:
        await conn.close()
    return [
        "Demo primary ready: " + f"{settings.base_url}/primaries/{DEMO_SLUG}",
        f"Organiser sign-in: {settings.base_url}/signin",
        f"  e-mail:   {ORGANISER_EMAIL}",
        f"  password: {password}",
        f"Other sign-ins by e-mail: the mails land in {settings.base_url}/demo/outbox",
    ]
