"""One answer to "is this error the database being away?" for every part of Scrutin.

An outage (PostgreSQL stopped, restarting, crashed, out of connections, the socket gone) is
expected and survived: a page answers 503, the log's background round and the mail sweep
try again on their next round, the job queue's worker starts again. Any other error is a
bug and is reported as one. The same rule everywhere, so that a page, a background task and
the job queue never disagree about what an outage is.
"""

from __future__ import annotations

import asyncpg

_AWAY = (
    OSError,  # socket refused or gone, network down
    asyncpg.PostgresConnectionError,  # the connection failed or was lost
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, crash, starting up
    asyncpg.exceptions.TooManyConnectionsError,
)


def database_away(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached right now, not that a query was
    wrong. A group is an outage when all its errors are."""
    if isinstance(exc, BaseExceptionGroup):
        return all(database_away(inner) for inner in exc.exceptions)
    if isinstance(exc, asyncpg.InterfaceError):  # "connection is closed", "pool is closing"
        return "closed" in str(exc) or "closing" in str(exc)
    if type(exc).__name__ == "InternalClientError":  # asyncpg's, not exported by its stubs
        # The server ended a connection idle in a transaction (its FATAL message arrives
        # between two statements) and the next statement finds the protocol still consuming it.
        return "another operation" in str(exc)
    return isinstance(exc, _AWAY)


def outage_in_chain(exc: BaseException | None) -> bool:
    """True when `exc` or one of its causes or contexts is the database being away."""
    while exc is not None:
        if database_away(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
