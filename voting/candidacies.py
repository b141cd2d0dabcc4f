"""Candidacies: declaration, moderation, lifecycle, versioned programmes.

Table `candidacies` (migration 0004), what other features may rely on:

| column | meaning |
|---|---|
| `id` uuid | the candidate's id in every log entry (`candidate`) |
| `primary_id` uuid | the primary |
| `account_id` uuid | the citizen who declared it |
| `name` text | the public name (NFC) |
| `status` text | see STATUSES (constraint `candidacies_status_check`) |
| `declaration` text | SHA-256 hex of the current public declaration (`declaration_text`) |
| `support_count` int | active supports (exact: updated under the row lock) |

For the rounds feature: `await confirmed_candidates(conn, primary_id)` lists the candidates to
put on round 1 (status `confirmed`, ordered by name), each with `.id`, `.name`,
`.declaration` — exactly the members of a `round-open` candidate. Lock the primary row
(`mark_voting_started` does, with its UPDATE) before reading them: every transition here takes
the primary row `FOR SHARE` first, so a confirmation cannot slip past the opening of round 1.

Lifecycle and log entries (docs/audit-log.md §8, kind `candidacy`):

    draft ──submit──▶ submitted ──publish──▶ published ──(supports)──▶ qualified
                          │                      │                         │
                          └─reject─▶ rejected    │               confirm ◀─┴─▶ decline
    withdrawn (by the candidate) and excluded (by the organiser, public reason): from any
    live status. A draft is private: it has no log entry, and withdrawing it writes none.

The declaration text is the canonical JSON (RFC 8785) of
`{"bio", "links", "name", "photo", "programme"}` where `photo` is the SHA-256 hex of the photo
bytes or "" — so anyone holding the public page can recompute the hash in the log.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from crypto import canonical
from voting.accounts import Account
from voting.definition import clean_text
from voting.entry_kinds import Candidacy as CandidacyEntry
from voting.primaries import LogAppender, Primary, get_primary_by_id, voting_has_started
from voting.refusals import Refused

MAX_NAME = 120
MAX_BIO = 1_000
MAX_PROGRAMME = 20_000
MAX_LINKS = 10
MAX_LINK = 500
MAX_REASON = 2_000
MAX_PHOTO = 1024 * 1024
MAX_SEARCH = 100

STATUSES = (
    "draft", "submitted", "published", "rejected", "qualified", "confirmed", "declined",
    "withdrawn", "excluded", "lapsed",
)  # fmt: skip
LIVE = ("submitted", "published", "qualified", "confirmed")
# What the organiser may do to a candidacy, by its status: the one table the services below
# check and the moderation pages offer from (a page never offers what the service refuses).
MODERATION_STATES: dict[str, tuple[str, ...]] = {
    "accept": ("submitted",),
    "reject": ("submitted",),
    "exclude": LIVE,
}
EDITABLE = ("draft", "submitted", "published")
# Statuses only a published candidacy can reach; withdrawn and excluded ones are public only
# if they were published first (published_at).
PUBLISHED = ("published", "qualified", "confirmed", "declined", "lapsed")
# Opening round 1 closes the list: a qualified candidate who had not confirmed lapses.
LAPSED_REASON = "Qualifiée, mais participation non confirmée à l’ouverture du premier tour."
PUBLIC_SQL = f"(status IN {PUBLISHED!r} OR published_at IS NOT NULL)"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

CANDIDACY_COLUMNS = """
    id, primary_id, account_id, name, bio, programme, links, photo_type,
    CASE WHEN photo IS NULL THEN '' ELSE encode(sha256(photo), 'hex') END AS photo_sha256,
    charter_accepted_at, status, status_reason, declaration, version, support_count,
    created_at, updated_at, submitted_at, published_at, qualified_at
