"""Outgoing mail: a queue in the database, delivered by a background sender.

`enqueue` writes the mail and its delivery job (voting.jobs, the job queue shared by every
process) in the caller's transaction, so a mail exists exactly when the state change that
needs it committed; nothing is ever sent inside a request. The job worker of any process
delivers it through SMTP (aiosmtplib) when SMTP is configured, otherwise into
`<data dir>/outbox/` as one .eml file per message; a failure defers a new job after a
backoff, up to MAX_ATTEMPTS tries.

Secrets do not rest in the queue: a sign-in mail is queued as a reference to its request
(`signin_token_id`) and written at sending time by an `Expander` (voting.accounts.signin_mail
derives its link and code from the service secret); every body is blanked once sent (an
eligibility invitation carries its code).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import aiosmtplib
import asyncpg

from voting import jobs
from voting.outage import database_away

logger = logging.getLogger("scrutin.mail")

# `transport_for` and `mail_service` take the web app's objects (web.settings.Settings, the
# Starlette app): voting does not import web, and they arrive through the untyped `app.state`.

MAX_ATTEMPTS = 12
BATCH_SIZE = 20
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=2)
DEFAULT_SENDER = "scrutin@localhost"


# Writes a sign-in mail at sending time: (connection, signin token id) → (subject, text),
# or None when there is nothing worth sending any more (link used or expired).
Expander = Callable[[asyncpg.Connection, UUID], Awaitable[tuple[str, str] | None]]
NOT_SENT_EXPIRED = "sign-in link used or expired before it could be sent"


async def enqueue(
    conn: asyncpg.Connection,
    to: str,
    subject: str,
    text: str,
    *,
    signin_token_id: UUID | None = None,
) -> int:
    """Queue a plain-text mail in the caller's transaction; return its queue id.

    With `signin_token_id`, the subject and text are placeholders: the sender writes the
    mail from that sign-in request when it sends it. Its delivery job is queued in the same
    transaction: a worker takes it once it commits.
    """
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        raise ValueError("mail headers cannot contain line breaks")
    mail_id: int = await conn.fetchval(
        "INSERT INTO mail_queue (recipient, subject, body, signin_token_id)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        to,
        subject[:300],
        text,
        signin_token_id,
    )
    await defer_delivery(conn, [mail_id])
    return mail_id


async def defer_delivery(
    conn: asyncpg.Connection, mail_ids: list[int], *, at: datetime | None = None
) -> None:
    """Queue the delivery jobs of these mails, in the caller's transaction."""
    args = [{"mail_id": mail_id} for mail_id in mail_ids]
    await jobs.defer(conn, jobs.MAIL_QUEUE, jobs.SEND_MAIL, args, at=at)


async def enqueue_many(conn: asyncpg.Connection, messages: list[tuple[str, str, str]]) -> int:
    """Queue many (to, subject, text) mails with one statement (an import's invitations);
    return how many."""
    for to, subject, _text in messages:
        if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
            raise ValueError("mail headers cannot contain line breaks")
    if not messages:
        return 0
    rows = await conn.fetch(
        "INSERT INTO mail_queue (recipient, subject, body)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) RETURNING id",
        [to for to, _, _ in messages],
        [subject[:300] for _, subject, _ in messages],
        [text for _, _, text in messages],
    )
    await defer_delivery(conn, [row["id"] for row in rows])
    return len(messages)


def build_message(
    sender: str,
    to: str,
    subject: str,
    text: str,
    mail_id: int,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """`headers`: extra ones queued with the mail (List-Unsubscribe, voting.notifications)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=f"scrutin.{mail_id}")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message


class Transport(Protocol):
    async def deliver(self, message: EmailMessage, mail_id: int) -> None: ...


@dataclass
class SmtpTransport:
    """Delivery through an SMTP relay (settings.smtp)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout: float = 30.0

    async def deliver(self, message: EmailMessage, mail_id: int) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout,
        )


@dataclass
class OutboxTransport:
    """Delivery into a folder, one .eml file per message (demo and development)."""

    folder: Path

    async def deliver(self, message: EmailMessage, mail_id: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{mail_id:010d}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(message))
        os.replace(partial, path)  # readers never see half a message


def outbox_folder(data_dir: Path) -> Path:
    return Path(data_dir) / "outbox"


