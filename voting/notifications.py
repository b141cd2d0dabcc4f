"""Notifications by mail: what happened to a candidacy, a round, a supported candidate.

Each function is called by the service that makes the change, inside its transaction, and
queues its mail there (`voting.mail.enqueue`): a mail goes out if and only if the change
commits. A mail is written in its recipient's language (`accounts.lang`), only to those who
did not turn its kind off (`accounts.mail_opt_out`), and carries a one-click unsubscribe
link (RFC 8058: `List-Unsubscribe` with an https/http URL and `List-Unsubscribe-Post`). The
link is signed with a key of the account (`accounts.mail_key`, HMAC-SHA256), so that it works
without signing in and names the account and the kind of mail it stops.

Kinds a citizen chooses from (the account page, /account/mail):

* `candidacy` — my candidacy accepted or refused (with the public reason), qualified (confirm
  before round 1 opens);
* `rounds` — a round opens (its candidates, and whoever supported a candidate of the primary);
* `results` — a round's results are out (the same people, and the round's voters);
* `withdrawals` — a candidate I support withdrew.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

import asyncpg

from voting import mail
from voting.definition import DefinitionBody

if TYPE_CHECKING:
    from voting.candidacies import Candidacy  # which imports this module

KINDS = ("candidacy", "rounds", "results", "withdrawals")
LANGS = ("fr", "en")

public_url = "http://127.0.0.1:8000"
"""Where links in mail point (SCRUTIN_PUBLIC_URL); the app sets it at start-up."""


def configure(base_url: str) -> None:
    global public_url
    public_url = base_url.rstrip("/")


# ------------------------------------------------------------------------------ the texts

_FOOTER = {
    "fr": (
        "\n\n--\nScrutin, primaires citoyennes.\n"
        "Ne plus recevoir ce type de courriel ({what}) : {unsubscribe}\n"
        "Choisir les courriels que vous recevez : {preferences}\n"
    ),
    "en": (
        "\n\n--\nScrutin, citizen primaries.\n"
        "Stop receiving this kind of mail ({what}): {unsubscribe}\n"
        "Choose which mail you receive: {preferences}\n"
    ),
}

KIND_LABELS = {
    "fr": {
        "candidacy": "les nouvelles de ma candidature",
        "rounds": "l’ouverture des tours de vote",
        "results": "les résultats",
        "withdrawals": "le retrait d’un candidat que je soutiens",
    },
    "en": {
        "candidacy": "news of my candidacy",
        "rounds": "voting rounds opening",
        "results": "results",
        "withdrawals": "a candidate I support withdrawing",
    },
}

_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "published": {
        "fr": (
            "Votre candidature « {name} » est acceptée — {title}",
            "Bonjour,\n\nVotre candidature « {name} » à la primaire « {title} » a été acceptée : "
            "elle est publiée et peut recueillir des soutiens.\n\n{page}",
        ),
        "en": (
            "Your candidacy “{name}” is accepted — {title}",
            "Hello,\n\nYour candidacy “{name}” in the primary “{title}” has been accepted: it is "
            "published and can gather supports.\n\n{page}",
        ),
    },
    "rejected": {
        "fr": (
            "Votre candidature « {name} » est refusée — {title}",
            "Bonjour,\n\nVotre candidature « {name} » à la primaire « {title} » a été refusée.\n"
            "\nMotif public : {reason}\n\n{page}",
        ),
        "en": (
            "Your candidacy “{name}” is refused — {title}",
            "Hello,\n\nYour candidacy “{name}” in the primary “{title}” has been refused.\n"
            "\nPublic reason: {reason}\n\n{page}",
        ),
    },
    "qualified": {
        "fr": (
            "Votre candidature est qualifiée : confirmez-la avant le {deadline} — {title}",
            "Bonjour,\n\nVotre candidature « {name} » à la primaire « {title} » a recueilli "
            "assez de soutiens : elle est qualifiée.\n\nConfirmez votre participation avant le "
            "{deadline}, ouverture du premier tour ; sans confirmation, votre nom ne sera pas "
            "sur le bulletin.\n\n{page}",
        ),
        "en": (
            "Your candidacy qualified: confirm it before {deadline} — {title}",
            "Hello,\n\nYour candidacy “{name}” in the primary “{title}” has gathered enough "
            "supports: it qualified.\n\nConfirm that you take part before {deadline}, when the "
            "first round opens; without a confirmation, your name will not be on the ballot."
            "\n\n{page}",
        ),
    },
    "round-open": {
        "fr": (
            "Le tour {round} est ouvert — {title}",
            "Bonjour,\n\nLe tour {round} de la primaire « {title} » est ouvert au vote{until}."
            "\n\nVoter : {page}",
        ),
        "en": (
            "Round {round} is open — {title}",
            "Hello,\n\nRound {round} of the primary “{title}” is open for voting{until}."
            "\n\nVote: {page}",
        ),
    },
    "results": {
        "fr": (
            "Résultats du tour {round} — {title}",
            "Bonjour,\n\nLes résultats du tour {round} de la primaire « {title} » sont publiés."
            "\n\n{page}",
        ),
        "en": (
            "Results of round {round} — {title}",
            "Hello,\n\nThe results of round {round} of the primary “{title}” are published."
            "\n\n{page}",
        ),
    },
    "withdrawn": {
        "fr": (
            "« {name} », que vous soutenez, a retiré sa candidature — {title}",
            "Bonjour,\n\n« {name} », que vous soutenez dans la primaire « {title} », a retiré "
            "sa candidature.{reason}\n\nVoir les autres candidats : {page}",
        ),
        "en": (
            "“{name}”, whom you support, withdrew — {title}",
            "Hello,\n\n“{name}”, whom you support in the primary “{title}”, has withdrawn their "
            "candidacy.{reason}\n\nSee the other candidates: {page}",
        ),
    },
}

KIND_OF = {
    "published": "candidacy",
    "rejected": "candidacy",
    "qualified": "candidacy",
    "round-open": "rounds",
    "results": "results",
    "withdrawn": "withdrawals",
}


def _when(instant: datetime | str | None, lang: str) -> str:
    if instant is None:
        return "l’ouverture du premier tour" if lang == "fr" else "the first round opens"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return instant.strftime("%d/%m/%Y %H:%M UTC" if lang == "fr" else "%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------------ unsubscribe tokens


def _mac(key: bytes, account_id: uuid.UUID, kind: str) -> str:
    return hmac.new(key, f"{account_id}:{kind}".encode(), hashlib.sha256).hexdigest()[:32]


def make_token(key: bytes, account_id: uuid.UUID, kind: str) -> str:
    return f"{account_id.hex}.{kind}.{_mac(key, account_id, kind)}"


async def read_token(conn: asyncpg.Connection, token: str) -> tuple[uuid.UUID, str] | None:
    """(account id, kind) that a genuine unsubscribe token names, else None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[1] not in KINDS or len(token) > 120:
        return None
    try:
        account_id = uuid.UUID(hex=parts[0])
    except ValueError:
        return None
    key = await conn.fetchval("SELECT mail_key FROM accounts WHERE id = $1", account_id)
    if key is None or not hmac.compare_digest(_mac(bytes(key), account_id, parts[1]), parts[2]):
        return None
    return account_id, parts[1]


