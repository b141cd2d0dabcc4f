"""The log's values and errors: queued and integrated entries, checkpoints, tree heads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import asyncpg

from crypto import canonical
from crypto.encoding import b64encode
from crypto.entries import Tracked
from voting.refusals import Refused

logger = logging.getLogger("scrutin.log")

# Either works for reads: both have fetch/fetchrow/fetchval/execute.
Database = asyncpg.Pool | asyncpg.Connection
T = TypeVar("T")

INTEGRATE_BATCH = 4096
_ZERO = bytes(32)
_HEX = re.compile(r"[0-9a-f]+")
_TILE_COLUMNS = ["primary_id", "level", "idx", "hashes", "root"]
_ENTRY_COLUMNS = ["primary_id", "idx", "leaf_hash", "entry", "kind", "queue_id"]
EXPORT_CHUNK = 5000
EXPORT_FORMAT = "scrutin-export/v1"
# PHASE_CHANGE_KINDS (voting.entry_kinds): the sequencer signs a checkpoint whose tree ends
# exactly at each of them (docs/audit-log.md §6).


class LogError(Exception):
    """A log operation cannot be done; the message says why."""


class EntryTooLarge(LogError, Refused):
    """An entry longer than a tile bundle can hold (65,535 bytes, docs/audit-log.md §7).

    Raised by `append` before anything is queued, so the caller's transaction writes nothing.
    A `Refused`: pages show its translated message next to the form `field` to correct.
    """

    # entry kind → (reason, the form field to shorten); other kinds: "entry-too-large"
    REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "round-open": ("round-open-entry-too-large", "candidates"),
        "definition": ("definition-entry-too-large", "description"),
    }

    def __init__(self, kind: str, size: int, limit: int) -> None:
        reason, field = self.REASONS.get(kind, ("entry-too-large", None))
        super().__init__(reason, field=field, size=size, limit=limit)
        self.kind = kind
        self.size = size
        self.limit = limit


class UnknownLogError(LogError):
    """The primary has no log."""


class LogRangeError(LogError, ValueError):
    """An index, size or range is outside the tree (or malformed); `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotIntegratedError(LogError):
    """A queued entry never reached the log (its transaction did not commit)."""


@dataclass(frozen=True)
class Queued(Tracked):
    """An entry signed and queued in the caller's transaction; pass it to `wait`."""

    primary_id: UUID
    queue_id: int
    kind: str
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class Integrated(Tracked):
    """Where a queued entry landed: its index, and the tree size right after integration."""

    index: int
    leaf_hash: bytes
    tree_size: int


@dataclass(frozen=True)
class LogEntry(Tracked):
    index: int
    leaf_hash: bytes
    entry: bytes
    kind: str

    def envelope(self) -> dict[str, Any]:
        value = canonical.loads(self.entry)
        assert isinstance(value, dict)
        return value

    def to_json(self) -> dict[str, Any]:
        """The JSON convenience form (docs/audit-log.md §7)."""
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "entry": b64encode(self.entry),
            "envelope": self.envelope(),
        }


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class TreeHead:
    """The integrated (committed) tree, which may be ahead of the latest checkpoint."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class _ExportHead:
    origin: str
    primary: str
    vkey: str
    size: int
    checkpoints: list[str]


@dataclass
class _Round:
    """One in-process integration round; waiters join it until it starts."""

    started: bool = False
    waiters: list[Queued] = field(default_factory=list)
    # What the round integrated ({queue id: index}, tree size after), kept for the next round.
    placed: dict[int, int] = field(default_factory=dict)
    size: int = -1
    task: asyncio.Task[dict[int, tuple[int, int]]] = field(init=False)


def _uuid(primary_id: UUID | str) -> UUID:
    return primary_id if isinstance(primary_id, UUID) else UUID(str(primary_id))


def _entry(row: asyncpg.Record) -> LogEntry:
    return LogEntry(row["idx"], bytes(row["leaf_hash"]), bytes(row["entry"]), row["kind"])


@contextlib.asynccontextmanager
async def _connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LogRangeError(f"{name} must be a non-negative integer, got {value!r}", name)
    return value
