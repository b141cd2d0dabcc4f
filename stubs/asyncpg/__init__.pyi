# The part of asyncpg's API that Scrutin uses, typed (asyncpg ships no type information).
# Values read from a row are `Any`: their Python type is decided by the column's SQL type and
# the codecs, which no annotation here can know; callers give them a type where they read them.
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from typing import Any, overload

from asyncpg import exceptions as exceptions
from asyncpg.exceptions import (
    DeadlockDetectedError as DeadlockDetectedError,
)
from asyncpg.exceptions import (
    InterfaceError as InterfaceError,
)
from asyncpg.exceptions import (
    PostgresConnectionError as PostgresConnectionError,
)
from asyncpg.exceptions import (
    PostgresError as PostgresError,
)
from asyncpg.exceptions import (
    SerializationError as SerializationError,
)
from asyncpg.exceptions import (
    UniqueViolationError as UniqueViolationError,
)

class Record(Mapping[str, Any]):
    # Read by column name like a mapping (dict(row) and row["name"] work), but iterating a
    # Record yields its values, not its keys.
    @overload
    def __getitem__(self, key: str | int) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...  # values, unlike a Mapping
    def __len__(self) -> int: ...
    def __contains__(self, key: object) -> bool: ...

class Transaction(AbstractAsyncContextManager[Transaction]):
    async def __aenter__(self) -> Transaction: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def start(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...

class PreparedStatement:
    async def fetch(self, *args: object, timeout: float | None = None) -> list[Record]: ...
    async def fetchrow(self, *args: object, timeout: float | None = None) -> Record | None: ...
    async def fetchval(
        self, *args: object, column: int = 0, timeout: float | None = None
    ) -> Any: ...
    def cursor(self, *args: object, prefetch: int | None = None) -> AsyncIterator[Record]: ...

Listener = Callable[[Connection, int, str, str], object]

class _Queries:
    # What a Connection and a Pool (on a connection it acquires) both run.
    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str: ...
    async def fetch(
        self, query: str, *args: object, timeout: float | None = None
    ) -> list[Record]: ...
    async def fetchrow(
        self, query: str, *args: object, timeout: float | None = None
    ) -> Record | None: ...
    async def fetchval(
        self, query: str, *args: object, column: int = 0, timeout: float | None = None
    ) -> Any: ...

class Connection(_Queries):
    async def executemany(
        self, command: str, args: Iterable[Sequence[object]], *, timeout: float | None = None
    ) -> None: ...
    async def prepare(
        self, query: str, *, name: str | None = None, timeout: float | None = None
    ) -> PreparedStatement: ...
    def transaction(
        self,
        *,
        isolation: str | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> Transaction: ...
    def cursor(
        self, query: str, *args: object, prefetch: int | None = None
    ) -> AsyncIterator[Record]: ...
    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[object]],
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
        timeout: float | None = None,
    ) -> str: ...
    async def set_type_codec(
        self,
        typename: str,
        *,
        schema: str = "public",
        encoder: Callable[[Any], Any],
        decoder: Callable[[Any], Any],
        format: str = "text",
    ) -> None: ...
    async def add_listener(self, channel: str, callback: Listener) -> None: ...
    async def remove_listener(self, channel: str, callback: Listener) -> None: ...
    def is_closed(self) -> bool: ...
    def get_server_pid(self) -> int: ...
    async def close(self, *, timeout: float | None = None) -> None: ...
    def terminate(self) -> None: ...

class PoolAcquireContext(AbstractAsyncContextManager[Connection]):
    async def __aenter__(self) -> Connection: ...
    async def __aexit__(self, *exc: object) -> None: ...
    def __await__(self) -> Iterator[Any]: ...

class Pool(_Queries):
    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext: ...
    async def release(self, connection: Connection, *, timeout: float | None = None) -> None: ...
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...
    async def close(self) -> None: ...
    def terminate(self) -> None: ...
    async def expire_connections(self) -> None: ...

async def connect(
    dsn: str | None = None,
    *,
    timeout: float = 60,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    host: str | None = None,
    port: int | None = None,
    command_timeout: float | None = None,
    server_settings: dict[str, str] | None = None,
) -> Connection: ...
def create_pool(
    dsn: str | None = None,
    *,
    min_size: int = 10,
    max_size: int = 10,
    max_queries: int = 50000,
    max_inactive_connection_lifetime: float = 300.0,
    init: Callable[[Connection], Awaitable[None]] | None = None,
    reset: Callable[[Connection], Awaitable[None]] | None = None,
    setup: Callable[[Connection], Awaitable[None]] | None = None,
    command_timeout: float | None = None,
    timeout: float = 60,
    server_settings: dict[str, str] | None = None,
) -> Awaitable[Pool]: ...