async def unsubscribe(conn: asyncpg.Connection, account_id: uuid.UUID, kind: str) -> None:
    await conn.execute(
        "UPDATE accounts SET mail_opt_out = array_append(mail_opt_out, $2) "
        "WHERE id = $1 AND NOT ($2 = ANY (mail_opt_out))",
        account_id,
        kind,
    )


class Preferences(TypedDict):
    lang: str
    wanted: list[str]  # the kinds of mail the citizen receives, among KINDS


async def preferences(conn: asyncpg.Connection, account_id: uuid.UUID) -> Preferences:
    row = await conn.fetchrow("SELECT lang, mail_opt_out FROM accounts WHERE id = $1", account_id)
    assert row is not None, account_id
    return {"lang": row["lang"], "wanted": [k for k in KINDS if k not in row["mail_opt_out"]]}


async def set_preferences(
    conn: asyncpg.Connection, account_id: uuid.UUID, wanted: Iterable[str], lang: str
) -> None:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    chosen = set(wanted)
    await conn.execute(
        "UPDATE accounts SET mail_opt_out = $2, lang = $3 WHERE id = $1",
        account_id,
        [k for k in KINDS if k not in chosen],
        lang,
    )


async def set_language(conn: asyncpg.Connection, account_id: uuid.UUID, lang: str) -> None:
    if lang in LANGS:
        await conn.execute("UPDATE accounts SET lang = $2 WHERE id = $1", account_id, lang)