"""


@dataclass(frozen=True)
class Candidacy:
    id: uuid.UUID
    primary_id: uuid.UUID
    account_id: uuid.UUID
    name: str
    bio: str
    programme: str
    links: list[str]
    photo_type: str | None
    photo_sha256: str
    charter_accepted_at: datetime
    status: str
    status_reason: str
    declaration: str
    version: int
    support_count: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None
    qualified_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Candidacy:
        links = row["links"]
        if isinstance(links, str):
            import json

            links = json.loads(links)
        return cls(**{**dict(row), "links": list(links)})

    @property
    def has_photo(self) -> bool:
        return self.photo_type is not None

    @property
    def is_public(self) -> bool:
        """Moderation published it once: it stays public after it withdraws or is excluded.
        Drafts, candidacies awaiting moderation, rejected ones and those withdrawn or
        excluded before publication never are: their content was never accepted."""
        return self.status in PUBLISHED or self.published_at is not None

    def visible_to(self, account: Account | None, primary: Primary) -> bool:
        """Everyone sees a public candidacy; the others, only their author and the
        primary's admins (`primary.administered_by`)."""
        if self.is_public:
            return True
        return account is not None and (
            account.id == self.account_id or primary.administered_by(account)
        )

    @property
    def collecting(self) -> bool:
        return self.status == "published"

    @property
    def releases_supports(self) -> bool:
        """Its supporters may take their supports back: while it collects, and after it
        left without qualifying (withdrawn or excluded), so that a citizen's capped supports
        are not lost with it. A qualification freezes them (docs/audit-log.md §9, check 7)."""
        return self.collecting or (
            self.status in ("withdrawn", "excluded") and self.qualified_at is None
        )

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE

    def declaration_text(self) -> bytes:
        return declaration_text(self.name, self.bio, self.programme, self.links, self.photo_sha256)


@dataclass(frozen=True)
class Declaration:
    """Validated public content of a candidacy."""

    name: str
    bio: str
    programme: str
    links: list[str]


# --------------------------------------------------------------------------------------------
# Pure checks
# --------------------------------------------------------------------------------------------


def declaration_text(
    name: str, bio: str, programme: str, links: Sequence[str], photo_sha256: str
) -> bytes:
    return canonical.dumps(
        {
            "name": name,
            "bio": bio,
            "programme": programme,
            "links": list(links),
            "photo": photo_sha256,
        }
    )


def declaration_hash(
    name: str, bio: str, programme: str, links: Sequence[str], photo_sha256: str
) -> str:
    return hashlib.sha256(declaration_text(name, bio, programme, links, photo_sha256)).hexdigest()


def validate_link(value: object, field_name: str) -> str:
    url = clean_text(value, field_name, max_length=MAX_LINK, multiline=False)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in url:
        raise Refused("bad-link", field=field_name)
    return url


# Letters that never belong in a name: format characters (bidi overrides and isolates,
# zero-width spaces and joiners, soft hyphens), controls, private use, unassigned code points,
# line and paragraph separators. They hide or reorder what readers see.
_INVISIBLE = ("Cf", "Cc", "Co", "Cn", "Cs", "Zl", "Zp")
# Scripts written together in one word (Japanese mixes kanji and kana).
_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO"})


def _script(letter: str) -> str:
    """The script of a letter as the first word of its Unicode name: LATIN, CYRILLIC, GREEK…
    (and FULLWIDTH or MATHEMATICAL for styled look-alikes of Latin letters)."""
    return unicodedata.name(letter, "UNKNOWN").split(" ")[0]


