"""ClickHouse: a server or cluster through clickhouse-connect (production), or the same engine
in-process through chdb (tests, local use). Statements run with ``join_use_nulls = 1`` so a
LEFT JOIN gives NULLs as every other engine does, and with a time limit."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metrics.engines.base import Engine, EngineError

SETTINGS = {"join_use_nulls": 1}


@dataclass
class ChdbEngine(Engine):
    """ClickHouse in-process (chdb): a data directory (``path``) or a temporary one."""

    path: str = ""

    def __post_init__(self) -> None:
        from chdb import session  # imported here: chdb loads a large library

        self.dialect = "clickhouse"
        self.label = self.label or f"chdb {self.path or '(temporary)'}"
        self._lock = threading.Lock()
        self.session = session.Session(self.path) if self.path else session.Session()

    def _settings_sql(self) -> str:
        limit = int(self.timeout_seconds)
        return f" SETTINGS join_use_nulls = 1, max_execution_time = {limit}"

    def command(self, sql: str) -> None:
        """Run DDL or an insert (no rows back)."""
        with self._lock:
            try:
                self.session.query(sql)
            except Exception as error:  # chdb raises plain RuntimeError with the server message
                raise EngineError(f"{self.label}: {error}", kind=_kind(str(error))) from error

    def insert_arrow(self, table: str, batch: Any) -> None:
        """Insert an Arrow table: chdb reads the Python variable through ``Python()``."""
        staged = batch  # noqa: F841  (read by name by chdb's Python() table function)
        self.command(f"INSERT INTO {table} SELECT * FROM Python(staged)")  # noqa: S608

    def _run(self, sql: str, params: Mapping[str, Any]):
        with self._lock:
            try:
                result = self.session.query(
                    sql + self._settings_sql(), "DataFrame", params=dict(params)
                )
            except Exception as error:  # see command()
                raise EngineError(f"{self.label}: {error}", kind=_kind(str(error))) from error
        rows = (
            [tuple(r) for r in result.itertuples(index=False, name=None)]
            if len(result.columns)
            else []
        )
        return [tuple(_plain(v) for v in row) for row in rows], None, None

    def close(self) -> None:
        self.session.close()


@dataclass
class ClickHouseEngine(Engine):
    """A ClickHouse server or cluster through clickhouse-connect (HTTP)."""

    host: str = "localhost"
    port: int = 8123
    username: str = "default"
    password: str = ""
    database: str = "default"
    secure: bool = False

    def __post_init__(self) -> None:
        import clickhouse_connect

        self.dialect = "clickhouse"
        self.label = self.label or f"ClickHouse {self.host}:{self.port}"
        try:
            self.client = clickhouse_connect.get_client(
                host=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                database=self.database,
                secure=self.secure,
                connect_timeout=10,
                send_receive_timeout=int(self.timeout_seconds),
                settings={**SETTINGS, "max_execution_time": int(self.timeout_seconds)},
            )
        except Exception as error:  # the driver's OperationalError and socket errors alike
            raise EngineError(f"{self.label}: unreachable: {error}", kind="unreachable") from error

    def command(self, sql: str) -> None:
        """Run DDL or an insert (no rows back)."""
        try:
            self.client.command(sql)
        except Exception as error:  # see _run()
            raise EngineError(f"{self.label}: {error}", kind=_kind(str(error))) from error

    def insert_arrow(self, table: str, batch: Any) -> None:
        """Insert an Arrow table."""
        try:
            self.client.insert_arrow(table, batch)
        except Exception as error:  # see _run()
            raise EngineError(f"{self.label}: {error}", kind=_kind(str(error))) from error

    def _run(self, sql: str, params: Mapping[str, Any]):
        try:
            result = self.client.query(sql, parameters=dict(params))
        except Exception as error:  # clickhouse_connect.driver.exceptions.DatabaseError et al.
            raise EngineError(f"{self.label}: {error}", kind=_kind(str(error))) from error
        summary = result.summary or {}
        rows = [tuple(r) for r in result.result_rows]
        return rows, _int(summary.get("read_rows")), _int(summary.get("read_bytes"))

    def close(self) -> None:
        self.client.close()


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _plain(value: Any) -> Any:
    """numpy scalars and pandas NA from chdb's frames as plain Python values."""
    if value is None:
        return None
    try:
        import pandas as pd  # type: ignore[import-untyped]

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _kind(message: str) -> str:
    if (
        "UNKNOWN_TABLE" in message
        or "UNKNOWN_IDENTIFIER" in message
        or "UNKNOWN_DATABASE" in message
    ):
        return "missing"
    if "TIMEOUT_EXCEEDED" in message:
        return "timeout"
    if (
        "TYPE_MISMATCH" in message
        or "ILLEGAL_TYPE_OF_ARGUMENT" in message
        or "CANNOT_PARSE" in message
    ):
        return "type"
    return "error"