# ------------------------------------------------------------------------------ sending


async def _send(
    conn: asyncpg.Connection,
    event: str,
    account_ids: Iterable[uuid.UUID],
    values: Mapping[str, str],
    values_by_lang: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Queue `event`'s mail to each account that wants its kind; return how many.

    Four statements whatever the number of recipients (a round opening may write to every
    supporter of the primary): draw the unsubscribe key of those without one, read them,
    then insert every mail at once, in the caller's transaction like `voting.mail.enqueue`.
    """
    kind = KIND_OF[event]
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return 0
    # gen_random_uuid() draws from PostgreSQL's strong random source: two make a 32-byte key.
    await conn.execute(
        "UPDATE accounts"
        " SET mail_key = uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())"
        " WHERE id = ANY($1::uuid[]) AND mail_key IS NULL",
        ids,
    )
    rows = await conn.fetch(
        "SELECT id, email, lang, mail_key FROM accounts"
        " WHERE id = ANY($1::uuid[]) AND NOT ($2 = ANY (mail_opt_out))",
        ids,
        kind,
    )
    recipients, subjects, bodies, headers = [], [], [], []
    for row in sorted(rows, key=lambda r: r["email"]):
        lang = row["lang"] if row["lang"] in LANGS else "fr"
        token = make_token(bytes(row["mail_key"]), row["id"], kind)
        link = f"{public_url}/unsubscribe?token={token}"
        words = {**values, **((values_by_lang or {}).get(lang) or {})}
        subject, body = _TEXTS[event][lang]
        text = body.format(**words) + _FOOTER[lang].format(
            what=KIND_LABELS[lang][kind],
            unsubscribe=link,
            preferences=f"{public_url}/account/mail",
        )
        subject = " ".join(subject.format(**words).split())  # no line break in a header
        recipients.append(row["email"])
        subjects.append(subject[:300])
        bodies.append(text)
        headers.append(
            json.dumps(
                {
                    "List-Unsubscribe": f"<{link}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                }
            )
        )
    if recipients:
        rows = await conn.fetch(
            "INSERT INTO mail_queue (recipient, subject, body, headers)"
            " SELECT r, s, b, h::jsonb FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[]) AS m(r, s, b, h) RETURNING id",
            recipients,
            subjects,
            bodies,
            headers,
        )
        await mail.defer_delivery(conn, [row["id"] for row in rows])
    return len(recipients)


async def _primary(conn: asyncpg.Connection, primary_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT slug, title, definition FROM primaries WHERE id = $1", primary_id
    )
    assert row is not None, primary_id
    return row


def _definition(row: asyncpg.Record) -> DefinitionBody:
    value = row["definition"]  # jsonb NOT NULL: the primary's validated definition
    definition: DefinitionBody = json.loads(value) if isinstance(value, str) else value
    return definition


async def candidacy_changed(
    conn: asyncpg.Connection, candidacy: Candidacy, before: str, reason: str = ""
) -> None:
    """A candidacy's status changed from `before` to `candidacy.status`."""
    status = candidacy.status
    if status not in ("published", "rejected", "withdrawn") or before == "draft":
        return
    primary = await _primary(conn, candidacy.primary_id)
    base = f"{public_url}/primaries/{primary['slug']}"
    values = {"name": candidacy.name, "title": primary["title"]}
    if status == "withdrawn":
        supporters = await conn.fetch(
            "SELECT account_id FROM supports WHERE candidacy_id = $1", candidacy.id
        )
        said = {
            "fr": {"reason": f"\n\nSon message : {reason}" if reason else ""},
            "en": {"reason": f"\n\nTheir message: {reason}" if reason else ""},
        }
        await _send(
            conn, "withdrawn", [r["account_id"] for r in supporters],
            {**values, "page": f"{base}/candidates"}, said,
        )  # fmt: skip
        return
    page = f"{base}/candidates/{candidacy.id}"
    await _send(conn, status, [candidacy.account_id], {**values, "reason": reason, "page": page})


async def qualified(
    conn: asyncpg.Connection, primary_id: uuid.UUID, candidacy_id: uuid.UUID
) -> None:
    """The candidacy reached the threshold: confirm before round 1 opens."""
    primary = await _primary(conn, primary_id)
    row = await conn.fetchrow(
        "SELECT account_id, name FROM candidacies WHERE id = $1", candidacy_id
    )
    assert row is not None, candidacy_id
    start = next(
        (p["start"] for p in _definition(primary).get("phases", []) if p["name"] == "round-1"),
        None,
    )
    page = f"{public_url}/primaries/{primary['slug']}/candidates/{candidacy_id}"
    await _send(
        conn, "qualified", [row["account_id"]],
        {"name": row["name"], "title": primary["title"], "page": page},
        {lang: {"deadline": _when(start, lang)} for lang in LANGS},
    )  # fmt: skip


async def _round_audience(
    conn: asyncpg.Connection, primary_id: uuid.UUID, candidate_ids: Iterable[str]
) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """
        SELECT account_id FROM candidacies WHERE id = ANY($2::uuid[])
        UNION SELECT account_id FROM supports WHERE primary_id = $1
        """,
        primary_id,
        [uuid.UUID(str(c)) for c in candidate_ids],
    )
    return [r["account_id"] for r in rows]


