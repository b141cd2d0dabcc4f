"""The unit of work: the one way a state change happens (docs/architecture.md, recipes).

A unit of work owns a connection and its transaction, collects the log entries the services
append in it (through `uow.log`, which signs and queues them as `LogService.append` does), and
after commit runs the duties the entries' kinds ask for (`voting.entry_kinds`):

- wait for the integration of entries whose index the caller needs (a ballot's receipt, a
  result's index): `uow.placed(queued)` then answers their place in the log;
- publish a signed checkpoint of every log that received an entry whose kind ends a phase
  (`EntryKind.checkpoint`), as soon as the change is committed;
- queued mail needs nothing more: `voting.mail.enqueue` NOTIFYs the sender, which PostgreSQL
  delivers at commit (and never on rollback).

    async with UnitOfWork(pool, log) as uow:          # BEGIN
        primary = await create_primary(uow.conn, uow.log, data, created_by=...)
    # COMMIT, then: checkpoint published (a `definition` entry asks for one)

A refusal raised inside the block rolls everything back, entries included, and no duty runs.
Web views do not open transactions for writes, wait on the log nor publish checkpoints: they
call a service in a unit of work (`request.app.state.units()`, or `units.run(service, ...)`
for a single call, see `UnitsOfWork`) and render.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar
from uuid import UUID

import asyncpg

from voting.entry_kinds import kind_of
from voting.log import Integrated, LogService, Queued

P = ParamSpec("P")
T = TypeVar("T")


class UnitOfWork:
    """One transaction, its log entries and their after-commit duties."""

    def __init__(self, pool: asyncpg.Pool, log: LogService) -> None:
        self.pool = pool
        self._service = log
        self.queued: list[Queued] = []
        self.log = _RecordingLog(log, self)
        self._conn: asyncpg.Connection | None = None
        self._acquired: asyncpg.PoolAcquireContext | None = None
        self._transaction: asyncpg.Transaction | None = None
        self._placed: dict[int, Integrated] = {}
        self._wanted: list[Queued] = []
        self._checkpoints: list[UUID] = []
        self.committed = False

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("use the unit of work as `async with UnitOfWork(...) as uow:`")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        self._acquired = acquired = self.pool.acquire()
        self._conn = await acquired.__aenter__()
        try:
            self._transaction = self._conn.transaction()
            await self._transaction.start()
        except BaseException:
            await acquired.__aexit__(None, None, None)
            self._conn = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, acquired = self._transaction, self._acquired
        assert transaction is not None and acquired is not None  # entered
        try:
            if exc_type is None:
                await transaction.commit()
                self.committed = True
            else:
                await transaction.rollback()
        finally:
            await acquired.__aexit__(exc_type, exc, tb)
            self._conn = None
        if self.committed:
            await self._after_commit()

    def checkpoint(self, primary_id: UUID) -> None:
        """Publish a checkpoint of this log after commit even if no entry asks for it (a phase
        closed with no entry to show, a witness just told about the log)."""
        self._checkpoints.append(primary_id)

    def want_index(self, queued: Queued) -> None:
        """Ask for this entry's place after commit even if its kind does not (`placed`)."""
        self._wanted.append(queued)

    async def _after_commit(self) -> None:
        checkpointed: list[UUID] = list(dict.fromkeys(self._checkpoints))
        for queued in self.queued:
            kind = kind_of(queued.kind)
            if kind.checkpoint and queued.primary_id not in checkpointed:
                checkpointed.append(queued.primary_id)
        for primary_id in checkpointed:  # integrates everything queued, then signs
            await self._service.publish_checkpoint(self.pool, primary_id)
        for queued in self.queued:
            if kind_of(queued.kind).wait or any(w is queued for w in self._wanted):
                self._placed[id(queued)] = await self._service.wait(self.pool, queued)

    def placed(self, queued: Queued) -> Integrated:
        """Where an entry landed (`voting.log.Integrated`), once the unit of work committed;
        only for kinds that say `wait` or entries passed to `want_index`."""
        try:
            return self._placed[id(queued)]
        except KeyError:
            raise RuntimeError(
                f"{queued.kind} entry not integrated by this unit of work "
                "(not committed, or its kind does not wait: call want_index)"
            ) from None


# For the type checker `uow.log` is a LogService (what services take); at run time it is a
# proxy that forwards everything to the service, `append` through `_recording`.
if TYPE_CHECKING:
    _LogServiceType = LogService
else:
    _LogServiceType = object


class _RecordingLog(_LogServiceType):
    """`uow.log`: the log service seen by services in a unit of work. Its `append` is the
    service's, which queues in the unit's transaction, and remembers each entry it queued
    for the unit's after-commit duties; everything else is the service's."""

    def __init__(self, service: LogService, uow: UnitOfWork) -> None:
        self._service = service
        self._append = _recording(service.append, uow.queued)

    def __getattr__(self, name: str) -> object:
        return self._append if name == "append" else getattr(self._service, name)


def _recording(
    append: Callable[P, Awaitable[Queued]], queued: list[Queued]
) -> Callable[P, Awaitable[Queued]]:
    """`append`, that also adds each entry it queues to `queued`."""

    async def recording(*args: P.args, **kwargs: P.kwargs) -> Queued:
        entry = await append(*args, **kwargs)
        queued.append(entry)
        return entry

    return recording


class _Holder(Protocol):
    """What holds the pool and the log service (the app's `state`)."""

    pool: asyncpg.Pool
    log: LogService


class UnitsOfWork:
    """`app.state.units`: makes units of work over the pool and log service that `state` holds
    when called (the app's pool opens after the app is built)."""

    def __init__(self, state: _Holder) -> None:
        self.state = state

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.state.pool, self.state.log)

    async def run(
        self,
        service: Callable[Concatenate[asyncpg.Connection, LogService, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """One state change made by one service, `service(conn, log, *args, **kwargs)`, in a
        unit of work of its own: committed, then its duties run; rolled back on a refusal."""
        async with self() as uow:
            return await service(uow.conn, uow.log, *args, **kwargs)


UnitFactory = Callable[[], UnitOfWork]