def validate_name(value: object) -> str:
    """A candidate's name: NFC, no invisible character nor styled letter (fullwidth,
    mathematical bold…), each word in one script.

    The mixed-script rule is the cheap part of UTS #39: a word mixing Latin and Cyrillic
    letters ("Kаrim" with a Cyrillic а) is how one candidate imitates another.
    """
    name = clean_text(value, "name", max_length=MAX_NAME, required=True, multiline=False)
    for char in name:
        if unicodedata.category(char) in _INVISIBLE:
            raise Refused("name-invisible-character", field="name", code=f"U+{ord(char):04X}")
    for char in name:
        if char.isalpha() and unicodedata.normalize("NFKC", char) != char:
            raise Refused("name-styled-letter", field="name", char=char, code=f"{ord(char):04X}")
    for word in name.split():
        scripts = {_script(c) for c in word if unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lo")}
        if len(scripts - _EAST_ASIAN) + bool(scripts & _EAST_ASIAN) > 1:
            raise Refused("name-mixed-scripts", field="name", word=word)
    return name


# Characters drawn alike in common fonts, mapped to one of them (the common part of UTS #39's
# confusables: Cyrillic and Greek capitals and small letters that look Latin, I/l/1, O/0).
_LOOK_ALIKES = str.maketrans(
    "АВЕКМНОРСТХУЅІЈаеорсухіјѕԁһӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοινI1|0",
    "ABEKMHOPCTXYSIJaeopcyxijsdhlABEZHIKMNOPTYXoivlllO",
)


def name_skeleton(name: str) -> str:
    """What a name looks like: two names with the same skeleton cannot be told apart."""
    decomposed = unicodedata.normalize("NFD", name).translate(_LOOK_ALIKES)
    return " ".join(unicodedata.normalize("NFD", decomposed).translate(_LOOK_ALIKES).split())


async def _refuse_look_alike(
    conn: asyncpg.Connection, primary_id: uuid.UUID, name: str, own: uuid.UUID | None = None
) -> None:
    """A name that reads like another candidacy's of the same primary, without being the same
    (homonyms exist), imitates it: refused."""
    skeleton = name_skeleton(name)
    rows = await conn.fetch(
        "SELECT id, name FROM candidacies WHERE primary_id = $1 AND status <> 'draft'",
        primary_id,
    )
    for row in rows:
        if row["id"] != own and row["name"] != name and name_skeleton(row["name"]) == skeleton:
            raise Refused("name-confusable", field="name", other=row["name"])


def validate_declaration(data: Mapping[str, object]) -> Declaration:
    """Name, bio, programme (Markdown source) and links, or `Refused` naming the field."""
    links_value = data.get("links") or []
    if isinstance(links_value, str):
        links_value = [line for line in links_value.splitlines() if line.strip()]
    if not isinstance(links_value, list):
        raise Refused("links-not-list", field="links")
    if len(links_value) > MAX_LINKS:
        raise Refused("too-many-links", field="links", max=MAX_LINKS)
    links = [validate_link(link, f"links[{i}]") for i, link in enumerate(links_value)]
    return Declaration(
        name=validate_name(data.get("name")),
        bio=clean_text(data.get("bio"), "bio", max_length=MAX_BIO),
        programme=clean_text(data.get("programme"), "programme", max_length=MAX_PROGRAMME),
        links=links,
    )


def photo_type(data: bytes) -> str:
    """The content type of an uploaded photo, checked by its magic bytes, or `Refused`."""
    if len(data) > MAX_PHOTO:
        raise Refused("photo-too-large", field="photo")
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    raise Refused("photo-format", field="photo")


def _reason(value: object, *, required: bool) -> str:
    return clean_text(value, "reason", max_length=MAX_REASON, required=required)


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


async def get_candidacy(
    conn: asyncpg.Connection, candidacy_id: uuid.UUID | str, *, for_update: bool = False
) -> Candidacy | None:
    try:
        key = candidacy_id if isinstance(candidacy_id, uuid.UUID) else uuid.UUID(candidacy_id)
    except ValueError:
        return None
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {CANDIDACY_COLUMNS} FROM candidacies WHERE id = $1{lock}", key
    )
    return Candidacy.from_row(row) if row else None


SEARCHED = ("name", "bio", "programme")
# Letters that lose their accents in a search ("ines" finds "Inès", "velo" finds "vélo"): the
# precomposed Latin letters whose decomposition is one ASCII letter and marks. PostgreSQL's
# translate() does the same on the stored text, without the unaccent extension.
# Capitals too: lower() leaves them alone in a C-locale database.
_FOLDS = {
    ch: base.lower()
    for ch in map(chr, range(0xC0, 0x250))
    if (base := unicodedata.normalize("NFD", ch)[0]).isascii() and base.isalpha()
}
_ACCENTED, _UNACCENTED = "".join(_FOLDS), "".join(_FOLDS.values())


