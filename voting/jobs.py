"""One job queue for background work, shared by every process and machine on the database.

The queue is procrastinate's (tables and functions of migration 0017): a job is a row of
`procrastinate_jobs`; a worker in each `scrutin serve` process takes jobs with `FOR UPDATE
SKIP LOCKED` (one job runs once, whichever process takes it) and is woken by the NOTIFY its
insert trigger sends at commit.

Jobs are deferred with `defer`, through the caller's asyncpg connection and inside its
transaction (procrastinate's SQL function `procrastinate_defer_jobs_v1`), so that a job
exists exactly when the state change that needs it committed. The worker itself runs on
procrastinate's psycopg connector, which only it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from voting.outage import outage_in_chain

if TYPE_CHECKING:
    import procrastinate

logger = logging.getLogger("scrutin.jobs")

MAIL_QUEUE = "mail"
SEND_MAIL = "scrutin.send_mail"  # args: {"mail_id": <mail_queue.id>}
SWEEP_MAIL = "scrutin.sweep_mail"  # periodic: due mails whose job was lost (a crash, an outage)
POLL_INTERVAL = 5.0  # seconds; a fallback, jobs are normally taken on their NOTIFY
RETRY_AFTER_OUTAGE = 5.0

_DEFER = """
SELECT procrastinate_defer_jobs_v1(array_agg(
    ROW($1::varchar, $2::varchar, 0, NULL, NULL, args::jsonb, $4::timestamptz)
        ::procrastinate_job_to_defer_v1))
FROM unnest($3::text[]) AS args
"""


async def defer(
    conn: asyncpg.Connection,
    queue: str,
    task: str,
    args: Sequence[Mapping[str, object]],
    *,
    at: datetime | None = None,
) -> None:
    """Queue one job of `task` per element of `args`, in the caller's transaction; with
    `at`, not before that moment."""
    if args:
        await conn.execute(_DEFER, queue, task, [json.dumps(a) for a in args], at)


Task = Callable[..., Awaitable[None]]
WORKER_NAME = "scrutin"


class _OutageAsWarning(logging.Filter):
    """procrastinate logs a lost database connection as an ERROR with a traceback; here a
    database outage is expected and survived (the worker starts again): one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and _is_outage(record):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "job queue: database unavailable (%s)", (record.getMessage(),)
            record.exc_info, record.exc_text = None, None
        return True


def _is_outage(record: logging.LogRecord) -> bool:
    from procrastinate.exceptions import ConnectorException

    error = record.exc_info[1] if record.exc_info else None
    if outage_in_chain(error):  # a job's own queries (asyncpg)
        return True
    while error is not None:  # procrastinate's connector (psycopg)
        if isinstance(error, ConnectorException) or type(error).__module__.startswith("psycopg"):
            return True
        error = error.__cause__ or error.__context__
    return "Database error" in record.getMessage()


class _JobTaskOutageAsWarning(_OutageAsWarning):
    """The same for a job's own task whose end could not be recorded because the database
    went away meanwhile: asyncio reports it as a "Task exception was never retrieved" error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Worker._process_job" in record.getMessage():
            return super().filter(record)
        return True


_OUTAGE_FILTER = _OutageAsWarning()
for _name in ("procrastinate.worker", f"procrastinate.worker.{WORKER_NAME}", "procrastinate.utils"):
    logging.getLogger(_name).addFilter(_OUTAGE_FILTER)
logging.getLogger("asyncio").addFilter(_JobTaskOutageAsWarning())


class JobWorker:
    """Runs the jobs of `queue` in this process until cancelled, with `tasks` by name.

    When the database goes away, the worker stops with an error: it is started again after
    a pause, until the database is back (one warning per outage)."""

    def __init__(
        self,
        database_url: str,
        queue: str,
        tasks: dict[str, Task],
        periodic: dict[str, tuple[str, Task]] | None = None,
    ) -> None:
        self.database_url = database_url
        self.queue = queue
        self.tasks = tasks
        # name -> (cron, task(timestamp)): run once per period by one of the workers
        self.periodic = periodic or {}

    def _app(self) -> procrastinate.App:
        import procrastinate

        connector = procrastinate.PsycopgConnector(
            conninfo=self.database_url, min_size=1, max_size=3
        )
        app = procrastinate.App(connector=connector)
        for name, function in self.tasks.items():
            app.task(name=name, queue=self.queue)(function)
        for name, (cron, function) in self.periodic.items():
            task = app.task(name=name, queue=self.queue)(function)
            app.periodic(cron=cron, periodic_id=name)(task)
        return app

    async def run(self) -> None:
        failing = False
        while True:
            try:
                app = self._app()
                async with app.open_async():
                    failing = False
                    await app.run_worker_async(
                        queues=[self.queue],
                        install_signal_handlers=False,
                        fetch_job_polling_interval=POLL_INTERVAL,
                        abort_job_polling_interval=POLL_INTERVAL * 12,
                        delete_jobs="successful",
                        concurrency=4,
                        name=WORKER_NAME,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # psycopg or procrastinate errors during an outage
                if _cancelled():  # a library's cleanup replaced our cancellation: stop
                    raise asyncio.CancelledError from exc
                if not failing:
                    logger.warning("job queue unavailable (%s); retrying", exc)
                failing = True
            await asyncio.sleep(RETRY_AFTER_OUTAGE)


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@contextlib.asynccontextmanager
async def background(work: Coroutine[object, object, object], name: str) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs; cancel it (and wait for it) when it ends.
    A cancellation of the waiting caller itself goes on up (it is not taken for the task's)."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


def running(worker: JobWorker, name: str) -> contextlib.AbstractAsyncContextManager[None]:
    return background(worker.run(), name)
