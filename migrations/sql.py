"""Run a plain-SQL script inside the current alembic transaction.

SQLAlchemy's asyncpg dialect prepares every statement, and PostgreSQL refuses to prepare
several commands at once; asyncpg's own `execute` without arguments uses the simple query
protocol, which takes a whole script (functions with `$$` bodies included).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None  # alembic's connection is open while it migrates
    await_only(driver_connection.execute(sql))
