"""Where compiled statements run: one interface for the app database, DuckDB, ClickHouse (a
server or chdb in-process) and Spark. Each engine runs a statement with named parameters and
returns its (aggregate) rows plus what the run cost: rows and bytes scanned, seconds.

Only sufficient statistics travel back: a statement's result is one row per group.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class EngineError(RuntimeError):
    """A statement could not run: unreachable server, missing table or column, timeout.

    ``message`` is for people: it names the engine (and, where known, the source and column).
    """

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "unreachable", "missing", "timeout", "type", "error"


@dataclass
class ScanStats:
    """What statements cost so far: rows and bytes the engine read (None if it cannot say)."""

    statements: int = 0
    seconds: float = 0.0
    rows_read: int | None = None
    bytes_read: int | None = None

    def add(self, seconds: float, rows: int | None, nbytes: int | None) -> None:
        self.statements += 1
        self.seconds += seconds
        if rows is not None:
            self.rows_read = (self.rows_read or 0) + rows
        if nbytes is not None:
            self.bytes_read = (self.bytes_read or 0) + nbytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "statements": self.statements,
            "seconds": round(self.seconds, 3),
            "rows_read": self.rows_read,
            "bytes_read": self.bytes_read,
        }


# What the enclosing ``scan_collect`` blocks of this thread (or task) add up.
_collectors: ContextVar[tuple[ScanStats, ...]] = ContextVar("scan_collectors", default=())


@contextlib.contextmanager
def scan_collect() -> Iterator[ScanStats]:
    """Add up what every engine's statements cost inside the block, whichever engine objects
    ran them: a job's statements, for its status."""
    stats = ScanStats()
    token = _collectors.set((*_collectors.get(), stats))
    try:
        yield stats
    finally:
        _collectors.reset(token)


@dataclass
class Engine:
    """Base of every engine: ``dialect`` names its SQL; ``execute`` runs one statement."""

    dialect: str = ""
    label: str = ""  # how people know it: "DuckDB file var/ws-3.duckdb", "ClickHouse ch1:8123"
    timeout_seconds: float = 300.0
    scanned: ScanStats = field(default_factory=ScanStats)

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows. Raises ``EngineError`` with a plain message."""
        started = time.perf_counter()
        rows, nrows, nbytes = self._run(sql, params)
        seconds = time.perf_counter() - started
        self.scanned.add(seconds, nrows, nbytes)
        for collector in _collectors.get():
            collector.add(seconds, nrows, nbytes)
        return rows

    def records(
        self, sql: str, params: Mapping[str, Any], columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Run one statement; return its rows as dicts keyed by ``columns``."""
        return [dict(zip(columns, row, strict=True)) for row in self.execute(sql, params)]

    def _run(
        self, sql: str, params: Mapping[str, Any]
    ) -> tuple[list[tuple[Any, ...]], int | None, int | None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (engines that hold none do nothing)."""
