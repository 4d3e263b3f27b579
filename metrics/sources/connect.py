"""From a stored source to what the metric layer computes with: an engine that only reads,
the event table's column mapping, and the exposure table of one experiment.

Every engine a source opens is read-only twice over: the engine itself where it can be (a
DuckDB file opened ``read_only``, ClickHouse's ``readonly = 2``), and ``ReadOnlyEngine``,
which refuses any statement but one SELECT or DESCRIBE before it reaches the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from django.conf import settings
from sqlglot import exp
from sqlglot.errors import SqlglotError

from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import EventTable, ExposureTable
from metrics.engines.base import Engine, EngineError
from metrics.models import EventSource, SourceEngine
from metrics.sources.encryption import secret_decrypt
from metrics.sources.validation import resolved_path
from plg_platform.errors import ValidationFailed

NO_EXPOSURE_TABLE = (
    "The source {name!r} has no exposure table; add one to analyse experiments from it."
)
NOT_A_READ = "{label}: refused a statement that is not a single SELECT; sources are read-only."
GONE = "{label}: {path!r} is no longer there (or not under the sources folder)."
# Statement parts that write or reach outside the tables (refused anywhere in the tree).
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.Use,
)
DEFAULT_CLICKHOUSE_PORT = 8123
# A statement in the warehouse may take METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS (default 10 min;
# ClickHouse stops it by max_execution_time, DuckDB by an interrupt, PostgreSQL by
# statement_timeout); below the analysis task's soft time limit, so the job fails cleanly.
DEFAULT_CLICKHOUSE_TLS_PORT = 8443


def _is_read(sql: str, dialect: str) -> bool:
    try:
        statements = sqlglot.parse(sql, read=get_dialect(dialect).sqlglot)
    except SqlglotError:
        return False
    if len(statements) != 1 or statements[0] is None:
        return False
    tree = statements[0]
    if not isinstance(tree, exp.Query | exp.Describe):
        return False
    return tree.find(*_WRITES) is None


@dataclass
class ReadOnlyEngine(Engine):
    """An engine that runs only single SELECT (or DESCRIBE) statements on ``inner``."""

    inner: Engine | None = None
    hidden: tuple[str, ...] = ()  # the source's secret: never in an error message

    def __post_init__(self) -> None:
        assert self.inner is not None
        self.dialect = self.inner.dialect
        self.label = self.inner.label
        self.scanned = self.inner.scanned

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        assert self.inner is not None
        if not _is_read(sql, self.dialect):
            raise EngineError(NOT_A_READ.format(label=self.label), kind="error")
        try:
            return self.inner.execute(sql, params)
        except EngineError as error:
            # Not chained: the original (unmasked) message would be logged with the traceback.
            raise _scrubbed(error, self.hidden) from None

    def close(self) -> None:
        assert self.inner is not None
        self.inner.close()


def _scrubbed(error: EngineError, hidden: tuple[str, ...]) -> EngineError:
    """The error with the secret masked (drivers may echo a connection string)."""
    message = error.message
    for secret in hidden:
        message = message.replace(secret, "***")
    return error if message == error.message else EngineError(message, kind=error.kind)


def source_label(source: EventSource) -> str:
    """How errors name a source: its name and where it reads."""
    where = source.path or source.url or f"{source.host}:{source.port or ''}".rstrip(":")
    return f"Source {source.name!r} ({SourceEngine(source.engine).label.split(' (')[0]} {where})"


def _open(source: EventSource, label: str, timeout: float, secret: str) -> Engine:
    engine = source.engine
    if engine in (SourceEngine.DUCKDB, SourceEngine.DUCKDB_FOLDER, SourceEngine.CHDB):
        try:
            path = resolved_path(source.path)
        except ValidationFailed as error:
            raise EngineError(GONE.format(label=label, path=source.path), kind="missing") from error
        exists = path.is_file() if engine == SourceEngine.DUCKDB else path.is_dir()
        if not exists:  # opening a missing chdb directory or DuckDB file would create it
            raise EngineError(GONE.format(label=label, path=source.path), kind="unreachable")
        if engine == SourceEngine.CHDB:
            from metrics.engines.clickhouse import ChdbEngine

            return ChdbEngine(path=str(path), read_only=True, label=label, timeout_seconds=timeout)
        from metrics.engines.duckdb import DuckDBEngine

        if engine == SourceEngine.DUCKDB:
            return DuckDBEngine(
                path=str(path), read_only=True, label=label, timeout_seconds=timeout
            )
        # Views over the folder's files live in an in-memory database; the files are only read.
        return DuckDBEngine(folder=str(path), label=label, timeout_seconds=timeout)
    if engine == SourceEngine.CLICKHOUSE:
        from metrics.engines.clickhouse import ClickHouseEngine

        default_port = DEFAULT_CLICKHOUSE_TLS_PORT if source.secure else DEFAULT_CLICKHOUSE_PORT
        return ClickHouseEngine(
            host=source.host,
            port=source.port or default_port,
            username=source.username or "default",
            password=secret,
            database=source.database or "default",
            secure=source.secure,
            read_only=True,
            label=label,
            timeout_seconds=timeout,
        )
    from metrics.engines.spark import SparkEngine

    if source.url.startswith("sc://"):
        remote = source.url
        if secret:
            remote += (";" if ";" in remote else "/;") + f"token={secret}"
        return SparkEngine(remote=remote, label=label, timeout_seconds=timeout)
    return SparkEngine(master=source.url, label=label, timeout_seconds=timeout)


def engine_for_source(source: EventSource, *, timeout_seconds: float | None = None) -> Engine:
    """Open the source's engine, read-only; the caller closes it. Raises ``EngineError``
    (kind "unreachable") naming the source when it cannot be opened. A statement running longer
    than ``timeout_seconds`` (default: the METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS setting) is
    stopped and raises ``EngineError`` of kind "timeout"."""
    if timeout_seconds is None:
        timeout_seconds = float(settings.METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS)
    label = source_label(source)
    secret = secret_decrypt(source.secret_encrypted)
    hidden = (secret,) if secret else ()
    try:
        inner = _open(source, label, timeout_seconds, secret)
    except EngineError as error:
        if not error.message.startswith(label):
            error = EngineError(f"{label}: {error.message}", kind=error.kind)
        raise _scrubbed(error, hidden) from None
    return ReadOnlyEngine(inner=inner, hidden=hidden)


def event_table_of(source: EventSource) -> EventTable:
    """The source's event table as the compiler reads it (no workspace column: a warehouse
    table belongs to the one workspace whose source it is)."""
    return EventTable(
        table=source.events_table,
        event_column=source.event_column,
        unit_column=source.unit_column,
        timestamp_column=source.timestamp_column,
        time_type=source.time_type,
        properties_column=source.properties_column,
        property_columns=tuple(sorted((source.property_columns or {}).items())),
        workspace_column="",
        persons_table=source.persons_table,
    )


def exposure_table_of(source: EventSource, *, experiment_id: str) -> ExposureTable:
    """The source's exposure table, read for ``experiment_id`` (the id in the warehouse)."""
    if not source.exposures_table:
        raise ValidationFailed(NO_EXPOSURE_TABLE.format(name=source.name), field="source")
    return ExposureTable(
        table=source.exposures_table,
        experiment_id=experiment_id,
        experiment_column=source.exposure_experiment_column,
        variation_column=source.exposure_variation_column,
        unit_column=source.exposure_unit_column,
        timestamp_column=source.exposure_timestamp_column,
        time_type=source.exposure_time_type,
    )
