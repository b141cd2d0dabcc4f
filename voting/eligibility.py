"""Who may support and vote in a primary: the eligibility ladder of its definition.

`definition.eligibility` is one of:
- `email`: any account with a verified e-mail (every signed-in account has one);
- `allow-list`: the e-mail, or the voter number the citizen entered on their account, is on
  the list imported by the organisers (CSV, replaced as a whole);
- `approval`: an organiser approved the citizen's request.
`definition.refuse_disposable` (a boolean, absent = false; docs/audit-log.md §8) also refuses
addresses at the disposable-mail domains of DISPOSABLE_DOMAINS (and their subdomains).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from voting.accounts import VOTER_NUMBER, InvalidEmail, normalize_email

POLICIES = ("email", "allow-list", "approval")
DEFAULT_POLICY = "email"
MAX_ALLOW_LIST_ROWS = 100_000

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


class AllowListError(ValueError):
    """The import was refused; `errors` lists every bad row with its line number."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} invalid row(s)")
        self.errors = errors


def is_disposable(email: str) -> bool:
    """True when the address's domain (or a parent domain) is a known throw-away service."""
    domain = email.rsplit("@", 1)[-1].lower()
    parts = domain.split(".")
    candidates = {".".join(parts[i:]) for i in range(len(parts) - 1)}
    return bool(candidates & DISPOSABLE_DOMAINS)


async def primary_policy(conn: asyncpg.Connection, primary_id: UUID) -> dict[str, object] | None:
    """The primary's policy and whether it refuses disposable addresses, from its definition."""
    row = await conn.fetchrow(
        "SELECT definition->>'eligibility' AS policy,"
        " coalesce(definition->'refuse_disposable' = 'true'::jsonb, false) AS refuse"
        " FROM primaries WHERE id = $1",
        primary_id,
    )
    if row is None:
        return None
    return {"policy": row["policy"] or DEFAULT_POLICY, "refuse": row["refuse"]}


async def eligibility(
    conn: asyncpg.Connection, primary_id: UUID, account_id: UUID, *, lock: bool = False
) -> Eligibility:
    """Whether the account may take part in the primary, and why (see REASONS).

    `lock` (in the transaction of a support or a cast) keeps the account's voter number
    from changing until that transaction commits (voting.accounts.update_profile).
    """
    rules = await primary_policy(conn, primary_id)
    if rules is None:
        return Eligibility(False, "unknown-primary", "")
    policy = str(rules["policy"])
    account = await conn.fetchrow(
        "SELECT email, email_verified_at, voter_number FROM accounts WHERE id = $1"
        + (" FOR SHARE" if lock else ""),
        account_id,
    )
    if account is None:
        return Eligibility(False, "unknown-account", policy)
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
                AND ((kind = 'email' AND value = $2) OR (kind = 'voter_number' AND value = $3)))
            """,
            primary_id,
            account["email"],
            account["voter_number"],
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


def parse_allow_list(data: bytes | str) -> list[tuple[str, str]]:
    """(kind, value) rows of an allow-list CSV: one e-mail or voter number per line.

    An optional header line, blank lines and repeated values are accepted; anything else
    that is not an e-mail or a voter number is an error. All errors are reported at once.
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
    rows: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[RowError] = []
    first = True
    for number, cells in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        values = [cell.strip() for cell in cells if cell.strip()]
        if not values:
            continue
        if first and len(values) == 1 and values[0].lower() in _HEADERS:
            first = False
            continue
        first = False
        if len(values) > 1:
            errors.append(
                RowError(number, delimiter.join(values)[:80], "Une seule valeur par ligne.")
            )
            continue
        value = values[0]
        row = _parse_value(value)
        if row is None:
            errors.append(
                RowError(
                    number,
                    value[:80],
                    "Ni une adresse électronique valide, ni un numéro d’électeur valide.",
                )
            )
        elif row not in seen:
            seen.add(row)
            rows.append(row)
    if errors:
        raise AllowListError(errors)
    if not rows:
        raise AllowListError([RowError(1, "", "La liste est vide.")])
    return rows


def _parse_value(value: str) -> tuple[str, str] | None:
    if "@" in value:
        try:
            return ("email", normalize_email(value))
        except InvalidEmail:
            return None
    if VOTER_NUMBER.fullmatch(value):
        return ("voter_number", value)
    return None


async def import_allow_list(conn: asyncpg.Connection, primary_id: UUID, data: bytes | str) -> int:
    """Replace the primary's allow-list with the CSV's rows (all or nothing); return the count.

    Raises AllowListError (nothing changed) when any row is invalid.
    """
    rows = parse_allow_list(data)
    # One import at a time per primary: a second one, sent at the same time, waits and then
    # replaces the first one's list (instead of colliding with its rows).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"scrutin-allow-list:{primary_id}"
    )
    await conn.execute("DELETE FROM eligibility_entries WHERE primary_id = $1", primary_id)
    await conn.execute(
        """
        INSERT INTO eligibility_entries (primary_id, kind, value)
        SELECT $1, kind, value FROM unnest($2::text[], $3::text[]) AS t (kind, value)
        """,
        primary_id,
        [kind for kind, _ in rows],
        [value for _, value in rows],
    )
    return len(rows)


async def allow_list_counts(conn: asyncpg.Connection, primary_id: UUID) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT kind, count(*) AS n FROM eligibility_entries WHERE primary_id = $1 GROUP BY kind",
        primary_id,
    )
    counts = {"email": 0, "voter_number": 0}
    counts.update({row["kind"]: row["n"] for row in rows})
    return counts


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
) -> bool:
    """Approve or refuse a request; False when there is no such request."""
    result = await conn.execute(
        """
        UPDATE eligibility_requests SET status = $3, decided_at = $4, decided_by = $5
        WHERE primary_id = $1 AND account_id = $2
        """,
        primary_id,
        account_id,
        "approved" if approve else "refused",
        now or datetime.now(UTC),
        organiser_id,
    )
    return result != "UPDATE 0"


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
