"""Outgoing mail: a queue in the database, delivered by a background sender.

`enqueue` writes in the caller's transaction, so a mail exists exactly when the state
change that needs it committed; nothing is ever sent inside a request. `MailSender`
delivers due messages through SMTP (aiosmtplib) when SMTP is configured, otherwise into
`<data dir>/outbox/` as one .eml file per message; failures are retried with backoff.

Secrets do not rest in the queue: a sign-in mail is queued as a reference to its request
(`signin_token_id`) and written at sending time by an `Expander` (voting.accounts.signin_mail
derives its link and code from the service secret); every body is blanked once sent (an
eligibility invitation carries its code).
"""

from __future__ import annotations

import asyncio
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

logger = logging.getLogger("scrutin.mail")

NOTIFY_CHANNEL = "scrutin_mail"
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
    mail from that sign-in request when it sends it. The sender is woken by a NOTIFY, which
    PostgreSQL only delivers at commit.
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
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return mail_id


async def enqueue_many(conn: asyncpg.Connection, messages: list[tuple[str, str, str]]) -> int:
    """Queue many (to, subject, text) mails with one statement (an import's invitations);
    return how many."""
    for to, subject, _text in messages:
        if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
            raise ValueError("mail headers cannot contain line breaks")
    if not messages:
        return 0
    await conn.execute(
        "INSERT INTO mail_queue (recipient, subject, body)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        [to for to, _, _ in messages],
        [subject[:300] for _, subject, _ in messages],
        [text for _, _, text in messages],
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
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
    """Deliver the messages that are due; return how many were delivered.

    Rows are claimed with FOR UPDATE SKIP LOCKED, so several processes can run senders
    without sending a message twice. Sign-in mails are written by `expand`; without it (or
    when it has nothing to send) they are marked failed, never sent as placeholders.
    """
    delivered = 0
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            SELECT id, recipient, subject, body, attempts, signin_token_id, headers
            FROM mail_queue
            WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
            ORDER BY id LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            BATCH_SIZE,
        )
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
            message = build_message(
                sender, row["recipient"], subject, body, row["id"], headers or None
            )
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
                continue
            await conn.execute(
                "UPDATE mail_queue SET sent_at = $2, attempts = attempts + 1, last_error = NULL,"
                " body = '' WHERE id = $1",
                row["id"],
                now,
            )
            delivered += 1
    return delivered


class MailSender:
    """Runs `deliver_due` whenever a mail is queued (LISTEN) and every `poll_interval`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        transport: Transport,
        sender: str,
        *,
        poll_interval: float = 5.0,
        expand: Expander | None = None,
    ) -> None:
        self.pool = pool
        self.transport = transport
        self.sender = sender
        self.poll_interval = poll_interval
        self.expand = expand
        self.wake = asyncio.Event()

    def _notified(self, *args: object) -> None:
        self.wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; when the database goes away, wait and listen again."""
        while True:
            try:
                await self._listen_and_deliver()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                logger.warning("mail queue unavailable: %s", exc)
            await asyncio.sleep(self.poll_interval)

    async def _listen_and_deliver(self) -> None:
        async with self.pool.acquire() as listener:
            await listener.add_listener(NOTIFY_CHANNEL, self._notified)
            try:
                while not listener.is_closed():
                    self.wake.clear()
                    try:
                        while await deliver_due(
                            self.pool, self.transport, self.sender, expand=self.expand
                        ):
                            pass
                    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                        logger.warning("mail queue unavailable: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.poll_interval)
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(NOTIFY_CHANNEL, self._notified)


@contextlib.asynccontextmanager
async def mail_service(app: Any) -> AsyncIterator[None]:
    """Background service for web.app.BACKGROUND_SERVICES: delivers the queue while the app runs."""
    from voting.accounts import signin_mail  # accounts queues mail: import at run time

    settings = app.state.settings

    async def expand(conn: asyncpg.Connection, token_id: UUID) -> tuple[str, str] | None:
        return await signin_mail(
            conn, token_id, secret_key=app.state.secret_key, base_url=settings.base_url
        )

    transport, sender = transport_for(settings)
    mail_sender = MailSender(app.state.pool, transport, sender, expand=expand)
    app.state.mail_sender = mail_sender
    task = asyncio.create_task(mail_sender.run(), name="scrutin-mail-sender")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