def fold_accents(text: str) -> str:
    """Lower case without accents, as searches compare (the same folding as the SQL)."""
    return text.translate(str.maketrans(_ACCENTED, _UNACCENTED)).lower()


async def list_candidacies(
    conn: asyncpg.Connection,
    primary_id: uuid.UUID,
    *,
    statuses: Sequence[str] | None = None,
    query: str | None = None,
) -> list[Candidacy]:
    """Candidacies of a primary, by name; `query` searches name, bio and programme."""
    conditions = ["primary_id = $1"]
    args: list[object] = [primary_id]
    if statuses is not None:
        args.append(list(statuses))
        conditions.append(f"status = ANY(${len(args)}::text[])")
    if query:
        plain = fold_accents(query[:MAX_SEARCH])
        args.append("%" + plain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = len(args)
        args.extend([_ACCENTED, _UNACCENTED])
        folded = [f"translate(lower({column}), ${n + 1}, ${n + 2})" for column in SEARCHED]
        conditions.append("(" + " OR ".join(f"{f} LIKE ${n}" for f in folded) + ")")
    rows = await conn.fetch(
        f"SELECT {CANDIDACY_COLUMNS} FROM candidacies WHERE {' AND '.join(conditions)} "
        "ORDER BY name, id",
        *args,
    )
    return [Candidacy.from_row(r) for r in rows]


async def confirmed_candidates(conn: asyncpg.Connection, primary_id: uuid.UUID) -> list[Candidacy]:
    """The candidates for round 1: qualified and confirmed by themselves."""
    return await list_candidacies(conn, primary_id, statuses=["confirmed"])


async def candidacy_of(
    conn: asyncpg.Connection, primary_id: uuid.UUID, account_id: uuid.UUID
) -> Candidacy | None:
    """The citizen's live (or latest) candidacy in this primary."""
    row = await conn.fetchrow(
        f"""
        SELECT {CANDIDACY_COLUMNS} FROM candidacies
         WHERE primary_id = $1 AND account_id = $2
         ORDER BY (status IN ('rejected', 'withdrawn', 'excluded', 'declined', 'lapsed')),
                  created_at DESC
         LIMIT 1
        """,
        primary_id,
        account_id,
    )
    return Candidacy.from_row(row) if row else None


async def candidacies_of_account(
    conn: asyncpg.Connection, account_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT c.id, c.name, c.status, c.support_count, p.slug, p.title,
               (p.definition ->> 'threshold')::int AS threshold
          FROM candidacies c JOIN primaries p ON p.id = c.primary_id
         WHERE c.account_id = $1 ORDER BY c.created_at DESC
        """,
        account_id,
    )
    return [dict(r) for r in rows]


async def versions(conn: asyncpg.Connection, candidacy_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT version, name, bio, programme, links, photo_sha256, declaration, created_at
          FROM candidacy_versions WHERE candidacy_id = $1 ORDER BY version DESC
        """,
        candidacy_id,
    )
    return [dict(r) for r in rows]


async def photo(conn: asyncpg.Connection, candidacy_id: uuid.UUID) -> tuple[bytes, str] | None:
    row = await conn.fetchrow(
        "SELECT photo, photo_type FROM candidacies WHERE id = $1 AND photo IS NOT NULL",
        candidacy_id,
    )
    return (bytes(row["photo"]), row["photo_type"]) if row else None


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


def _entry(candidacy: Candidacy, action: str, reason: str = "") -> CandidacyEntry:
    return CandidacyEntry(
        candidate=str(candidacy.id),
        action=action,
        name=candidacy.name,
        declaration=candidacy.declaration,
        reason=reason,
    )


async def lock_candidacy(
    conn: asyncpg.Connection,
    candidacy_id: uuid.UUID | str,
    between: Callable[[Primary], Awaitable[None]] | None = None,
) -> tuple[Primary, Candidacy]:
    """Primary row FOR SHARE, then the candidacy FOR UPDATE (the order every service uses,
    supports included); `between` runs in between (refusals and locks of the caller's own
    that must come before the candidacy's)."""
    found = await get_candidacy(conn, candidacy_id)
    if found is None:
        raise Refused("candidacy-not-found")
    primary = await get_primary_by_id(conn, found.primary_id, for_share=True)
    assert primary is not None
    if between is not None:
        await between(primary)
    candidacy = await get_candidacy(conn, found.id, for_update=True)
    assert candidacy is not None
    return primary, candidacy


def _returned(row: asyncpg.Record | None) -> Candidacy:
    """The candidacy an INSERT or UPDATE … RETURNING wrote (updates run on a locked row)."""
    assert row is not None
    return Candidacy.from_row(row)


def _owner(candidacy: Candidacy, account_id: uuid.UUID) -> None:
    if candidacy.account_id != account_id:
        raise Refused("not-the-candidate")


def _state(candidacy: Candidacy, allowed: Sequence[str]) -> None:
    if candidacy.status not in allowed:
        raise Refused("candidacy-state", state=candidacy.status)


def _candidacies_open(primary: Primary, now: datetime | None) -> None:
    if not primary.accepts_candidacies(now):
        raise Refused("candidacies-not-open")


async def _set_status(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy: Candidacy,
    status: str,
    action: str | None,
    reason: str = "",
    extra_sql: str = "",
) -> Candidacy:
    row = await conn.fetchrow(
        f"""
        UPDATE candidacies SET status = $2, status_reason = $3, updated_at = now(){extra_sql}
         WHERE id = $1 RETURNING {CANDIDACY_COLUMNS}
        """,
        candidacy.id,
        status,
        reason,
    )
    updated = _returned(row)
    if action is not None:
        await log.append(conn, updated.primary_id, _entry(updated, action, reason))
    from voting.notifications import candidacy_changed

    await candidacy_changed(conn, updated, candidacy.status, reason)
    return updated


async def declare(
    conn: asyncpg.Connection,
    primary: Primary,
    account_id: uuid.UUID,
    data: Mapping[str, object],
    *,
    charter_accepted: bool,
    photo_bytes: bytes | None = None,
    now: datetime | None = None,
) -> Candidacy:
    """Create a draft candidacy (private, no log entry until it is submitted)."""
    declaration = validate_declaration(data)
    if charter_accepted is not True:
        raise Refused("charter-required", field="charter")
    kind = photo_type(photo_bytes) if photo_bytes else None
    locked = await get_primary_by_id(conn, primary.id, for_share=True)
    if locked is None:
        raise Refused("primary-not-found")
    _candidacies_open(locked, now)
    await _refuse_look_alike(conn, primary.id, declaration.name)
    photo_sha = hashlib.sha256(photo_bytes).hexdigest() if photo_bytes else ""
    digest = declaration_hash(
        declaration.name, declaration.bio, declaration.programme, declaration.links, photo_sha
    )
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO candidacies (primary_id, account_id, name, bio, programme, links, photo,
                                     photo_type, charter_accepted_at, declaration)
            VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, now(), $9)
            RETURNING {CANDIDACY_COLUMNS}
            """,
            primary.id,
            account_id,
            declaration.name,
            declaration.bio,
            declaration.programme,
            _json(declaration.links),
            photo_bytes or None,
            kind,
            digest,
        )
    except asyncpg.UniqueViolationError:  # candidacies_one_live_per_account
        raise Refused("already-declared") from None
    return _returned(row)


def _json(links: Sequence[str]) -> str:
    import json

    return json.dumps(links, ensure_ascii=False, separators=(",", ":"))


async def _add_version(
    conn: asyncpg.Connection, candidacy: Candidacy, at: datetime | None = None
) -> None:
    """The public version, dated `at` (the instant its log entry carries) or now."""
    await conn.execute(
        """
        INSERT INTO candidacy_versions (candidacy_id, version, name, bio, programme, links,
                                        photo_sha256, declaration, created_at)
        VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, coalesce($9, now()))
        """,
        candidacy.id,
        candidacy.version,
        candidacy.name,
        candidacy.bio,
        candidacy.programme,
        _json(candidacy.links),
        candidacy.photo_sha256,
        candidacy.declaration,
        at,
    )


async def revise(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    data: Mapping[str, object],
    *,
    photo_bytes: bytes | None = None,
    remove_photo: bool = False,
) -> Candidacy:
    """Edit the declaration. A draft changes in place; once submitted, each change is a new
    public version and a `revised` entry. Frozen once the candidate has qualified."""
    declaration = validate_declaration(data)
    kind = photo_type(photo_bytes) if photo_bytes else None
    _primary, candidacy = await lock_candidacy(conn, candidacy_id)
    _owner(candidacy, account_id)
    if candidacy.status in ("qualified", "confirmed", "declined", "lapsed"):
        raise Refused("candidacy-qualified")
    _state(candidacy, EDITABLE)
    await _refuse_look_alike(conn, candidacy.primary_id, declaration.name, candidacy.id)
    photo_sql = ""
    args: list[object] = [
        candidacy.id, declaration.name, declaration.bio, declaration.programme,
        _json(declaration.links),
    ]  # fmt: skip
    if photo_bytes:
        args += [photo_bytes, kind]
        photo_sql = ", photo = $6, photo_type = $7"
    elif remove_photo:
        photo_sql = ", photo = NULL, photo_type = NULL"
    row = await conn.fetchrow(
        f"""
        UPDATE candidacies SET name = $2, bio = $3, programme = $4, links = $5::text::jsonb,
               updated_at = now(){photo_sql}
         WHERE id = $1 RETURNING {CANDIDACY_COLUMNS}
        """,
        *args,
    )
    updated = _returned(row)
    digest = hashlib.sha256(updated.declaration_text()).hexdigest()
    if digest == candidacy.declaration:
        return updated
    public = candidacy.status != "draft"
    row = await conn.fetchrow(
        f"""
        UPDATE candidacies SET declaration = $2, version = version + $3
         WHERE id = $1 RETURNING {CANDIDACY_COLUMNS}
        """,
        candidacy.id,
        digest,
        1 if public else 0,
    )
    updated = _returned(row)
    if public:
        await _add_version(conn, updated)
        await log.append(conn, updated.primary_id, _entry(updated, "revised"))
    return updated


async def set_photo(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    photo_bytes: bytes | None,
) -> Candidacy:
    """Replace (or with None, remove) the photo and keep the rest of the declaration: a
    revision like any other (a new public version and a `revised` entry once submitted)."""
    if photo_bytes is not None:
        photo_type(photo_bytes)  # refuse before taking any lock
    _primary, candidacy = await lock_candidacy(conn, candidacy_id)
    current = {
        "name": candidacy.name,
        "bio": candidacy.bio,
        "programme": candidacy.programme,
        "links": candidacy.links,
    }
    return await revise(
        conn, log, candidacy.id, account_id, current,
        photo_bytes=photo_bytes, remove_photo=photo_bytes is None,
    )  # fmt: skip


async def submit(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Candidacy:
    """draft → submitted: the declaration becomes version 1 and enters the log."""
    primary, candidacy = await lock_candidacy(conn, candidacy_id)
    _owner(candidacy, account_id)
    _state(candidacy, ("draft",))
    now = now or datetime.now(UTC)
    _candidacies_open(primary, now)
    row = await conn.fetchrow(
        f"""
        UPDATE candidacies SET status = 'submitted', version = 1, submitted_at = now(),
               updated_at = now()
         WHERE id = $1 RETURNING {CANDIDACY_COLUMNS}
        """,
        candidacy.id,
    )
    updated = _returned(row)
    await _add_version(conn, updated, now)
    await log.append(
        conn, updated.primary_id, _entry(updated, "submitted"), at=now
    )  # dated when the candidacies phase was checked open (§9 check 11)
    return updated


async def _moderate(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    action: str,
    status: str,
    reason: str | None = None,
    extra_sql: str = "",
) -> Candidacy:
    """The organiser's `action` (a key of MODERATION_STATES) sets `status`, logged as it; a
    refusal or an exclusion needs a public reason (checked before any lock)."""
    text = "" if reason is None else _reason(reason, required=True)
    _primary, candidacy = await lock_candidacy(conn, candidacy_id)
    _state(candidacy, MODERATION_STATES[action])
    return await _set_status(conn, log, candidacy, status, status, text, extra_sql)


async def publish(
    conn: asyncpg.Connection, log: LogAppender, candidacy_id: uuid.UUID | str
) -> Candidacy:
    """The organiser accepts: submitted → published (collecting supports)."""
    return await _moderate(
        conn, log, candidacy_id, "accept", "published", extra_sql=", published_at = now()"
    )


async def reject(
    conn: asyncpg.Connection, log: LogAppender, candidacy_id: uuid.UUID | str, reason: str
) -> Candidacy:
    """The organiser refuses a submitted candidacy, with a public reason."""
    return await _moderate(conn, log, candidacy_id, "reject", "rejected", reason)


async def exclude(
    conn: asyncpg.Connection, log: LogAppender, candidacy_id: uuid.UUID | str, reason: str
) -> Candidacy:
    """The organiser excludes a live candidacy at any time, with a public reason."""
    return await _moderate(conn, log, candidacy_id, "exclude", "excluded", reason)


async def withdraw(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    reason: str = "",
) -> Candidacy:
    """The candidate withdraws at any time (a draft leaves no trace in the log)."""
    text = _reason(reason, required=False)
    _primary, candidacy = await lock_candidacy(conn, candidacy_id)
    _owner(candidacy, account_id)
    _state(candidacy, ("draft", *LIVE))
    action = None if candidacy.status == "draft" else "withdrawn"
    return await _set_status(conn, log, candidacy, "withdrawn", action, text)


async def _answer(
    conn: asyncpg.Connection,
    log: LogAppender,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    *,
    answer: str,
) -> Candidacy:
    """A qualified candidate confirms (`confirmed`) or declines (`declined`) taking part in
    the vote, until round 1 opens: `answer` is the candidacy's new status."""
    primary, candidacy = await lock_candidacy(conn, candidacy_id)
    _owner(candidacy, account_id)
    _state(candidacy, ("qualified",))
    if await voting_has_started(conn, primary.id):
        raise Refused("candidate-list-closed")
    return await _set_status(conn, log, candidacy, answer, answer)


# The candidate's answer, as the pages and the API call it: (conn, log, candidacy, account).
Answer = Callable[
    [asyncpg.Connection, LogAppender, uuid.UUID | str, uuid.UUID], Awaitable[Candidacy]
]
confirm: Answer = partial(_answer, answer="confirmed")
decline: Answer = partial(_answer, answer="declined")


async def lapse_unconfirmed(
    conn: asyncpg.Connection, log: LogAppender, primary_id: uuid.UUID
) -> list[Candidacy]:
    """At the opening of round 1 (the caller holds the primary row FOR UPDATE, so no
    confirmation can slip in): every candidacy still `qualified` lapses, with a `candidacy`
    entry of action `lapsed` saying why it is not on the ballot (docs/audit-log.md §8)."""
    rows = await conn.fetch(
        f"SELECT {CANDIDACY_COLUMNS} FROM candidacies WHERE primary_id = $1 "
        "AND status = 'qualified' ORDER BY name, id FOR UPDATE",
        primary_id,
    )
    return [
        await _set_status(conn, log, Candidacy.from_row(row), "lapsed", "lapsed", LAPSED_REASON)
        for row in rows
    ]
