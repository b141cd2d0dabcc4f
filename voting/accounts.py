"""Accounts: e-mail sign-in (single-use link and short code), organiser passwords, sessions.

Every function takes an asyncpg connection inside a transaction opened by the caller.
One mailbox is one account: addresses that reach the same mailbox (`a+tag@…`, dots at
gmail.com) share a mailbox key (the SQL function `scrutin_mailbox_key`, migration 0007), and
signing in with any of them opens the account that holds that mailbox.
Secrets never reach the database in clear: link and session tokens are stored as SHA-256
hashes, short codes as an HMAC keyed with the service secret, passwords as Argon2id. A
sign-in link and code are derived from the service secret and the request's id, so that the
mail carrying them is written at sending time (`signin_mail`), never stored in the queue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

import asyncpg
import nacl.exceptions
import nacl.pwhash

from voting import mail
from voting.refusals import Refused

SIGNIN_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(days=30)
MAX_CODE_ATTEMPTS = 5
CODE_DIGITS = 6

MAX_EMAIL_LENGTH = 254
MAX_DISPLAY_NAME_LENGTH = 120
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 10
MAX_VOTER_NUMBER_LENGTH = 64
MAX_TOKEN_LENGTH = 128

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
VOTER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")

_ACCOUNT_COLUMNS = "id, email, display_name, is_organiser"


@dataclass(frozen=True)
class Account:
    """A signed-in person, as routes and templates see them (`request.scope["user"]`)."""

    id: UUID
    email: str
    display_name: str
    is_organiser: bool

    @property
    def name(self) -> str:
        """What to show: the display name, else the part of the e-mail before the @."""
        return self.display_name or self.email.split("@", 1)[0]


class InvalidEmail(ValueError):
    """The text is not an e-mail address Scrutin can send to."""


@dataclass(frozen=True)
class SigninRequest:
    """What was sent: the secrets exist in clear only here and in the queued mail."""

    email: str
    link_token: str
    code: str
    expires_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_email(value: str) -> str:
    """Lower-cased, IDNA-encoded address; raise InvalidEmail when it cannot be one."""
    text = value.strip()
    if not text or len(text) > MAX_EMAIL_LENGTH or text.count("@") != 1:
        raise InvalidEmail(value)
    local, domain = text.rsplit("@", 1)
    if not local or len(local) > 64 or not _LOCAL.fullmatch(local):
        raise InvalidEmail(value)
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidEmail(value) from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidEmail(value)
    if not _TLD.fullmatch(labels[-1]):
        raise InvalidEmail(value)
    email = f"{local.lower()}@{domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(value)
    return email


def _sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _code_hash(secret_key: str, token_id: UUID, code: str) -> bytes:
    message = b"scrutin signin code\x00" + token_id.bytes + code.encode("ascii")
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).digest()


def signin_secrets(secret_key: str, token_id: UUID) -> tuple[str, str]:
    """(link token, short code) of the sign-in request `token_id`: unguessable without the
    service secret, and computed again when the mail is sent rather than stored."""
    key = secret_key.encode("utf-8")
    link = hmac.new(key, b"scrutin signin link\x00" + token_id.bytes, hashlib.sha256).digest()
    draw = hmac.new(key, b"scrutin signin draw\x00" + token_id.bytes, hashlib.sha256).digest()
    code = int.from_bytes(draw[:8], "big") % 10**CODE_DIGITS
    token = base64.urlsafe_b64encode(link).decode("ascii").rstrip("=")
    return token, f"{code:0{CODE_DIGITS}d}"


def signin_subject(code: str) -> str:
    # Bilingual like the text: nothing tells which language the reader wants.
    return f"Scrutin : votre code de connexion {code} / your sign-in code"


SIGNIN_QUEUED_SUBJECT = "Scrutin : connexion / sign-in"  # what the queue keeps: no code


async def signin_mail(
    conn: asyncpg.Connection,
    token_id: UUID,
    *,
    secret_key: str,
    base_url: str,
    now: datetime | None = None,
) -> tuple[str, str] | None:
    """(subject, text) of the sign-in mail of request `token_id`, written now; None when
    the link was used or expired before it could be sent (nothing worth sending)."""
    live = await conn.fetchval(
        "SELECT used_at IS NULL AND expires_at > $2 FROM signin_tokens WHERE id = $1",
        token_id,
        now or utcnow(),
    )
    if not live:
        return None
    token, code = signin_secrets(secret_key, token_id)
    link = f"{base_url.rstrip('/')}/signin/link?token={token}"
    return signin_subject(code), signin_mail_text(link, code)


def _account(row: asyncpg.Record | None) -> Account | None:
    if row is None:
        return None
    return Account(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        is_organiser=row["is_organiser"],
    )


def signin_mail_text(link: str, code: str) -> str:
    """The sign-in mail, French first then English (mail has no page language)."""
    minutes = int(SIGNIN_TTL.total_seconds() // 60)
    return (
        "Bonjour,\n\n"
        "Pour vous connecter à Scrutin, ouvrez ce lien :\n"
        f"{link}\n\n"
        f"ou saisissez ce code : {code}\n\n"
        f"Le lien et le code ne servent qu’une fois et expirent dans {minutes} minutes.\n"
        "Si vous n’avez rien demandé, ignorez ce message.\n\n"
        "-- \n"
        "Hello,\n\n"
        "To sign in to Scrutin, open the link above or enter the code "
        f"{code}. They work once and expire in {minutes} minutes.\n"
        "If you did not ask for this, ignore this message.\n"
    )


async def request_signin(
    conn: asyncpg.Connection,
    email: str,
    *,
    secret_key: str,
    now: datetime | None = None,
) -> SigninRequest:
    """Create a sign-in link and code for `email` and queue the mail that carries them.

    Works the same whether an account exists or not (the account is created on the first
    successful sign-in), so that the answer reveals nothing about who has an account.
    """
    email = normalize_email(email)
    now = now or utcnow()
    token_id = await conn.fetchval("SELECT gen_random_uuid()")
    link_token, code = signin_secrets(secret_key, token_id)
    expires_at = now + SIGNIN_TTL
    await conn.execute(
        """
        INSERT INTO signin_tokens (id, email, link_hash, code_hash, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        token_id,
        email,
        _sha256(link_token),
        _code_hash(secret_key, token_id, code),
        now,
        expires_at,
    )
    # The queue keeps a reference: the sender writes the link and code (mail_service).
    await mail.enqueue(conn, email, SIGNIN_QUEUED_SUBJECT, "", signin_token_id=token_id)
    return SigninRequest(email=email, link_token=link_token, code=code, expires_at=expires_at)