def transport_for(settings: Any) -> tuple[Transport, str]:
    """The transport and the From address that `settings` ask for."""
    smtp = getattr(settings, "smtp", None)
    if smtp is not None:
        transport = SmtpTransport(
            host=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            starttls=smtp.starttls,
        )
        return transport, smtp.sender
    return OutboxTransport(outbox_folder(settings.data_dir)), DEFAULT_SENDER


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failures: 30 s, 1 min, 2 min … ≤ 2 h."""
    return min(BASE_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)


async def deliver_due(
    pool: asyncpg.Pool,
    transport: Transport,
    sender: str,
    *,
    now: datetime | None = None,
    expand: Expander | None = None,
) -> int:
    """Deliver the messages that are due; return how many were delivered (a sweep: the job
    worker delivers each mail through its own job, `deliver_one`).

    Rows are claimed with FOR UPDATE SKIP LOCKED, so several processes can deliver
    without sending a message twice. Sign-in mails are written by `expand`; without it (or
    when it has nothing to send) they are marked failed, never sent as placeholders.
    """
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"{_CLAIM} AND next_attempt_at <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            BATCH_SIZE,
        )
        return await _deliver_rows(conn, rows, transport, sender, now, expand)


async def deliver_one(
    pool: asyncpg.Pool,
    transport: Transport,
    sender: str,
    mail_id: int,
    *,
    now: datetime | None = None,
    expand: Expander | None = None,
) -> int:
    """Deliver one queued mail (the job `jobs.SEND_MAIL`): 1 when delivered; 0 when already
    sent, given up, being sent by another worker, or failed (a new job is then deferred to
    its next attempt)."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(f"{_CLAIM} AND id = $1 FOR UPDATE SKIP LOCKED", mail_id)
        return await _deliver_rows(conn, rows, transport, sender, now, expand)


_CLAIM = (
    "SELECT id, recipient, subject, body, attempts, signin_token_id, headers"
    " FROM mail_queue WHERE sent_at IS NULL AND failed_at IS NULL"
)


async def _deliver_rows(
    conn: asyncpg.Connection,
    rows: list[asyncpg.Record],
    transport: Transport,
    sender: str,
    now: datetime,
    expand: Expander | None,
) -> int:
    delivered = 0
    for row in rows:
        subject, body = row["subject"], row["body"]
        if row["signin_token_id"] is not None:
            written = await expand(conn, row["signin_token_id"]) if expand else None
            if written is None:
                await conn.execute(
                    "UPDATE mail_queue SET failed_at = $2, last_error = $3 WHERE id = $1",
                    row["id"],
                    now,
                    NOT_SENT_EXPIRED,
                )
                continue
            subject, body = written
        headers = row["headers"]
        if isinstance(headers, str):  # a connection without the json codec
            import json

            headers = json.loads(headers)
        message = build_message(sender, row["recipient"], subject, body, row["id"], headers or None)
        try:
            await transport.deliver(message, row["id"])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            attempts = row["attempts"] + 1
            logger.warning("mail %s not delivered (try %s): %s", row["id"], attempts, exc)
            await conn.execute(
                """
                UPDATE mail_queue
                SET attempts = $2::integer, last_error = $3, next_attempt_at = $4,
                    failed_at = CASE WHEN $2::integer >= $5::integer THEN $6::timestamptz END
                WHERE id = $1
                """,
                row["id"],
                attempts,
                str(exc)[:1000] or type(exc).__name__,
                now + backoff(attempts),
                MAX_ATTEMPTS,
                now,
            )
            if attempts < MAX_ATTEMPTS:
                await defer_delivery(conn, [row["id"]], at=now + backoff(attempts))
            continue
        await conn.execute(
            "UPDATE mail_queue SET sent_at = $2, attempts = attempts + 1, last_error = NULL,"
            " body = '' WHERE id = $1",
            row["id"],
            now,
        )
        delivered += 1
    return delivered


@contextlib.asynccontextmanager
async def mail_service(app: Any) -> AsyncIterator[None]:
    """Background service for web.app.BACKGROUND_SERVICES: this process's worker of the job
    queue delivers mails while the app runs (any process may deliver any mail)."""
    from voting.accounts import signin_mail  # accounts queues mail: import at run time

    settings = app.state.settings

    async def expand(conn: asyncpg.Connection, token_id: UUID) -> tuple[str, str] | None:
        return await signin_mail(
            conn, token_id, secret_key=app.state.secret_key, base_url=settings.base_url
        )

    transport, sender = transport_for(settings)

    async def send_mail(mail_id: int) -> None:
        await deliver_one(app.state.pool, transport, sender, mail_id, expand=expand)

    async def sweep_mail(timestamp: int) -> None:
        # A job can be lost with its worker (a process killed while it ran, a database
        # outage failing it): each minute one worker delivers what is due and unsent.
        try:
            while await deliver_due(app.state.pool, transport, sender, expand=expand):
                pass
        except Exception as exc:
            if not database_away(exc):
                raise
            logger.warning("mail sweep: database unavailable (%s); the next sweep retries", exc)

    worker = jobs.JobWorker(
        app.state.database_url,
        jobs.MAIL_QUEUE,
        {jobs.SEND_MAIL: send_mail},
        periodic={jobs.SWEEP_MAIL: ("* * * * *", sweep_mail)},
    )
    async with jobs.running(worker, "scrutin-jobs"):
        yield
