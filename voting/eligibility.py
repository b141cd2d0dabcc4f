"""Who may support and vote in a primary: the eligibility ladder of its definition.

`definition.eligibility` is one of:
- `email`: any account with a verified e-mail (every signed-in account has one);
- `allow-list`: the account's mailbox is on the list imported by the organisers, or the
  account claimed one of its voter numbers with that number's one-time invitation code
  (made at import, shown to the organisers once, mailed when the list gives an address;
  only an HMAC of it is stored). A claim's answer never tells whether a number is listed.
- `approval`: an organiser approved the citizen's request.
`definition.refuse_disposable` (a boolean, absent = false; docs/audit-log.md §8) also refuses
addresses at the disposable-mail domains of DISPOSABLE_DOMAINS (and their subdomains).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg

from crypto import canonical
from voting import mail
from voting.accounts import VOTER_NUMBER, InvalidEmail, normalize_email
from voting.credentials import _origin, citizen_commitment, citizen_secret
from voting.entry_kinds import AllowList, Approval
from voting.primaries import LogAppender
from voting.refusals import Refused

POLICIES = ("email", "allow-list", "approval")
DEFAULT_POLICY = "email"
MAX_ALLOW_LIST_ROWS = 100_000

# Invitation codes: 12 symbols from 30 that are hard to mistake for one another (no 0/O,
# 1/I/L, U), about 59 bits, written in groups of four (`K7QM-3WXA-9HTE`).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 12
CODE_GROUP = 4

# A few well-known throw-away mail services.
DISPOSABLE_DOMAINS = frozenset(
    {
        "10minutemail.com",
        "discard.email",
        "dispostable.com",
        "emailondeck.com",
        "fakeinbox.com",
        "getnada.com",
        "guerrillamail.com",
        "guerrillamail.net",
        "jetable.org",
        "maildrop.cc",
        "mailinator.com",
        "mailnesia.com",
        "mintemail.com",
        "mohmal.com",
        "moakt.com",
        "sharklasers.com",
        "spamgourmet.com",
        "temp-mail.org",
        "tempmail.com",
        "tempr.email",
        "throwawaymail.com",
        "trashmail.com",
        "trashmail.de",
        "yopmail.com",
        "yopmail.fr",
        "yopmail.net",
    }
)

# Reasons, as French source text (translated where they are shown).
REASONS = {
    "eligible": "Vous pouvez participer à cette primaire.",
    "unknown-primary": "Primaire introuvable.",
    "unknown-account": "Compte introuvable.",
    "unverified": "Votre adresse électronique n’est pas vérifiée.",
    "disposable": "Les adresses jetables ne sont pas acceptées dans cette primaire.",
    "not-on-list": "Votre adresse ou votre numéro d’électeur ne figure pas sur la liste"
    " des participant·es.",
    "not-requested": "Cette primaire demande l’accord des organisateur·rices : faites une demande.",
    "pending": "Votre demande est en attente de l’accord des organisateur·rices.",
    "refused": "Votre demande de participation a été refusée.",
    "unknown-policy": "Les règles de participation de cette primaire sont invalides.",
    "other-account": "Cette adresse mène à la même boîte aux lettres qu’un autre compte :"
    " seul ce compte-là peut participer.",
}


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str  # a key of REASONS
    policy: str

    @property
    def message(self) -> str:
        return REASONS[self.reason]

    def __bool__(self) -> bool:
        return self.eligible


@dataclass(frozen=True)
class RowError:
    line: int
    value: str
    message: str


class AllowListError(Refused):
    """The import was refused; `errors` lists every bad row with its line number."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("allow-list-invalid", field="entries", count=len(errors))
        self.errors = errors


class Entry(NamedTuple):
    """One line of an allow-list: an e-mail, or a voter number and where to mail its code."""

    kind: str  # "email" | "voter_number"
    value: str
    address: str | None = None