async def mailbox_key(conn: asyncpg.Connection, email: str) -> str:
    """The mailbox an (already normalised) address delivers to: `a.b+x@gmail.com` and
    `ab@gmail.com` give `ab@gmail.com`, `a+1@example.org` gives `a@example.org`."""
    key: str = await conn.fetchval("SELECT scrutin_mailbox_key($1)", email)
    return key


_HOLDER = "mailbox_key = scrutin_mailbox_key($1) AND mailbox_holder IS NULL"


async def _complete_signin(conn: asyncpg.Connection, email: str, now: datetime) -> Account:
    """Open the account that holds the address's mailbox, creating it on first sign-in;
    every other pending link or code for the address dies."""
    row = None
    for _attempt in range(3):
        row = await conn.fetchrow(
            f"""
            UPDATE accounts SET email_verified_at = coalesce(email_verified_at, $2),
                                last_login_at = $2
            WHERE {_HOLDER} RETURNING {_ACCOUNT_COLUMNS}
            """,
            email,
            now,
        )
        if row is not None:
            break
        # A new mailbox; a concurrent first sign-in of the same mailbox (another address)
        # makes this insert do nothing, and the update above then finds its account.
        row = await conn.fetchrow(
            f"""
            INSERT INTO accounts (email, email_verified_at, last_login_at) VALUES ($1, $2, $2)
            ON CONFLICT DO NOTHING RETURNING {_ACCOUNT_COLUMNS}
            """,
            email,
            now,
        )
        if row is not None:
            break
        # The address itself belongs to an account detached from a mailbox whose holder
        # is gone: it holds its mailbox again.
        await conn.execute(
            "UPDATE accounts SET mailbox_holder = NULL WHERE email = $1"
            " AND NOT EXISTS (SELECT 1 FROM accounts WHERE " + _HOLDER + ")",
            email,
        )
    await conn.execute(
        "UPDATE signin_tokens SET used_at = $2 WHERE email = $1 AND used_at IS NULL", email, now
    )
    account = _account(row)
    assert account is not None
    return account


