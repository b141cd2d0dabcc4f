"""Supports and qualification services (real PostgreSQL), concurrency included."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.fixtures.log import TEST_SECRET
from tests.fixtures.primaries import (
    logged,
    make_account,
    make_candidacy,
    make_primary,
    open_phases,
)
from voting import candidacies, supports
from voting.log import LogService
from voting.primaries import mark_voting_started
from voting.refusals import Refused
from voting.supports import supporter_pseudonym

pytestmark = pytest.mark.anyio


async def give(
    pool: asyncpg.Pool,
    log: LogService,
    candidacy_id: uuid.UUID,
    account: uuid.UUID,
    **kwargs: object,
) -> supports.SupportResult:
    async with pool.acquire() as conn, conn.transaction():
        return await supports.support(
            conn, log, secret_key=TEST_SECRET, candidacy_id=candidacy_id, account_id=account,
            **kwargs,
        )  # fmt: skip


async def take_back(
    pool: asyncpg.Pool,
    log: LogService,
    candidacy_id: uuid.UUID,
    account: uuid.UUID,
    **kwargs: object,
) -> supports.SupportResult:
    async with pool.acquire() as conn, conn.transaction():
        return await supports.withdraw_support(
            conn, log, candidacy_id=candidacy_id, account_id=account, **kwargs
        )


async def accounts(pool: asyncpg.Pool, n: int) -> list[uuid.UUID]:
    async with pool.acquire() as conn:
        return [await make_account(conn) for _ in range(n)]


async def refusal(coro) -> Refused:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as info:
        await coro
    return info.value


async def test_supports_reach_the_threshold_and_qualify_in_the_same_transaction(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    pool, log = primary_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_primary(conn, log, "sup", threshold=3, support_cap=0)
        candidate = await make_candidacy(conn, log, primary, await make_account(conn))
    a, b, c, d = await accounts(pool, 4)
    assert (await give(pool, log, candidate.id, a)).count == 1
    assert (await give(pool, log, candidate.id, b)).count == 2
    withdrawn = await take_back(pool, log, candidate.id, b)
    assert withdrawn.count == 1
    await give(pool, log, candidate.id, b)
    third = await give(pool, log, candidate.id, c)
    assert third.count == 3 and third.qualified and third.candidacy.status == "qualified"
    # Once qualified: no more supports, no withdrawal, no edit.
    assert (await refusal(give(pool, log, candidate.id, d))).reason == "not-collecting-supports"
    assert (await refusal(take_back(pool, log, candidate.id, a))).reason == "support-final"

    found = await logged(pool, log, primary.id)
    kinds = [k for k, _ in found]
    assert kinds[-6:] == [
        "support", "support", "support-withdrawal", "support", "support", "qualification",
    ]  # fmt: skip
    pseudonym_a = supporter_pseudonym(TEST_SECRET, primary.id, a)
    assert found[-6][1] == {"candidate": str(candidate.id), "supporter": pseudonym_a}
    assert found[-4][1]["supporter"] == found[-5][1]["supporter"]  # b's withdrawal
    assert found[-1][1] == {"candidate": str(candidate.id), "supports": 3, "threshold": 3}
    assert str(a) not in repr(found)  # only pseudonyms


async def test_refusals_change_nothing(primary_pool: asyncpg.Pool, log_service: LogService) -> None:
    pool, log = primary_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_primary(conn, log, "ref", threshold=50, support_cap=2)
        owners = [await make_account(conn) for _ in range(4)]
        one, two, three = [await make_candidacy(conn, log, primary, o, name=f"C{i}")
                           for i, o in enumerate(owners[:3])]  # fmt: skip
        draft = await make_candidacy(conn, log, primary, owners[3], status="draft")
        unverified = await make_account(conn, verified=False)
    (citizen,) = await accounts(pool, 1)
    before = await logged(pool, log, primary.id)

    later = datetime.now(UTC) + timedelta(days=30)
    assert "soutiens" in str(await refusal(give(pool, log, one.id, citizen, now=later)))
    assert (await refusal(give(pool, log, one.id, unverified))).reason == "ineligible-unverified"
    assert (await refusal(give(pool, log, draft.id, citizen))).reason == "not-collecting-supports"
    assert (await refusal(give(pool, log, uuid.uuid4(), citizen))).reason == "candidacy-not-found"
    await give(pool, log, one.id, citizen)
    duplicate = await refusal(give(pool, log, one.id, citizen))
    assert duplicate.reason == "already-supported" and "déjà" in duplicate.message
    await give(pool, log, two.id, citizen)
    over = await refusal(give(pool, log, three.id, citizen))
    assert over.reason == "support-cap" and over.params == {"cap": 2}
    assert (await refusal(take_back(pool, log, three.id, citizen))).reason == "not-supported"

    after = await logged(pool, log, primary.id)
    assert after[len(before):] == [
        ("support", {"candidate": str(one.id),
                     "supporter": supporter_pseudonym(TEST_SECRET, primary.id, citizen)}),
        ("support", {"candidate": str(two.id),
                     "supporter": supporter_pseudonym(TEST_SECRET, primary.id, citizen)}),
    ]  # fmt: skip
    async with pool.acquire() as conn:
        counts = await conn.fetch(
            "SELECT name, support_count FROM candidacies WHERE primary_id = $1 ORDER BY name",
            primary.id,
        )
        assert [tuple(r) for r in counts] == [
            ("C0", 1),
            ("C1", 1),
            ("C2", 0),
            ("Camille Martin", 0),
        ]
        await mark_voting_started(conn, primary.id)
    assert (await refusal(give(pool, log, three.id, owners[0]))).reason == "supports-closed"


async def test_not_eligible_on_an_allow_list_primary(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    pool, log = primary_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_primary(conn, log, "liste", eligibility="allow-list")
        candidate = await make_candidacy(conn, log, primary, await make_account(conn))
        outsider = await make_account(conn, "dehors@example.org")
        insider = await make_account(conn, "dedans@example.org")
        await conn.execute(
            "INSERT INTO eligibility_entries (primary_id, kind, value) VALUES ($1, 'email', $2)",
            primary.id,
            "dedans@example.org",
        )
    refused = await refusal(give(pool, log, candidate.id, outsider))
    assert refused.reason == "ineligible-not-on-list" and refused.field == "eligibility"
    assert (await give(pool, log, candidate.id, insider)).count == 1


async def test_pseudonyms_are_stable_per_primary_and_unlinkable_across() -> None:
    account, p1, p2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = supporter_pseudonym(TEST_SECRET, p1, account)
    assert first == supporter_pseudonym(TEST_SECRET, p1, account)
    assert first != supporter_pseudonym(TEST_SECRET, p2, account)
    assert first != supporter_pseudonym("another-secret-0123456789abcdefghijkl", p1, account)
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(("threshold", "expected"), [(100, 100), (60, 60)])
async def test_one_hundred_simultaneous_supports_count_exactly(
    primary_pool: asyncpg.Pool, log_service: LogService, threshold: int, expected: int
) -> None:
    pool, log = primary_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_primary(conn, log, "rush", threshold=threshold, support_cap=1)
        candidate = await make_candidacy(conn, log, primary, await make_account(conn))
    citizens = await accounts(pool, 100)
    await give(pool, log, candidate.id, citizens[0])  # warm the log key cache
    results = await asyncio.gather(
        *(give(pool, log, candidate.id, c) for c in citizens[1:]), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(
        isinstance(f, Refused) and f.reason == "not-collecting-supports" for f in failures
    ), failures
    assert len(results) - len(failures) == expected - 1
    async with pool.acquire() as conn:
        current = await candidacies.get_candidacy(conn, candidate.id)
        rows = await conn.fetchval(
            "SELECT count(*) FROM supports WHERE candidacy_id = $1", candidate.id
        )
    assert current is not None and current.support_count == rows == expected
    assert current.status == "qualified"
    found = await logged(pool, log, primary.id)
    assert sum(1 for k, _ in found if k == "support") == expected
    qualifications = [b for k, b in found if k == "qualification"]
    assert qualifications == [
        {"candidate": str(candidate.id), "supports": expected, "threshold": threshold}
    ]
    assert found[-1][0] == "qualification"


async def test_phase_end_qualification_by_closing_the_supports_phase(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    pool, log = primary_pool, log_service
    now = datetime.now(UTC)
    during = now - timedelta(days=5)  # inside the (past) supports phase
    async with pool.acquire() as conn:
        primary = await make_primary(
            conn, log, "fin", threshold=2, support_cap=0, qualification="phase-end",
            phases=open_phases(now, supports_ended=True),
        )  # fmt: skip
        await conn.execute(  # declared and published back when candidacies were open
            "UPDATE primaries SET definition = jsonb_set(definition, '{phases,0,end}', $2)"
            " WHERE id = $1",
            primary.id,
            (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),  # the pool's codec encodes
        )
        strong = await make_candidacy(conn, log, primary, await make_account(conn), name="Fort")
        weak = await make_candidacy(conn, log, primary, await make_account(conn), name="Faible")
    x, y, z = await accounts(pool, 3)
    await give(pool, log, strong.id, x, now=during)
    result = await give(pool, log, strong.id, y, now=during)
    assert result.count == 2 and not result.qualified  # phase-end mode: not yet
    await give(pool, log, weak.id, z, now=during)

    async with pool.acquire() as conn:
        with pytest.raises(Refused):  # the phase has not ended at `during`
            async with conn.transaction():
                await supports.close_supports_phase(conn, log, primary.id, now=during)
        async with conn.transaction():
            qualified = await supports.close_supports_phase(conn, log, primary.id)
        assert qualified == [strong.id]
        with pytest.raises(Refused):
            async with conn.transaction():
                await supports.close_supports_phase(conn, log, primary.id)
        assert (await candidacies.get_candidacy(conn, weak.id)).status == "published"  # type: ignore[union-attr]
    assert (await refusal(give(pool, log, weak.id, x, now=during))).reason == "supports-closed"
    found = await logged(pool, log, primary.id)
    assert [b for k, b in found if k == "qualification"] == [
        {"candidate": str(strong.id), "supports": 2, "threshold": 2}
    ]