@dataclass(frozen=True)
class Invitation:
    number: str
    code: str  # in clear only here: the database keeps its HMAC
    address: str | None


@dataclass(frozen=True)
class AllowListImport:
    count: int  # entries on the list after the import
    invitations: list[Invitation] = field(default_factory=list)  # codes made by this import
    mailed: int = 0
    body: dict[str, object] = field(default_factory=dict)  # the `allow-list` log entry's body


def allow_list_digest(emails: list[str], numbers: list[str]) -> str:
    """The list's commitment in the log (docs/audit-log.md §8 `allow-list`): SHA-256 hex of
    the canonical JSON of the sorted strings "email:<mailbox key>" and "voter_number:<n>"."""
    items = sorted([f"email:{key}" for key in emails] + [f"voter_number:{n}" for n in numbers])
    return hashlib.sha256(canonical.dumps(items)).hexdigest()


def new_invitation_code() -> str:
    """A fresh code, grouped for reading aloud or typing from a letter."""
    value = secrets.randbelow(len(CODE_ALPHABET) ** CODE_LENGTH)
    symbols = []
    for _ in range(CODE_LENGTH):
        value, digit = divmod(value, len(CODE_ALPHABET))
        symbols.append(CODE_ALPHABET[digit])
    raw = "".join(symbols)
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def clean_invitation_code(text: str) -> str | None:
    """The code's 12 symbols (case, spaces and dashes ignored), or None if it cannot be one."""
    raw = re.sub(r"[\s\-‐‑–—]", "", text or "").upper()
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return raw


def _code_hash(secret_key: str, primary_id: UUID, number: str, code: str) -> bytes:
    message = (
        b"scrutin invitation code\x00"
        + primary_id.bytes
        + number.encode("utf-8")
        + b"\x00"
        + code.replace("-", "").encode("ascii")
    )
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).digest()


def is_disposable(email: str) -> bool:
    """True when the address's domain (or a parent domain) is a known throw-away service."""
    domain = email.rsplit("@", 1)[-1].lower()
    parts = domain.split(".")
    candidates = {".".join(parts[i:]) for i in range(len(parts) - 1)}
    return bool(candidates & DISPOSABLE_DOMAINS)


async def primary_policy(conn: asyncpg.Connection, primary_id: UUID) -> dict[str, object] | None:
    """The primary's policy and whether it refuses disposable addresses, from its definition."""
    row = await conn.fetchrow(
        f"SELECT {_POLICY_COLUMNS} FROM primaries p WHERE id = $1", primary_id
    )
    return None if row is None else _rules(row)


_POLICY_COLUMNS = (
    "p.definition->>'eligibility' AS policy,"
    " coalesce(p.definition->'refuse_disposable' = 'true'::jsonb, false) AS refuse"
)


def _rules(row: asyncpg.Record) -> dict[str, object]:
    return {"policy": row["policy"] or DEFAULT_POLICY, "refuse": row["refuse"]}