async def link_email(
    conn: asyncpg.Connection, link_token: str, *, now: datetime | None = None
) -> str | None:
    """The address a still valid link token would sign into, without spending it (the
    confirmation page says which account it is); None for a used, expired or unknown one."""
    if not link_token or len(link_token) > MAX_TOKEN_LENGTH:
        return None
    email: str | None = await conn.fetchval(
        "SELECT email FROM signin_tokens"
        " WHERE link_hash = $1 AND used_at IS NULL AND expires_at > $2",
        _sha256(link_token),
        now or utcnow(),
    )
    return email


async def signin_with_link(
    conn: asyncpg.Connection, link_token: str, *, now: datetime | None = None
) -> Account | None:
    """The account for a valid, unused, unexpired link token (which is then spent), else None.

    The single UPDATE … WHERE used_at IS NULL is what makes the token single-use under
    concurrency: a second request waits for the first one's row lock, then matches nothing.
    """
    if not link_token or len(link_token) > MAX_TOKEN_LENGTH:
        return None
    now = now or utcnow()
    email = await conn.fetchval(
        """
        UPDATE signin_tokens SET used_at = $2
        WHERE link_hash = $1 AND used_at IS NULL AND expires_at > $2
        RETURNING email
        """,
        _sha256(link_token),
        now,
    )
    if email is None:
        return None
    return await _complete_signin(conn, email, now)


async def signin_with_code(
    conn: asyncpg.Connection,
    email: str,
    code: str,
    *,
    secret_key: str,
    now: datetime | None = None,
) -> Account | None:
    """The account when `code` matches a pending code for `email`, else None.

    Each wrong code counts against every pending code of that address; after
    MAX_CODE_ATTEMPTS wrong tries they stop working (a new mail must be asked for).
    """
    try:
        email = normalize_email(email)
    except InvalidEmail:
        return None
    code = re.sub(r"[\s-]", "", code or "")
    if not code.isascii() or not code.isdigit() or len(code) != CODE_DIGITS:
        return None
    now = now or utcnow()
    rows = await conn.fetch(
        """
        SELECT id, code_hash FROM signin_tokens
        WHERE email = $1 AND used_at IS NULL AND expires_at > $2 AND failed_attempts < $3
        ORDER BY created_at DESC
        FOR UPDATE
        """,
        email,
        now,
        MAX_CODE_ATTEMPTS,
    )
    for row in rows:
        if hmac.compare_digest(row["code_hash"], _code_hash(secret_key, row["id"], code)):
            await conn.execute(
                "UPDATE signin_tokens SET used_at = $2 WHERE id = $1", row["id"], now
            )
            return await _complete_signin(conn, email, now)
    if rows:
        await conn.execute(
            "UPDATE signin_tokens SET failed_attempts = failed_attempts + 1 WHERE id = ANY($1)",
            [row["id"] for row in rows],
        )
    return None


def hash_password(password: str) -> str:
    """An Argon2id hash string (nacl.pwhash), as stored in accounts.password_hash."""
    return nacl.pwhash.argon2id.str(password.encode("utf-8")).decode("ascii")


@cache
def _decoy_hash() -> bytes:
    return nacl.pwhash.argon2id.str(secrets.token_bytes(16))


def _verify_password(stored: bytes | None, password: str) -> bool:
    try:
        return nacl.pwhash.verify(stored or _decoy_hash(), password.encode("utf-8")) and bool(
            stored
        )
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False


async def signin_with_password(
    conn: asyncpg.Connection, email: str, password: str, *, now: datetime | None = None
) -> Account | None:
    """The account when the password matches its Argon2id hash, else None.

    Unknown addresses and accounts without a password cost the same time as a wrong
    password, so the answer does not reveal which addresses have an account.
    """
    try:
        email = normalize_email(email)
    except InvalidEmail:
        email = ""
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        return None
    row = await conn.fetchrow(
        f"SELECT password_hash, email_verified_at FROM accounts WHERE {_HOLDER}", email
    )
    stored = row["password_hash"].encode("ascii") if row and row["password_hash"] else None
    if not await asyncio.to_thread(_verify_password, stored, password):
        return None
    return await _complete_signin(conn, email, now or utcnow())


