"""Candidacies: declaration checks and safe Markdown (pure), lifecycle services (database)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.primaries import logged, make_account, make_candidacy, make_primary
from tests.fixtures.waiting import wait_until_blocked
from voting import candidacies
from voting.candidacies import declaration_hash, photo_type, validate_declaration
from voting.log import LogService
from voting.markdown import render
from voting.refusals import Refused

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


# -- pure ---------------------------------------------------------------------------------


def test_markdown_is_rendered_without_raw_html_or_script_links() -> None:
    html = render(
        "# Titre\n\n**gras** <script>alert(1)</script> <b onclick=x>b</b>\n\n"
        "[mal](javascript:alert(1)) [bien](https://example.org) ![img](https://t.example/x.png)"
        '\n\n<a href="javascript:alert(2)">x</a>'
    )
    assert "<h3>Titre</h3>" in html
    assert "<strong>gras</strong>" in html
    assert "<script" not in html and "<b " not in html  # raw HTML is shown as text
    assert "&lt;script&gt;" in html and "&lt;b onclick=x&gt;" in html
    assert '<a href="javascript' not in html and "&lt;a href" in html
    assert 'href="https://example.org"' in html and "noopener" in html
    assert "<img" not in html


def test_declaration_limits_and_links() -> None:
    ok = validate_declaration({"name": " Ana ", "links": "https://a.example\n\nhttp://b.example"})
    assert ok.name == "Ana" and ok.links == ["https://a.example", "http://b.example"]
    for data, field in [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "A", "bio": "x" * 1001}, "bio"),
        ({"name": "A", "programme": "x" * 20_001}, "programme"),
        ({"name": "A", "links": ["javascript:alert(1)"]}, "links[0]"),
        ({"name": "A", "links": ["ftp://x.example"]}, "links[0]"),
        ({"name": "A", "links": ["https://"]}, "links[0]"),
        ({"name": "A", "links": [f"https://{i}.example" for i in range(11)]}, "links"),
        ({"name": "A", "links": 3}, "links"),
        ({"name": ["A"]}, "name"),
    ]:
        with pytest.raises(Refused) as info:
            validate_declaration(data)
        assert info.value.field == field, data


def test_photo_is_checked_by_magic_bytes_and_size() -> None:
    assert photo_type(PNG) == "image/png"
    assert photo_type(JPEG) == "image/jpeg"
    with pytest.raises(Refused):
        photo_type(b"GIF89a" + b"\x00" * 10)
    with pytest.raises(Refused):
        photo_type(b"<svg onload=alert(1)>")
    with pytest.raises(Refused) as info:
        photo_type(PNG + b"\x00" * (1024 * 1024))
    assert info.value.reason == "photo-too-large"


def test_declaration_hash_is_sha256_of_the_canonical_text() -> None:
    text = canonical.dumps(
        {"name": "A", "bio": "b", "programme": "p", "links": ["https://x.example"], "photo": ""}
    )
    assert declaration_hash("A", "b", "p", ["https://x.example"], "") == (
        hashlib.sha256(text).hexdigest()
    )


# -- services -----------------------------------------------------------------------------


@pytest.fixture
async def setup(primary_pool: asyncpg.Pool, log_service: LogService) -> dict:
    async with primary_pool.acquire() as conn:
        organiser = await make_account(conn, organiser=True)
        citizen = await make_account(conn)
        primary = await make_primary(conn, log_service, "cands", created_by=organiser)
    return {"primary": primary, "citizen": citizen, "organiser": organiser}


async def run(pool: asyncpg.Pool, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn, conn.transaction():
        return await fn(conn, *args, **kwargs)


@pytest.mark.anyio
async def test_full_lifecycle_appends_one_candidacy_entry_per_public_step(
    primary_pool: asyncpg.Pool, log_service: LogService, setup: dict
) -> None:
    primary, citizen = setup["primary"], setup["citizen"]
    pool, log = primary_pool, log_service
    draft = await run(
        pool, candidacies.declare, primary, citizen,
        {"name": "Léa Dupont", "bio": "Agricultrice.", "programme": "Des *fermes*."},
        charter_accepted=True, photo_bytes=PNG,
    )  # fmt: skip
    assert draft.status == "draft" and draft.version == 0 and draft.photo_type == "image/png"
    assert await logged(pool, log, primary.id) == [("definition", primary.definition)]

    submitted = await run(pool, candidacies.submit, log, draft.id, citizen)
    assert submitted.status == "submitted" and submitted.version == 1
    assert submitted.declaration == hashlib.sha256(submitted.declaration_text()).hexdigest()
    published = await run(pool, candidacies.publish, log, draft.id)
    revised = await run(
        pool, candidacies.revise, log, draft.id, citizen,
        {"name": "Léa Dupont", "bio": "Agricultrice bio.", "programme": "Des *fermes*."},
    )  # fmt: skip
    assert published.status == "published"
    assert revised.version == 2 and revised.declaration != published.declaration
    async with pool.acquire() as conn:
        history = await candidacies.versions(conn, draft.id)
    assert [v["version"] for v in history] == [2, 1]
    assert history[1]["bio"] == "Agricultrice."

    # Qualify by hand (supports are tested elsewhere), then confirm.
    async with pool.acquire() as conn:
        await conn.execute("UPDATE candidacies SET status = 'qualified' WHERE id = $1", draft.id)
    confirmed = await run(pool, candidacies.confirm, log, draft.id, citizen)
    assert confirmed.status == "confirmed"
    async with pool.acquire() as conn:
        assert [c.id for c in await candidacies.confirmed_candidates(conn, primary.id)] == [
            draft.id
        ]
    withdrawn = await run(pool, candidacies.withdraw, log, draft.id, citizen, "Raisons privées")
    assert withdrawn.status == "withdrawn"

    found = await logged(pool, log, primary.id)
    assert [(k, b.get("action")) for k, b in found] == [
        ("definition", None),
        ("candidacy", "submitted"),
        ("candidacy", "published"),
        ("candidacy", "revised"),
        ("candidacy", "confirmed"),
        ("candidacy", "withdrawn"),
    ]
    bodies = [b for k, b in found if k == "candidacy"]
    assert all(b["candidate"] == str(draft.id) and b["name"] == "Léa Dupont" for b in bodies)
    assert bodies[0]["declaration"] == submitted.declaration
    assert bodies[2]["declaration"] == revised.declaration
    assert bodies[4]["reason"] == "Raisons privées"


@pytest.mark.anyio
async def test_moderation_reject_and_exclude_carry_a_public_reason(
    primary_pool: asyncpg.Pool, log_service: LogService, setup: dict
) -> None:
    primary, pool, log = setup["primary"], primary_pool, log_service
    async with pool.acquire() as conn:
        other = await make_account(conn)
        first = await make_candidacy(conn, log, primary, setup["citizen"], status="submitted")
        second = await make_candidacy(conn, log, primary, other, name="Noé Leroy")
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.reject, log, first.id, "  ")
    assert info.value.field == "reason"
    rejected = await run(pool, candidacies.reject, log, first.id, "Charte non respectée.")
    excluded = await run(pool, candidacies.exclude, log, second.id, "Propos injurieux.")
    assert (rejected.status, rejected.status_reason) == ("rejected", "Charte non respectée.")
    assert excluded.status == "excluded"
    with pytest.raises(Refused) as info:  # a rejected candidacy cannot be published
        await run(pool, candidacies.publish, log, first.id)
    assert info.value.reason == "candidacy-state"
    found = [(b["action"], b["reason"]) for k, b in await logged(pool, log, primary.id)
             if k == "candidacy"]  # fmt: skip
    assert ("rejected", "Charte non respectée.") in found
    assert ("excluded", "Propos injurieux.") in found


@pytest.mark.anyio
async def test_refusals_write_nothing(
    primary_pool: asyncpg.Pool, log_service: LogService, setup: dict
) -> None:
    primary, citizen, pool, log = setup["primary"], setup["citizen"], primary_pool, log_service
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.declare, primary, citizen, {"name": "A"},
                  charter_accepted=False)  # fmt: skip
    assert info.value.field == "charter"
    draft = await run(pool, candidacies.declare, primary, citizen, {"name": "A"},
                      charter_accepted=True)  # fmt: skip
    with pytest.raises(Refused) as info:  # one live candidacy per citizen
        await run(pool, candidacies.declare, primary, citizen, {"name": "B"},
                  charter_accepted=True)  # fmt: skip
    assert info.value.reason == "already-declared"
    intruder = uuid.uuid4()
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.submit, log, draft.id, intruder)
    assert info.value.reason == "not-the-candidate"
    later = datetime.now(UTC) + timedelta(days=15)  # the candidacies phase has ended
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.submit, log, draft.id, citizen, now=later)
    assert info.value.reason == "candidacies-not-open"
    with pytest.raises(Refused):
        await run(pool, candidacies.confirm, log, draft.id, citizen)  # not qualified
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.publish, log, uuid.uuid4())
    assert info.value.reason == "candidacy-not-found"
    # Frozen once qualified.
    await run(pool, candidacies.submit, log, draft.id, citizen)
    await run(pool, candidacies.publish, log, draft.id)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE candidacies SET status = 'qualified' WHERE id = $1", draft.id)
    with pytest.raises(Refused) as info:
        await run(pool, candidacies.revise, log, draft.id, citizen, {"name": "Autre nom"})
    assert info.value.reason == "candidacy-qualified"
    async with pool.acquire() as conn:
        current = await candidacies.get_candidacy(conn, draft.id)
    assert current is not None and current.name == "A" and current.version == 1
    actions = [b["action"] for k, b in await logged(pool, log, primary.id) if k == "candidacy"]
    assert actions == ["submitted", "published"]


@pytest.mark.anyio
async def test_withdrawing_a_draft_leaves_no_trace_in_the_log(
    primary_pool: asyncpg.Pool, log_service: LogService, setup: dict
) -> None:
    primary, citizen, pool, log = setup["primary"], setup["citizen"], primary_pool, log_service
    draft = await run(pool, candidacies.declare, primary, citizen, {"name": "A"},
                      charter_accepted=True)  # fmt: skip
    await run(pool, candidacies.revise, log, draft.id, citizen, {"name": "A2"})
    withdrawn = await run(pool, candidacies.withdraw, log, draft.id, citizen)
    assert withdrawn.status == "withdrawn" and withdrawn.name == "A2"
    assert len(await logged(pool, log, primary.id)) == 1
    again = await run(pool, candidacies.declare, primary, citizen, {"name": "B"},
                      charter_accepted=True)  # fmt: skip
    assert again.id != draft.id


@pytest.mark.anyio
async def test_a_declaration_sent_twice_at_once_makes_one_candidacy(
    primary_pool: asyncpg.Pool, setup: dict
) -> None:
    primary, citizen = setup["primary"], setup["citizen"]

    async def declare() -> object:
        async with primary_pool.acquire() as conn, conn.transaction():
            await candidacies.declare(
                conn, primary, citizen, {"name": "Deux fois"}, charter_accepted=True
            )
            await wait_until_blocked(primary_pool, 1)  # the other one waits for this one
        return "declared"

    outcomes = await asyncio.gather(declare(), declare(), return_exceptions=True)
    assert outcomes.count("declared") == 1
    [refused] = [o for o in outcomes if isinstance(o, Refused)]
    assert refused.reason == "already-declared"
    count = await primary_pool.fetchval(
        "SELECT count(*) FROM candidacies WHERE account_id = $1", citizen
    )
    assert count == 1