async def eligibility(
    conn: asyncpg.Connection, primary_id: UUID, account_id: UUID, *, lock: bool = False
) -> Eligibility:
    """Whether the account may take part in the primary, and why (see REASONS).

    `lock` (in the transaction of a support or a cast) keeps the account's voter number
    from changing until that transaction commits (voting.accounts.update_profile).
    """
    # The account and the primary's rules in one round trip (a cast's hot path); the rules
    # alone only when there is no such account, to tell which of the two is unknown.
    account = await conn.fetchrow(
        "SELECT a.email, a.email_verified_at, a.mailbox_key, a.mailbox_holder,"
        f" p.id IS NOT NULL AS known, {_POLICY_COLUMNS}"
        " FROM accounts a LEFT JOIN primaries p ON p.id = $1"
        " WHERE a.id = $2" + (" FOR SHARE OF a" if lock else ""),
        primary_id,
        account_id,
    )
    if account is None:
        rules = await primary_policy(conn, primary_id)
        if rules is None:
            return Eligibility(False, "unknown-primary", "")
        return Eligibility(False, "unknown-account", str(rules["policy"]))
    if not account["known"]:
        return Eligibility(False, "unknown-primary", "")
    rules = _rules(account)
    policy = str(rules["policy"])
    if account["mailbox_holder"] is not None:
        return Eligibility(False, "other-account", policy)
    if account["email_verified_at"] is None:
        return Eligibility(False, "unverified", policy)
    if rules["refuse"] and is_disposable(account["email"]):
        return Eligibility(False, "disposable", policy)
    if policy == "email":
        return Eligibility(True, "eligible", policy)
    if policy == "allow-list":
        listed = await conn.fetchval(
            """
            SELECT EXISTS (
                SELECT 1 FROM eligibility_entries WHERE primary_id = $1
                AND ((kind = 'email' AND value = $2) OR claimed_by = $3))
            """,
            primary_id,
            account["mailbox_key"],
            account_id,
        )
        return Eligibility(bool(listed), "eligible" if listed else "not-on-list", policy)
    if policy == "approval":
        status = await conn.fetchval(
            "SELECT status FROM eligibility_requests WHERE primary_id = $1 AND account_id = $2",
            primary_id,
            account_id,
        )
        if status == "approved":
            return Eligibility(True, "eligible", policy)
        return Eligibility(False, status or "not-requested", policy)
    return Eligibility(False, "unknown-policy", policy)


async def is_eligible(
    conn: asyncpg.Connection, primary_id: UUID, account_id: UUID, *, lock: bool = False
) -> bool:
    """True when the account may support and vote in the primary (architecture contract)."""
    return (await eligibility(conn, primary_id, account_id, lock=lock)).eligible


_HEADERS = {
    "email",
    "e-mail",
    "mail",
    "courriel",
    "adresse",
    "voter_number",
    "voter number",
    "numero",
    "numéro",
    "numero_electeur",
    "numéro d’électeur",
    "numéro d'électeur",
    "numero d'electeur",
}