async def set_password(conn: asyncpg.Connection, account_id: UUID, password: str | None) -> None:
    """Set (or with None, remove) an account's password."""
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise Refused("password-too-long", field="new_password")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise Refused("password-too-short", field="new_password")
    value = await asyncio.to_thread(hash_password, password) if password is not None else None
    await conn.execute("UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id, value)


CHANGE_NOTICE_MAIL = (
    "Bonjour,\n\n"
    "Le mot de passe de votre compte Scrutin vient d’être modifié ; vos autres sessions ont été"
    " fermées.\nSi ce n’est pas vous, connectez-vous par courriel et changez-le aussitôt.\n\n"
    "-- \n"
    "Hello,\n\n"
    "The password of your Scrutin account was just changed; your other sessions were closed.\n"
    "If this was not you, sign in by e-mail and change it at once.\n"
)


async def change_password(
    conn: asyncpg.Connection,
    account_id: UUID,
    *,
    current: str,
    new: str,
    keep_session: str | None = None,
) -> None:
    """An organiser sets or changes their password (Argon2id).

    Only organisers have one (citizens sign in by e-mail). When a password exists, `current`
    must match it. Every other session of the account ends, and a mail tells the owner.
    Raises Refused naming the field.
    """
    row = await conn.fetchrow(
        "SELECT email, is_organiser, password_hash FROM accounts WHERE id = $1 FOR UPDATE",
        account_id,
    )
    if row is None:
        raise Refused("account-not-found", field="account")
    if not row["is_organiser"]:
        raise Refused("password-organisers-only", field="new_password")
    if len(current or "") > MAX_PASSWORD_LENGTH:
        raise Refused("wrong-current-password", field="current_password")
    if row["password_hash"]:
        if not current:
            raise Refused("current-password-required", field="current_password")
        stored = row["password_hash"].encode("ascii")
        if not await asyncio.to_thread(_verify_password, stored, current):
            raise Refused("wrong-current-password", field="current_password")
    await set_password(conn, account_id, new)
    await conn.execute(
        "DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2",
        account_id,
        _sha256(keep_session or ""),
    )
    await mail.enqueue(conn, row["email"], "Scrutin : mot de passe modifié", CHANGE_NOTICE_MAIL)


async def open_session(
    conn: asyncpg.Connection, account_id: UUID, *, now: datetime | None = None
) -> str:
    """A new session token for the account (goes into the signed session cookie)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        _sha256(token),
        account_id,
        now,
        now + SESSION_TTL,
    )
    return token


async def session_account(
    conn: asyncpg.Connection, token: str, *, now: datetime | None = None
) -> Account | None:
    """The account behind a live session token, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = await conn.fetchrow(
        """
        SELECT a.id, a.email, a.display_name, a.is_organiser
        FROM sessions s JOIN accounts a ON a.id = s.account_id
        WHERE s.token_hash = $1 AND s.expires_at > $2
        """,
        _sha256(token),
        now or utcnow(),
    )
    return _account(row)


async def close_session(conn: asyncpg.Connection, token: str) -> None:
    """End one session (sign-out)."""
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", _sha256(token))


async def get_account(conn: asyncpg.Connection, account_id: UUID) -> Account | None:
    row = await conn.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id)
    return _account(row)


async def get_profile(conn: asyncpg.Connection, account_id: UUID) -> dict[str, Any]:
    """The fields of the "my account" page."""
    row = await conn.fetchrow(
        "SELECT email, display_name, is_organiser, password_hash IS NOT NULL"
        " AS has_password, created_at FROM accounts WHERE id = $1",
        account_id,
    )
    return dict(row) if row else {}


def clean_display_name(value: str) -> str:
    """Collapse whitespace, refuse control characters and overlong names."""
    text = " ".join((value or "").split())
    if len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise Refused("display-name-too-long", field="display_name")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise Refused("display-name-forbidden", field="display_name")
    return text


async def update_profile(
    conn: asyncpg.Connection, account_id: UUID, *, display_name: str
) -> Account:
    """Change the display name; raise Refused on a bad one.

    (Voter numbers are no longer typed on the account: an allow-listed number is claimed
    in a primary with its invitation code, voting.eligibility.claim_invitation.)
    """
    name = clean_display_name(display_name)
    row = await conn.fetchrow(
        f"UPDATE accounts SET display_name = $2 WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}",
        account_id,
        name,
    )
    account = _account(row)
    if account is None:
        raise Refused("account-not-found", field="account")
    return account
