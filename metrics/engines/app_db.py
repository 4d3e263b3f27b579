"""The app database (SQLite or PostgreSQL) through Django's connection: today's default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections

from metrics.engines.base import Engine

_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
UNSUPPORTED_DATABASE = "The metric layer runs on SQLite and PostgreSQL, not {vendor}."


def dialect_of(alias: str = "default") -> str:
    vendor = connections[alias].vendor
    if vendor not in _DIALECTS:
        raise ValueError(UNSUPPORTED_DATABASE.format(vendor=vendor))
    return _DIALECTS[vendor]


@dataclass
class AppDatabaseEngine(Engine):
    using: str = "default"

    def __post_init__(self) -> None:
        self.dialect = dialect_of(self.using)
        self.label = self.label or f"the app database ({connections[self.using].vendor})"

    def _run(self, sql: str, params: Mapping[str, Any]):
        # DatabaseError propagates as it is: the app's own handlers (503 when the database is
        # down, 400 on a data error) already say what happened.
        connection = connections[self.using]
        with connection.cursor() as cursor:
            with _work_mem(cursor, in_transaction=connection.in_atomic_block, dialect=self.dialect):
                cursor.execute(sql, params)
                # Inserts and deletes (incremental refresh) return no rows.
                rows = cursor.fetchall() if cursor.description is not None else []
            return rows, None, None


@contextmanager
def _work_mem(cursor: Any, *, in_transaction: bool, dialect: str) -> Iterator[None]:
    """Run PostgreSQL statements with ``METRICS_POSTGRES_WORK_MEM`` of sort and hash memory.

    In a transaction the setting is local to it (PostgreSQL drops it at the end, also on an
    error); in autocommit it is set for the statement and reset after it.
    """
    size = settings.METRICS_POSTGRES_WORK_MEM
    if dialect != "postgres" or not size:
        yield
        return
    cursor.execute("SELECT set_config('work_mem', %s, %s)", [size, in_transaction])
    if in_transaction:
        yield
        return
    try:
        yield
    finally:
        cursor.execute("RESET work_mem")