async def round_opened(
    conn: asyncpg.Connection,
    primary_id: uuid.UUID,
    number: int,
    candidate_ids: Iterable[str],
    closes_at: datetime | None = None,
) -> None:
    primary = await _primary(conn, primary_id)
    audience = await _round_audience(conn, primary_id, candidate_ids)
    until = {
        "fr": {"until": f" jusqu’au {_when(closes_at, 'fr')}" if closes_at else ""},
        "en": {"until": f" until {_when(closes_at, 'en')}" if closes_at else ""},
    }
    page = f"{public_url}/primaries/{primary['slug']}/rounds/{number}/vote"
    await _send(
        conn, "round-open", audience,
        {"round": str(number), "title": primary["title"], "page": page}, until,
    )  # fmt: skip


async def results_published(
    conn: asyncpg.Connection, primary_id: uuid.UUID, number: int, candidate_ids: Iterable[str]
) -> None:
    primary = await _primary(conn, primary_id)
    audience = await _round_audience(conn, primary_id, candidate_ids)
    voters = await conn.fetch(
        "SELECT v.account_id FROM voters_voted v JOIN rounds r ON r.id = v.round_id "
        "WHERE r.primary_id = $1 AND r.number = $2",
        primary_id,
        number,
    )
    page = f"{public_url}/primaries/{primary['slug']}/rounds/{number}/results"
    await _send(
        conn, "results", [*audience, *(r["account_id"] for r in voters)],
        {"round": str(number), "title": primary["title"], "page": page},
    )  # fmt: skip
