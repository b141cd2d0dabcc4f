"""Invitation codes for allow-listed voter numbers, and one account per mailbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.fixtures.waiting import wait_until_blocked
from voting import accounts, eligibility
from voting.eligibility import clean_invitation_code, new_invitation_code
from voting.refusals import Refused

SECRET = "test-secret"
SPEC = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"


async def _primary(db: asyncpg.Connection, policy: str = "allow-list") -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO primaries (slug, title, definition) VALUES ($1, 'P', $2::jsonb) RETURNING id",
        f"p-{uuid.uuid4().hex[:8]}",
        json.dumps({"eligibility": policy}),
    )


async def _account(db: asyncpg.Connection, email: str) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO accounts (email, email_verified_at) VALUES ($1, now()) RETURNING id", email
    )


def test_codes_are_typable_and_unambiguous() -> None:
    codes = {new_invitation_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert not set(code) & set("01OILU")
        assert clean_invitation_code(code) == code.replace("-", "")
    assert clean_invitation_code(" k7qm 3wxa–9hte ") == "K7QM3WXA9HTE"
    for bad in ("", "K7QM-3WXA", "K7QM-3WXA-9HT0", "K7QM-3WXA-9HTE-A"):
        assert clean_invitation_code(bad) is None


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("a.b+c@gmail.com", "ab@gmail.com"),
        ("ab@googlemail.com", "ab@gmail.com"),
        ("a+1@example.org", "a@example.org"),
        ("a.b@example.org", "a.b@example.org"),
        ("a+b+c@example.org", "a@example.org"),
        ("+tag@example.org", "+tag@example.org"),
        ("a.b@gmail.com.example.org", "a.b@gmail.com.example.org"),
    ],
)
@pytest.mark.anyio
async def test_mailbox_key(db: asyncpg.Connection, address: str, key: str) -> None:
    assert await accounts.mailbox_key(db, address) == key


@pytest.mark.anyio
async def test_each_claim_failure_is_the_same_refusal(db: asyncpg.Connection) -> None:
    primary = await _primary(db)
    account = await _account(db, "c@example.org")
    result = await eligibility.import_allow_list(db, primary, "FR-1\nFR-2\n", secret_key=SECRET)
    codes = {item.number: item.code for item in result.invitations}
    for number, code in (("FR-1", codes["FR-2"]), ("FR-404", codes["FR-1"])):
        with pytest.raises(Refused) as refused:
            await eligibility.claim_invitation(
                db, primary, account, number, code, secret_key=SECRET
            )
        assert refused.value.reason == "claim-refused"
    # A code made with another service secret is another code.
    with pytest.raises(Refused):
        await eligibility.claim_invitation(
            db, primary, account, "FR-1", codes["FR-1"], secret_key="x"
        )
    assert (
        await eligibility.claim_invitation(
            db, primary, account, "FR-1", codes["FR-1"], secret_key=SECRET
        )
        == "FR-1"
    )
    for number, code, reason in (
        ("FR 1", codes["FR-2"], "claim-bad-number"),
        ("FR-2", "ABC", "claim-bad-code"),
        ("FR-2", codes["FR-2"], "claim-already"),
    ):
        with pytest.raises(Refused) as caught:
            await eligibility.claim_invitation(
                db, primary, account, number, code, secret_key=SECRET
            )
        assert caught.value.reason == reason
    open_primary = await _primary(db, "email")
    with pytest.raises(Refused) as caught:
        await eligibility.claim_invitation(
            db, open_primary, account, "FR-2", codes["FR-2"], secret_key=SECRET
        )
    assert caught.value.reason == "claim-no-allow-list"


@pytest.mark.anyio
async def test_one_code_claimed_by_two_accounts_at_once_serves_one(
    db: asyncpg.Connection, database_url: str
) -> None:
    primary = await _primary(db)
    result = await eligibility.import_allow_list(db, primary, "FR-1\n", secret_key=SECRET)
    code = result.invitations[0].code
    people = [await _account(db, f"p{i}@example.org") for i in range(3)]
    waiting = [len(people)]

    async def attempt(account: uuid.UUID) -> str:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                try:
                    await eligibility.claim_invitation(
                        conn, primary, account, "FR-1", code, secret_key=SECRET
                    )
                    outcome = "claimed"
                except Refused as exc:
                    outcome = exc.reason
                waiting[0] -= 1
                await wait_until_blocked(db, waiting[0])  # the others wait on the row
            return outcome
        finally:
            await conn.close()

    outcomes = await asyncio.gather(*(attempt(person) for person in people))
    assert sorted(outcomes) == ["claim-refused", "claim-refused", "claimed"]
    eligible = [await eligibility.is_eligible(db, primary, person) for person in people]
    assert eligible.count(True) == 1


@pytest.mark.anyio
async def test_reimport_keeps_codes_and_claims_and_codes_legacy_numbers(
    db: asyncpg.Connection,
) -> None:
    primary = await _primary(db)
    holder = await _account(db, "h@example.org")
    first = await eligibility.import_allow_list(db, primary, "FR-1\nFR-2\n", secret_key=SECRET)
    codes = {item.number: item.code for item in first.invitations}
    await eligibility.claim_invitation(
        db, primary, holder, "FR-1", codes["FR-1"], secret_key=SECRET
    )
    # An entry from before invitation codes (migration 0007): no code, nobody's.
    await db.execute(
        "INSERT INTO eligibility_entries (primary_id, kind, value)"
        " VALUES ($1, 'voter_number', 'FR-9')",
        primary,
    )
    assert (await eligibility.allow_list_counts(db, primary))["without_code"] == 1
    second = await eligibility.import_allow_list(
        db, primary, "FR-1\nFR-2\nFR-9\nFR-3;trois@example.org\n", secret_key=SECRET
    )
    assert sorted(item.number for item in second.invitations) == ["FR-3", "FR-9"]
    assert second.mailed == 1 and second.count == 4
    assert await eligibility.held_number(db, primary, holder) == "FR-1"
    other = await _account(db, "o@example.org")
    await eligibility.claim_invitation(db, primary, other, "FR-2", codes["FR-2"], secret_key=SECRET)
    # Removing a number removes its claim.
    third = await eligibility.import_allow_list(db, primary, "FR-2\n", secret_key=SECRET)
    assert third.invitations == [] and third.count == 1
    assert not await eligibility.is_eligible(db, primary, holder)
    assert await eligibility.is_eligible(db, primary, other)


@pytest.mark.anyio
async def test_sign_in_with_any_address_of_a_mailbox_opens_its_account(
    db: asyncpg.Connection,
) -> None:
    first = await accounts._complete_signin(db, "a.b+x@gmail.com", accounts.utcnow())
    again = await accounts._complete_signin(db, "ab@googlemail.com", accounts.utcnow())
    assert again.id == first.id and again.email == "a.b+x@gmail.com"
    other = await accounts._complete_signin(db, "a.b@example.org", accounts.utcnow())
    assert other.id != first.id


@pytest.mark.anyio
async def test_a_detached_duplicate_is_not_eligible(db: asyncpg.Connection) -> None:
    """What migration 0007 leaves of an older duplicate: its mailbox belongs to another."""
    primary = await _primary(db, "email")
    holder = await _account(db, "c@example.org")
    duplicate = await db.fetchval(
        "INSERT INTO accounts (email, email_verified_at, mailbox_holder)"
        " VALUES ('c+2@example.org', now(), $1) RETURNING id",
        holder,
    )
    status = await eligibility.eligibility(db, primary, duplicate)
    assert not status and status.reason == "other-account"
    assert await eligibility.is_eligible(db, primary, holder)
    signed = await accounts._complete_signin(db, "c+2@example.org", accounts.utcnow())
    assert signed.id == holder


@pytest.mark.anyio
async def test_the_digest_example_of_the_spec(db: asyncpg.Connection) -> None:
    """docs/audit-log.md §8 `allow-list`: the worked example, folding included."""
    spec = SPEC.read_text("utf-8")
    key = await accounts.mailbox_key(db, accounts.normalize_email("A.B+x@Gmail.com"))
    digest = eligibility.allow_list_digest([key], ["FR-1"])
    assert digest == "78e64e64089f83c6bde39258927f380129a58070a732bb292620736770b9eb27"
    assert f"whose digest is\n`{digest}`" in spec
