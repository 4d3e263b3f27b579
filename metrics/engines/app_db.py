"""The app database (SQLite or PostgreSQL) through Django's connection: today's default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            # Inserts and deletes (incremental refresh) return no rows.
            rows = cursor.fetchall() if cursor.description is not None else []
            return rows, None, None
