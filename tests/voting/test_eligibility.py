"""The eligibility ladder: e-mail, allow-list (e-mails, or voter numbers claimed with their
invitation code), approval."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.log import TEST_SECRET
from tests.fixtures.rounds import make_round_primary, make_voters
from tests.fixtures.waiting import wait_until_blocked
from voting import eligibility
from voting.credentials import register
from voting.eligibility import AllowListError, Entry, parse_allow_list
from voting.log import LogService

SECRET = "test-secret"


async def _primary(db: asyncpg.Connection, **definition: object) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO primaries (slug, title, definition) VALUES ($1, 'P', $2::jsonb) RETURNING id",
        f"p-{uuid.uuid4().hex[:8]}",
        json.dumps(definition),
    )


async def _account(db: asyncpg.Connection, email: str, *, verified: bool = True) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO accounts (email, email_verified_at)"
        " VALUES ($1, CASE WHEN $2 THEN now() END) RETURNING id",
        email,
        verified,
    )


@pytest.mark.anyio
async def test_email_policy_needs_a_verified_address(db: asyncpg.Connection) -> None:
    primary = await _primary(db, eligibility="email")
    assert await eligibility.is_eligible(db, primary, await _account(db, "a@example.org"))
    unverified = await _account(db, "b@example.org", verified=False)
    status = await eligibility.eligibility(db, primary, unverified)
    assert not status and status.reason == "unverified"


@pytest.mark.anyio
async def test_missing_policy_means_email(db: asyncpg.Connection) -> None:
    primary = await _primary(db)
    assert await eligibility.is_eligible(db, primary, await _account(db, "a@example.org"))


@pytest.mark.anyio
async def test_disposable_domains_can_be_refused(db: asyncpg.Connection) -> None:
    open_primary = await _primary(db, eligibility="email")
    strict = await _primary(db, eligibility="email", refuse_disposable=True)
    off = await _primary(db, eligibility="email", refuse_disposable=False)
    not_a_boolean = await _primary(db, eligibility="email", refuse_disposable="true")
    throwaway = await _account(db, "x@yopmail.com")
    sub = await _account(db, "x@mx.mailinator.com")
    ordinary = await _account(db, "x@example.org")
    assert await eligibility.is_eligible(db, open_primary, throwaway)
    assert await eligibility.is_eligible(db, off, throwaway)
    assert await eligibility.is_eligible(db, not_a_boolean, throwaway)
    assert (await eligibility.eligibility(db, strict, throwaway)).reason == "disposable"
    assert not await eligibility.is_eligible(db, strict, sub)
    assert await eligibility.is_eligible(db, strict, ordinary)


@pytest.mark.anyio
async def test_allow_list_by_email_or_claimed_voter_number(db: asyncpg.Connection) -> None:
    primary = await _primary(db, eligibility="allow-list")
    listed = await _account(db, "listed@example.org")
    by_number = await _account(db, "other@example.org")
    absent = await _account(db, "absent@example.org")
    result = await eligibility.import_allow_list(
        db,
        primary,
        "email\nListed@Example.org\nFR-0042\n\nlisted+x@example.org\n",
        secret_key=SECRET,
    )
    assert result.count == 2
    [invitation] = result.invitations
    assert await eligibility.is_eligible(db, primary, listed)
    assert not await eligibility.is_eligible(db, primary, by_number)
    await eligibility.claim_invitation(
        db, primary, by_number, "FR-0042", invitation.code, secret_key=SECRET
    )
    assert await eligibility.is_eligible(db, primary, by_number)
    status = await eligibility.eligibility(db, primary, absent)
    assert not status and status.reason == "not-on-list"
    assert await eligibility.allow_list_counts(db, primary) == {
        "email": 1,
        "voter_number": 1,
        "claimed": 1,
        "without_code": 0,
    }


@pytest.mark.anyio
async def test_an_import_with_errors_changes_nothing(db: asyncpg.Connection) -> None:
    primary = await _primary(db, eligibility="allow-list")
    await eligibility.import_allow_list(db, primary, "a@example.org\n", secret_key=SECRET)
    with pytest.raises(AllowListError) as caught:
        await eligibility.import_allow_list(
            db,
            primary,
            "b@example.org\nnot an email@\nc@example.org\nx;y\n<script>\n",
            secret_key=SECRET,
        )
    assert [(e.line, e.value) for e in caught.value.errors] == [
        (2, "not an email@"),
        (4, "x;y"),
        (5, "<script>"),
    ]
    rows = await db.fetch("SELECT value FROM eligibility_entries WHERE primary_id = $1", primary)
    assert [r["value"] for r in rows] == ["a@example.org"]


def test_parse_allow_list_edge_cases() -> None:
    assert parse_allow_list(b"\xef\xbb\xbfa@example.org\r\n") == [Entry("email", "a@example.org")]
    assert parse_allow_list('"a@example.org"\n') == [Entry("email", "a@example.org")]
    assert parse_allow_list("numero;courriel\nFR-1;Jean@Example.org\nb@example.org;FR-2\n") == [
        Entry("voter_number", "FR-1", "jean@example.org"),
        Entry("voter_number", "FR-2", "b@example.org"),
    ]
    with pytest.raises(AllowListError) as two_addresses:
        parse_allow_list("a@example.org;b@example.org\n")
    assert "numéro d’électeur suivi" in two_addresses.value.errors[0].message
    with pytest.raises(AllowListError) as empty:
        parse_allow_list("\n\n")
    assert empty.value.errors[0].message == "La liste est vide."
    with pytest.raises(AllowListError) as latin1:
        parse_allow_list("zoé@example.org".encode("latin-1"))
    assert "UTF-8" in latin1.value.errors[0].message


@pytest.mark.anyio
async def test_approval_ladder(db: asyncpg.Connection) -> None:
    primary = await _primary(db, eligibility="approval")
    organiser = await _account(db, "orga@example.org")
    citizen = await _account(db, "c@example.org")
    assert (await eligibility.eligibility(db, primary, citizen)).reason == "not-requested"
    assert await eligibility.request_approval(db, primary, citizen) == "pending"
    assert (await eligibility.eligibility(db, primary, citizen)).reason == "pending"
    queue = await eligibility.requests(db, primary)
    assert [(r["email"], r["status"]) for r in queue] == [("c@example.org", "pending")]
    assert await eligibility.decide(db, primary, citizen, organiser_id=organiser, approve=True)
    assert await eligibility.is_eligible(db, primary, citizen)
    await eligibility.decide(db, primary, citizen, organiser_id=organiser, approve=False)
    assert (await eligibility.eligibility(db, primary, citizen)).reason == "refused"
    assert await eligibility.request_approval(db, primary, citizen) == "refused"  # no reset
    stranger = await _account(db, "s@example.org")
    assert not await eligibility.decide(db, primary, stranger, organiser_id=organiser, approve=True)


@pytest.mark.anyio
async def test_unknown_primary_account_or_policy(db: asyncpg.Connection) -> None:
    account = await _account(db, "a@example.org")
    assert (await eligibility.eligibility(db, uuid.uuid4(), account)).reason == "unknown-primary"
    primary = await _primary(db, eligibility="lottery")
    assert (await eligibility.eligibility(db, primary, account)).reason == "unknown-policy"
    assert (await eligibility.eligibility(db, primary, uuid.uuid4())).reason == "unknown-account"


@pytest.mark.anyio
async def test_imports_sent_at_once_replace_the_list_one_after_the_other(
    db: asyncpg.Connection, database_url: str
) -> None:
    """An organiser's double submit: the second import waits for the first, then replaces
    its list, instead of colliding with its rows (a server error)."""
    primary = await _primary(db, eligibility="allow-list")
    lists = ["a@example.org\nFR-1\n", "a@example.org\nFR-1\n", "b@example.org\n"]
    waiting = [len(lists)]

    async def load(text: str) -> int:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                result = await eligibility.import_allow_list(conn, primary, text, secret_key=SECRET)
                waiting[0] -= 1
                await wait_until_blocked(db, waiting[0])  # the others wait for their turn
            return result.count
        finally:
            await conn.close()

    assert await asyncio.gather(*(load(text) for text in lists)) == [2, 2, 1]
    rows = await db.fetch("SELECT value FROM eligibility_entries WHERE primary_id = $1", primary)
    assert sorted(r["value"] for r in rows) in (["FR-1", "a@example.org"], ["b@example.org"])


@pytest.mark.anyio
async def test_approvals_and_removals_are_logged_with_the_citizen_commitment(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    """docs/audit-log.md §8 "Approvals": each decision that changes a request appends an
    `approval` entry whose `citizen` is the one of that citizen's `credential` entry; a
    decision that changes nothing, or about no request, appends nothing."""
    pool, log = log_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_round_primary(conn, log, candidates=2, credentials="voter")
        alice, bruno = await make_voters(conn, 2)
    pid = primary.id

    async def bodies() -> list[tuple[str, dict]]:
        await log.integrate(pool, pid)
        head = await log.head(pool, pid)
        return [
            (e.kind, canonical.loads(e.entry)["body"])
            for e in await log.entries(pool, pid, 0, head.size)
        ]

    async def decide(account: uuid.UUID, approve: bool) -> bool:
        async with pool.acquire() as conn, conn.transaction():
            return await eligibility.decide(
                conn, pid, account, organiser_id=alice, approve=approve,
                secret_key=TEST_SECRET, log=log,
            )  # fmt: skip

    async with pool.acquire() as conn:
        await eligibility.request_approval(conn, pid, alice)
    before = len(await bodies())
    assert await decide(alice, True)
    assert await decide(alice, True)  # already approved: nothing changes
    assert not await decide(bruno, True)  # no request: refused, nothing logged
    assert await decide(alice, False)  # the approved citizen is removed
    async with pool.acquire() as conn, conn.transaction():
        await register(
            conn, log, secret_key=TEST_SECRET, primary_id=pid, account_id=alice, public_key=None
        )
    after = (await bodies())[before:]
    assert [kind for kind, _ in after] == ["approval", "approval", "credential"]
    citizen = after[2][1]["citizen"]
    assert after[0][1] == {"citizen": citizen, "decision": "approved", "approved": 1}
    assert after[1][1] == {"citizen": citizen, "decision": "removed", "approved": 0}
    async with pool.acquire() as conn:
        assert [r["status"] for r in await eligibility.requests(conn, pid)] == ["refused"]