def parse_allow_list(data: bytes | str) -> list[Entry]:
    """The entries of an allow-list CSV: per line, an e-mail, or a voter number optionally
    followed (or preceded) by the e-mail address where its invitation code is to be mailed.

    An optional header line, blank lines and repeated values are accepted; anything else
    is an error. All errors are reported at once.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise AllowListError(
                [RowError(1, "", "Le fichier doit être en UTF-8 (texte CSV).")]
            ) from None
    else:
        text = data.removeprefix("\ufeff")
    lines = text.splitlines()
    if len(lines) > MAX_ALLOW_LIST_ROWS:
        raise AllowListError(
            [RowError(MAX_ALLOW_LIST_ROWS + 1, "", "Trop de lignes (100 000 au plus).")]
        )
    delimiter = ";" if any(";" in line for line in lines[:20]) else ","
    rows: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    errors: list[RowError] = []
    first = True
    for number, cells in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        values = [cell.strip() for cell in cells if cell.strip()]
        if not values:
            continue
        if first and len(values) <= 2 and all(v.lower() in _HEADERS for v in values):
            first = False
            continue
        first = False
        if len(values) > 2:
            errors.append(RowError(number, delimiter.join(values)[:80], TOO_MANY_VALUES))
            continue
        parsed = [_parse_value(value) for value in values]
        if any(row is None for row in parsed):
            bad = next(v for v, row in zip(values, parsed, strict=True) if row is None)
            errors.append(
                RowError(
                    number,
                    bad[:80],
                    "Ni une adresse électronique valide, ni un numéro d’électeur valide.",
                )
            )
            continue
        kinds = sorted(row[0] for row in parsed if row is not None)
        if len(values) == 2 and kinds != ["email", "voter_number"]:
            errors.append(RowError(number, delimiter.join(values)[:80], TOO_MANY_VALUES))
            continue
        pairs = dict(row for row in parsed if row is not None)
        entry = (
            Entry("voter_number", pairs["voter_number"], pairs.get("email"))
            if "voter_number" in pairs
            else Entry("email", pairs["email"])
        )
        if (entry.kind, entry.value) not in seen:
            seen.add((entry.kind, entry.value))
            rows.append(entry)
    if errors:
        raise AllowListError(errors)
    if not rows:
        raise AllowListError([RowError(1, "", "La liste est vide.")])
    return rows


TOO_MANY_VALUES = (
    "Une seule valeur par ligne, ou un numéro d’électeur suivi de l’adresse où envoyer son code."
)


def _parse_value(value: str) -> tuple[str, str] | None:
    if "@" in value:
        try:
            return ("email", normalize_email(value))
        except InvalidEmail:
            return None
    if VOTER_NUMBER.fullmatch(value):
        return ("voter_number", value)
    return None


def invitation_mail(title: str, link: str, number: str, code: str) -> tuple[str, str]:
    """Subject and text of the mail that carries an invitation code, French then English."""
    subject = f"Scrutin : votre code d’invitation / your invitation code — {title}"[:300]
    text = (
        "Bonjour,\n\n"
        f"Vous êtes sur la liste des participant·es de la primaire « {title} ».\n"
        "Pour y participer, connectez-vous puis ouvrez :\n"
        f"{link}\n\n"
        f"Numéro d’électeur : {number}\n"
        f"Code d’invitation : {code}\n\n"
        "Le code ne sert qu’une fois : il lie ce numéro à votre compte. Ne le donnez à"
        " personne.\n\n"
        "-- \n"
        "Hello,\n\n"
        f"You are on the list of participants of the primary “{title}”. To take part, sign"
        " in and open the link above, then enter\n"
        f"voter number: {number}\ninvitation code: {code}\n"
        "The code works once: it links this number to your account. Give it to nobody.\n"
    )
    return subject, text


async def import_allow_list(
    conn: asyncpg.Connection,
    primary_id: UUID,
    data: bytes | str,
    *,
    secret_key: str,
    base_url: str = "",
    log: LogAppender | None = None,
) -> AllowListImport:
    """Replace the primary's allow-list with the CSV's entries (all or nothing).

    Entries already on the list keep their invitation code and their claim; every new
    voter number (and an earlier one that never had a code) gets a fresh code, returned in
    clear this once, and mailed when its line gives an address. Removed entries go, with
    their claims. Raises AllowListError (nothing changed) when any row is invalid.

    With `log` (voting.log.LogService; None only for a primary without a log, in tests of
    the rules), an `allow-list` entry records the counts and the list's digest.
    """
    rows = parse_allow_list(data)
    # One import at a time per primary: a second one, sent at the same time, waits and then
    # replaces the first one's list (instead of colliding with its rows).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"scrutin-allow-list:{primary_id}"
    )
    primary = await conn.fetchrow("SELECT slug, title FROM primaries WHERE id = $1", primary_id)
    # E-mails are kept as mailbox keys: `a+x@…` on the list is the mailbox `a@…`.
    emails: list[str] = await conn.fetchval(
        "SELECT coalesce(array_agg(DISTINCT scrutin_mailbox_key(e)), '{}')"
        " FROM unnest($1::text[]) AS e",
        [row.value for row in rows if row.kind == "email"],
    )
    numbers = [row for row in rows if row.kind == "voter_number"]
    settled = {
        record["value"]
        for record in await conn.fetch(
            "SELECT value FROM eligibility_entries WHERE primary_id = $1"
            " AND kind = 'voter_number' AND (code_hash IS NOT NULL OR claimed_at IS NOT NULL)",
            primary_id,
        )
    }
    invitations = [
        Invitation(row.value, new_invitation_code(), row.address)
        for row in numbers
        if row.value not in settled
    ]
    hashes = {
        item.number: _code_hash(secret_key, primary_id, item.number, item.code)
        for item in invitations
    }
    kinds = ["email"] * len(emails) + ["voter_number"] * len(numbers)
    values = emails + [row.value for row in numbers]
    codes = [None] * len(emails) + [hashes.get(row.value) for row in numbers]
    before = await conn.fetchval(
        "SELECT count(*) FROM eligibility_entries WHERE primary_id = $1", primary_id
    )
    deleted = await conn.execute(
        """
        DELETE FROM eligibility_entries AS e WHERE e.primary_id = $1 AND NOT EXISTS (
            SELECT 1 FROM unnest($2::text[], $3::text[]) AS t (kind, value)
            WHERE t.kind = e.kind AND t.value = e.value)
        """,
        primary_id,
        kinds,
        values,
    )
    await conn.execute(
        """
        INSERT INTO eligibility_entries (primary_id, kind, value, code_hash)
        SELECT $1, kind, value, code_hash
        FROM unnest($2::text[], $3::text[], $4::bytea[]) AS t (kind, value, code_hash)
        ON CONFLICT (primary_id, kind, value) DO UPDATE SET code_hash = EXCLUDED.code_hash
        WHERE EXCLUDED.code_hash IS NOT NULL AND eligibility_entries.code_hash IS NULL
        AND eligibility_entries.claimed_at IS NULL
        """,
        primary_id,
        kinds,
        values,
        codes,
    )
    mailed = 0
    if primary is not None:
        link = f"{base_url.rstrip('/')}/primaries/{primary['slug']}/eligibility"
        mailed = await mail.enqueue_many(
            conn,
            [
                (item.address, *invitation_mail(primary["title"], link, item.number, item.code))
                for item in invitations
                if item.address
            ],
        )
    count = len(values)
    removed = int(deleted.split()[-1])
    entry = AllowList(
        emails=len(emails),
        numbers=len(numbers),
        added=count - (before - removed),
        removed=removed,
        digest=allow_list_digest(emails, [row.value for row in numbers]),
    )
    if log is not None:
        await log.append(conn, primary_id, entry)
    return AllowListImport(count=count, invitations=invitations, mailed=mailed, body=entry.body())


async def claim_invitation(
    conn: asyncpg.Connection,
    primary_id: UUID,
    account_id: UUID,
    number: str,
    code: str,
    *,
    secret_key: str,
    now: datetime | None = None,
) -> str:
    """Link an allow-listed voter number to the account with its one-time invitation code;
    return the number. Raises Refused (`claim-…` reasons).

    An unknown number, a wrong code and a spent code are one refusal, found by one query:
    the answer does not tell whether the number is on the list.
    """
    number = (number or "").strip()
    if not VOTER_NUMBER.fullmatch(number):
        raise Refused("claim-bad-number", field="voter_number")
    raw = clean_invitation_code(code)
    if raw is None:
        raise Refused("claim-bad-code", field="code")
    rules = await primary_policy(conn, primary_id)
    if rules is None or rules["policy"] != "allow-list":
        raise Refused("claim-no-allow-list")
    if await held_number(conn, primary_id, account_id) is not None:
        raise Refused("claim-already")
    try:
        async with conn.transaction():  # a savepoint: the unique index may refuse the claim
            claimed = await conn.fetchval(
                """
                UPDATE eligibility_entries SET claimed_by = $3, claimed_at = $4
                WHERE primary_id = $1 AND kind = 'voter_number' AND value = $2
                AND code_hash = $5 AND claimed_at IS NULL
                RETURNING value
                """,
                primary_id,
                number,
                account_id,
                now or datetime.now(UTC),
                _code_hash(secret_key, primary_id, number, raw),
            )
    except asyncpg.UniqueViolationError:  # this account claimed another number meanwhile
        raise Refused("claim-already") from None
    if claimed is None:
        raise Refused("claim-refused")
    return str(claimed)


async def held_number(conn: asyncpg.Connection, primary_id: UUID, account_id: UUID) -> str | None:
    """The voter number the account claimed in the primary, if any."""
    value: str | None = await conn.fetchval(
        "SELECT value FROM eligibility_entries WHERE primary_id = $1 AND claimed_by = $2",
        primary_id,
        account_id,
    )
    return value


async def allow_list_counts(conn: asyncpg.Connection, primary_id: UUID) -> dict[str, int]:
    """Entries by kind, and how many numbers were claimed or still have no code."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE kind = 'email') AS email,
               count(*) FILTER (WHERE kind = 'voter_number') AS voter_number,
               count(claimed_by) AS claimed,
               count(*) FILTER (WHERE kind = 'voter_number' AND code_hash IS NULL
                                AND claimed_at IS NULL) AS without_code
        FROM eligibility_entries WHERE primary_id = $1
        """,
        primary_id,
    )
    assert row is not None  # an aggregate gives one row
    return dict(row)


async def request_approval(conn: asyncpg.Connection, primary_id: UUID, account_id: UUID) -> str:
    """Ask the organisers to approve the account; return the request's status.

    Asking again changes nothing (a refused request stays refused).
    """
    await conn.execute(
        "INSERT INTO eligibility_requests (primary_id, account_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        primary_id,
        account_id,
    )
    status: str = await conn.fetchval(
        "SELECT status FROM eligibility_requests WHERE primary_id = $1 AND account_id = $2",
        primary_id,
        account_id,
    )
    return status


async def decide(
    conn: asyncpg.Connection,
    primary_id: UUID,
    account_id: UUID,
    *,
    organiser_id: UUID,
    approve: bool,
    now: datetime | None = None,
    secret_key: str = "",
    log: LogAppender | None = None,
) -> bool:
    """Approve or refuse a request; False when there is no such request.

    With `log` (voting.log.LogService), a decision that changes the request's status appends
    an `approval` entry in the same transaction (docs/audit-log.md §8): the citizen's
    commitment (the `citizen` of their `credential` entries, never the identity), the
    decision (`removed` when an approved citizen is refused) and the approved count after it.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"scrutin-approval:{primary_id}"
    )
    before = await conn.fetchval(
        "SELECT status FROM eligibility_requests WHERE primary_id = $1 AND account_id = $2",
        primary_id,
        account_id,
    )
    if before is None:
        return False
    status = "approved" if approve else "refused"
    if before == status:
        return True
    await conn.execute(
        """
        UPDATE eligibility_requests SET status = $3, decided_at = $4, decided_by = $5
        WHERE primary_id = $1 AND account_id = $2
        """,
        primary_id,
        account_id,
        status,
        now or datetime.now(UTC),
        organiser_id,
    )
    if log is not None:
        approved = await conn.fetchval(
            "SELECT count(*) FROM eligibility_requests WHERE primary_id = $1"
            " AND status = 'approved'",
            primary_id,
        )
        entry = Approval(
            citizen=citizen_commitment(
                citizen_secret(secret_key, primary_id, account_id),
                await _origin(conn, primary_id),
            ),
            decision="removed" if before == "approved" else status,
            approved=approved,
        )
        await log.append(conn, primary_id, entry)
    return True


async def requests(conn: asyncpg.Connection, primary_id: UUID) -> list[asyncpg.Record]:
    """The primary's approval requests, pending first, with each citizen's e-mail and name."""
    return await conn.fetch(
        """
        SELECT r.account_id, r.status, r.requested_at, r.decided_at,
               a.email, a.display_name
        FROM eligibility_requests r JOIN accounts a ON a.id = r.account_id
        WHERE r.primary_id = $1
        ORDER BY r.status <> 'pending', r.requested_at
        LIMIT 1000
        """,
        primary_id,
    )
