"""The job queue's behaviour around a database outage, without a database: procrastinate's
error records about a lost connection become one warning line, and stopping the service
stops the worker even when a library's cleanup replaces the cancellation by another error
(the shutdown must never turn into the worker's retry loop)."""

from __future__ import annotations

import asyncio
import logging
import sys

import asyncpg
import pytest
from procrastinate.exceptions import ConnectorException

from tests.fixtures.waiting import PATIENCE
from voting import jobs
from voting.outage import database_away


def _record(error: BaseException, message: str = "Job failed") -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "procrastinate.worker", logging.ERROR, __file__, 1, message, (), exc_info
    )


@pytest.mark.parametrize(
    "error",
    [
        ConnectorException("connection lost"),
        ConnectionRefusedError(111, "Connection refused"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.InterfaceError("pool is closing"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_outage_error_is_logged_as_one_warning_line(error: BaseException) -> None:
    record = _record(error)
    assert logging.getLogger("procrastinate.worker").filter(record)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "database unavailable" in record.getMessage()


def test_an_outage_found_in_the_cause_chain_is_one_warning_too() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("task side failed") from inner
    except RuntimeError as outer:
        record = _record(outer)
    assert logging.getLogger("procrastinate.worker").filter(record)
    assert record.levelno == logging.WARNING


def test_a_real_error_stays_an_error_with_its_traceback() -> None:
    record = _record(ValueError("a bug in a task"))
    assert logging.getLogger("procrastinate.worker").filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


class _CleanupRaises(jobs.JobWorker):
    """A worker whose run, once cancelled, fails in its cleanup with another error (as
    procrastinate did when a log filter raised while it cancelled its side tasks)."""

    def __init__(self) -> None:
        super().__init__("postgresql://unused", "test", {})
        self.started = asyncio.Event()
        self.attempts = 0

    def _app(self):  # type: ignore[no-untyped-def]
        worker = self

        class App:
            def open_async(self):  # type: ignore[no-untyped-def]
                return _Nothing()

            async def run_worker_async(self, **options: object) -> None:
                worker.attempts += 1
                if worker.started.is_set():
                    return  # started again: the retry loop took the shutdown for an outage
                worker.started.set()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    raise TypeError("cleanup failed") from None

        return App()


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.mark.anyio
async def test_stopping_stops_the_worker_even_when_its_cleanup_raises_another_error() -> None:
    worker = _CleanupRaises()
    async with asyncio.timeout(PATIENCE):  # bounds a broken run only
        async with jobs.running(worker, "test-jobs"):
            await worker.started.wait()
    assert worker.attempts == 1  # stopped, not started again by the retry loop


def test_a_job_task_that_could_not_record_its_end_in_an_outage_is_one_warning() -> None:
    message = (
        "Task exception was never retrieved\nfuture: <Task finished name='process job "
        "scrutin.sweep_mail[1]' coro=<Worker._process_job() done> exception=ConnectorException()>"
    )
    record = _record(ConnectorException("Database error."), message)
    record.name = "asyncio"
    assert logging.getLogger("asyncio").filter(record)
    assert record.levelno == logging.WARNING


def test_another_task_s_unretrieved_outage_error_stays_an_error() -> None:
    message = "Task exception was never retrieved\nfuture: <Task finished name='Task-7'>"
    record = _record(ConnectionRefusedError(111, "Connection refused"), message)
    record.name = "asyncio"
    assert logging.getLogger("asyncio").filter(record)
    assert record.levelno == logging.ERROR


def test_the_mail_sweep_s_commit_on_a_connection_the_server_ended_is_an_outage() -> None:
    internal_client_error = asyncpg.exceptions.InternalClientError  # type: ignore[attr-defined]
    error = internal_client_error("cannot switch to state 15; another operation (2) is in progress")
    assert database_away(error)
    assert not database_away(ValueError("a bug"))
    assert not database_away(asyncpg.InterfaceError("cannot call Connection.fetch(): bad use"))
