"""Looking at a source without changing it: the dry run, and an experiment's exposure counts.

The dry run checks that the event table (and the persons and exposure tables, where mapped)
exist and that every mapped column is there with a type the compiler can use, then counts:
rows, distinct units and event names, the time range, and per experiment of the exposure
table its exposures, units, units seen in more than one variation, and units per variation.
Each problem names the source, the table, the column and the mapping field at fault.

``exposure_summary`` counts one experiment's exposed units per variation the way the metric
statement's population does (first exposure in the phase, before the cut-off; units in two
variations left out and counted): what the health checks (SRM, multiple exposures) and the
maturity note need, as a handful of numbers. Statements are sqlglot trees rendered per dialect.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from sqlglot import exp

from metrics.engine.dialects import get_dialect
from metrics.engine.event_tables import ExposureTable
from metrics.engine.population_sql import to_micros
from metrics.engine.sql import Params, and_, case, col, num
from metrics.engines.base import Engine, EngineError
from metrics.models import EventSource
from metrics.sources.connect import (
    engine_for_source,
    event_table_of,
    exposure_table_of,
    source_label,
)

DRY_RUN_TIMEOUT_SECONDS = 120
MAX_EXPERIMENTS_REPORTED = 100
MAX_VARIATIONS_REPORTED = 1000

MISSING_TABLE = "{label}: table {table!r} ({what}) not found."
MISSING_COLUMN = (
    "{label}: column {column!r} ({what}) not found in table {table!r}; it has {columns}."
)
WRONG_TYPE = (
    "{label}: column {column!r} ({what}) of table {table!r} is {type}; expected {expected}."
)
EPOCH_HINT = " If it holds epoch numbers, set the time type to micros, millis or seconds."
TIMESTAMP_HINT = " If it holds a TIMESTAMP, set the time type to timestamp."

# What each mapped column must hold, as kinds of ``column_kind``.
_UNIT_KINDS = ("string", "integer", "uuid")
_ID_KINDS = ("string", "integer")
_EXPECTED_TEXT = {
    ("timestamp",): "a TIMESTAMP",
    ("integer",): "an integer",
    ("string",): "text",
    _UNIT_KINDS: "text, an integer or a UUID",
    _ID_KINDS: "text or an integer",
    ("string", "integer", "float", "boolean"): "text, a number or a boolean",
}


# --- column types -------------------------------------------------------------------------------
_WRAPPER = re.compile(r"^(Nullable|LowCardinality)\((.*)\)$")
_INTEGER = re.compile(
    r"^(U?INT(EGER)?\d*|TINYINT|SMALLINT|BIGINT|U?HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"LONG|SHORT|BYTE)$"
)
_FLOAT = re.compile(r"^(DOUBLE|FLOAT\d*|REAL|DECIMAL.*|NUMERIC.*)$")
_STRING = re.compile(r"^(VARCHAR|STRING|TEXT|CHAR|FIXEDSTRING|ENUM\d*)\b")


def column_kind(type_name: str, dialect: str) -> str:
    """The kind of an engine's column type: timestamp, date, integer, float, boolean, string,
    uuid or other (arrays, maps, ClickHouse's JSON object type, ...)."""
    t = type_name.strip()
    while match := _WRAPPER.match(t):
        t = match.group(2)
    u = t.upper()
    if u.startswith(("TIMESTAMP", "DATETIME")):
        return "timestamp"
    if u.startswith("DATE"):
        return "date"
    if _INTEGER.match(u):
        return "integer"
    if _FLOAT.match(u):
        return "float"
    if u in ("BOOLEAN", "BOOL"):
        return "boolean"
    if _STRING.match(u):
        return "string"
    if u == "JSON":  # DuckDB's JSON is text; ClickHouse's is an object JSONExtract cannot read
        return "other" if dialect == "clickhouse" else "string"
    if u == "UUID":
        return "uuid"
    return "other"


def describe_table(engine: Engine, table: str) -> dict[str, str]:
    """Return the table's columns and their types, in order (``EngineError`` if none)."""
    tree = exp.Describe(this=exp.to_table(table))
    rows = engine.execute(get_dialect(engine.dialect).render(tree, {}), {})
    columns: dict[str, str] = {}
    for row in rows:
        name = str(row[0] or "").strip()
        if not name or name.startswith("#"):  # Spark lists partitioning after a '#' row
            break
        columns[name] = str(row[1])
    return columns


# --- the report --------------------------------------------------------------------------------
@dataclass
class _Report:
    label: str
    dialect: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(
        self, kind: str, message: str, *, table: str = "", column: str = "", field: str = ""
    ) -> None:
        self.errors.append(
            {"kind": kind, "message": message, "table": table, "column": column, "field": field}
        )

    def columns(self, engine: Engine, table: str, what: str, field: str) -> dict[str, str] | None:
        try:
            return describe_table(engine, table)
        except EngineError as error:
            if error.kind == "missing":
                message = MISSING_TABLE.format(label=self.label, table=table, what=what)
                self.error("missing", message, table=table, field=field)
            else:
                self.error(error.kind, error.message, table=table, field=field)
            return None

    def check(
        self,
        columns: Mapping[str, str],
        *,
        table: str,
        column: str,
        what: str,
        kinds: tuple[str, ...],
        field: str,
        hint: str = "",
    ) -> None:
        if column not in columns:
            listed = ", ".join(columns) or "no columns"
            message = MISSING_COLUMN.format(
                label=self.label, column=column, what=what, table=table, columns=listed
            )
            self.error("missing", message, table=table, column=column, field=field)
            return
        kind = column_kind(columns[column], self.dialect)
        if kind not in kinds:
            expected = _EXPECTED_TEXT.get(kinds, " or ".join(kinds))
            message = WRONG_TYPE.format(
                label=self.label,
                column=column,
                what=what,
                table=table,
                type=columns[column],
                expected=expected,
            ) + (hint if kind in ("integer", "timestamp") else "")
            self.error("type", message, table=table, column=column, field=field)


def _time_kinds(time_type: str) -> tuple[tuple[str, ...], str]:
    if time_type == "timestamp":
        return ("timestamp",), EPOCH_HINT
    return ("integer",), TIMESTAMP_HINT


def _iso(micros: Any) -> str | None:
    if micros is None:
        return None
    return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC).isoformat()


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _run(engine: Engine, tree: exp.Expr, params: Params) -> list[tuple[Any, ...]]:
    sql = get_dialect(engine.dialect).render(tree, params.values)
    return engine.execute(sql, dict(params.values))


def _check_events(
    engine: Engine, source: EventSource, report: _Report, *, count: bool = True
) -> dict[str, Any] | None:
    ev = event_table_of(source)
    columns = report.columns(engine, ev.table, "the event table", "events.table")
    if columns is None:
        return None
    failed = len(report.errors)
    time_kinds, hint = _time_kinds(ev.time_type)
    checks = [
        (ev.event_column, "the event name", _ID_KINDS[:1], "events.event_column", ""),
        (ev.unit_column, "the unit id", _UNIT_KINDS, "events.unit_column", ""),
        (ev.timestamp_column, "the time", time_kinds, "events.timestamp_column", hint),
    ]
    if ev.properties_column:
        checks.append(
            (
                ev.properties_column,
                "the JSON properties",
                ("string",),
                "events.properties_column",
                "",
            )
        )
    for prop, column in ev.property_columns:
        checks.append(
            (
                column,
                f"property {prop!r}",
                ("string", "integer", "float", "boolean"),
                f"events.property_columns.{prop}",
                "",
            )
        )
    for column, what, kinds, field_name, why in checks:
        report.check(
            columns,
            table=ev.table,
            column=column,
            what=what,
            kinds=kinds,
            field=field_name,
            hint=why,
        )
    out: dict[str, Any] = {
        "table": ev.table,
        "columns": {c: columns[c] for c in dict.fromkeys(x[0] for x in checks) if c in columns},
    }
    if len(report.errors) > failed or not count:
        return out
    t = to_micros(engine.dialect, col(ev.timestamp_column), ev.time_type)
    tree = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "row_count"),
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[col(ev.unit_column)])), "units"),
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[col(ev.event_column)])), "names"),
        exp.alias_(exp.Min(this=t), "first_us"),
        exp.alias_(exp.Max(this=t.copy()), "last_us"),
    ).from_(exp.to_table(ev.table))
    (row,) = _run(engine, tree, Params())
    rows = _int(row[0])
    out.update(
        rows=rows,
        units=_int(row[1]),
        event_names=_int(row[2]),
        first_time=_iso(row[3]) if rows else None,
        last_time=_iso(row[4]) if rows else None,
    )
    return out


def _check_persons(
    engine: Engine, source: EventSource, report: _Report, *, count: bool = True
) -> dict[str, Any] | None:
    table = source.persons_table
    if not table:
        return None
    columns = report.columns(engine, table, "the persons table", "events.persons_table")
    if columns is None:
        return None
    failed = len(report.errors)
    for column, what, kinds in (
        ("distinct_id", "the person's unit id", _UNIT_KINDS),
        ("properties", "the person's JSON properties", ("string",)),
    ):
        report.check(
            columns,
            table=table,
            column=column,
            what=what,
            kinds=kinds,
            field="events.persons_table",
        )
    if len(report.errors) > failed or not count:
        return {"table": table}
    (row,) = _run(
        engine, exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(table)), Params()
    )
    return {"table": table, "rows": _int(row[0])}


def _exposure_rows(dialect: str, x: ExposureTable) -> exp.Select:
    """The exposure table as (experiment_id, unit_id, variation, t) with text ids."""
    return exp.select(
        exp.alias_(exp.cast(col(x.experiment_column, "xr"), "TEXT"), "experiment_id"),
        exp.alias_(exp.cast(col(x.unit_column, "xr"), "TEXT"), "unit_id"),
        exp.alias_(exp.cast(col(x.variation_column, "xr"), "TEXT"), "variation"),
        exp.alias_(to_micros(dialect, col(x.timestamp_column, "xr"), x.time_type), "t"),
    ).from_(exp.to_table(x.table).as_("xr"))


def _check_exposures(
    engine: Engine, source: EventSource, report: _Report, *, count: bool = True
) -> dict[str, Any] | None:
    if not source.exposures_table:
        return None
    x = exposure_table_of(source, experiment_id="")
    columns = report.columns(engine, x.table, "the exposure table", "exposures.table")
    if columns is None:
        return None
    failed = len(report.errors)
    time_kinds, hint = _time_kinds(x.time_type)
    for column, what, kinds, field_name, why in (
        (x.experiment_column, "the experiment id", _ID_KINDS, "exposures.experiment_column", ""),
        (x.variation_column, "the variation id", _ID_KINDS, "exposures.variation_column", ""),
        (x.unit_column, "the unit id", _UNIT_KINDS, "exposures.unit_column", ""),
        (x.timestamp_column, "the exposure time", time_kinds, "exposures.timestamp_column", hint),
    ):
        report.check(
            columns,
            table=x.table,
            column=column,
            what=what,
            kinds=kinds,
            field=field_name,
            hint=why,
        )
    if len(report.errors) > failed or not count:
        return {"table": x.table}
    raw = _exposure_rows(engine.dialect, x)
    per_unit = (
        exp.select(
            col("experiment_id", "r"),
            col("unit_id", "r"),
            exp.alias_(exp.Count(this=exp.Star()), "n"),
            exp.alias_(exp.Count(this=exp.Distinct(expressions=[col("variation", "r")])), "nv"),
            exp.alias_(exp.Min(this=col("t", "r")), "first_us"),
            exp.alias_(exp.Max(this=col("t", "r")), "last_us"),
        )
        .from_(raw.subquery("r"))
        .group_by(col("experiment_id", "r"), col("unit_id", "r"))
    )
    per_experiment = (
        exp.select(
            col("experiment_id", "u"),
            exp.alias_(exp.Sum(this=col("n", "u")), "exposures"),
            exp.alias_(exp.Count(this=exp.Star()), "units"),
            exp.alias_(
                exp.Sum(this=case(exp.GT(this=col("nv", "u"), expression=num(1)), num(1), num(0))),
                "multiple",
            ),
            exp.alias_(exp.Min(this=col("first_us", "u")), "first_us"),
            exp.alias_(exp.Max(this=col("last_us", "u")), "last_us"),
        )
        .from_(per_unit.subquery("u"))
        .group_by(col("experiment_id", "u"))
        .order_by(col("experiment_id", "u"))
        .limit(MAX_EXPERIMENTS_REPORTED + 1)
    )
    by_variation = (
        exp.select(
            col("experiment_id", "r"),
            col("variation", "r"),
            exp.alias_(exp.Count(this=exp.Distinct(expressions=[col("unit_id", "r")])), "units"),
        )
        .from_(raw.copy().subquery("r"))
        .group_by(col("experiment_id", "r"), col("variation", "r"))
        .order_by(col("experiment_id", "r"), col("variation", "r"))
        .limit(MAX_VARIATIONS_REPORTED)
    )
    experiments: list[dict[str, Any]] = [
        {
            "experiment_id": str(row[0]),
            "exposures": _int(row[1]),
            "units": _int(row[2]),
            "multiple_variation_units": _int(row[3]),
            "first_time": _iso(row[4]),
            "last_time": _iso(row[5]),
            "variations": {},
        }
        for row in _run(engine, per_experiment, Params())
    ]
    truncated = len(experiments) > MAX_EXPERIMENTS_REPORTED
    experiments = experiments[:MAX_EXPERIMENTS_REPORTED]
    variations: dict[str, dict[str, int]] = {e["experiment_id"]: {} for e in experiments}
    for experiment_id, variation, units in _run(engine, by_variation, Params()):
        if str(experiment_id) in variations:
            variations[str(experiment_id)][str(variation)] = _int(units)
    for e in experiments:
        e["variations"] = variations[e["experiment_id"]]
    count_rows = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(x.table))
    (total,) = _run(engine, count_rows, Params())
    return {
        "table": x.table,
        "rows": _int(total[0]),
        "experiments": experiments,
        "experiments_truncated": truncated,
    }


def source_check(source: EventSource) -> dict[str, Any]:
    """Check the source's tables and columns and count what they hold; return the report
    (``ok`` false with ``errors`` naming the source, table, column and field at fault)."""
    label = source_label(source)
    started = time.perf_counter()
    report = _Report(label=label, dialect="")
    out: dict[str, Any] = {"engine": label, "events": None, "persons": None, "exposures": None}
    try:
        engine = engine_for_source(source, timeout_seconds=DRY_RUN_TIMEOUT_SECONDS)
    except EngineError as error:
        report.error(error.kind, error.message, field="connection")
    else:
        report.dialect = engine.dialect
        try:
            out["events"] = _check_events(engine, source, report)
            out["persons"] = _check_persons(engine, source, report)
            out["exposures"] = _check_exposures(engine, source, report)
        except EngineError as error:
            report.error(error.kind, error.message)
        finally:
            engine.close()
    return {
        "ok": not report.errors,
        **out,
        "errors": report.errors,
        "seconds": round(time.perf_counter() - started, 3),
    }


def source_problems(source: EventSource) -> list[str]:
    """Say what is wrong with the source's tables and columns (missing, wrong type, cannot be
    reached), one message each naming the source and column; empty when nothing is found.

    Used to explain a failed statement: the engine's own message names a column by the
    compiler's alias at best, this names it as the source maps it.
    """
    report = _Report(label=source_label(source), dialect="")
    try:
        engine = engine_for_source(source, timeout_seconds=DRY_RUN_TIMEOUT_SECONDS)
    except EngineError as error:
        return [error.message]
    report.dialect = engine.dialect
    try:
        _check_events(engine, source, report, count=False)
        _check_persons(engine, source, report, count=False)
        _check_exposures(engine, source, report, count=False)
    except EngineError as error:
        report.error(error.kind, error.message)
    finally:
        engine.close()
    return [e["message"] for e in report.errors]


def source_dry_run(source: EventSource, *, now: datetime | None = None) -> dict[str, Any]:
    """Run ``source_check`` and keep its report on the source (``last_check``)."""
    report = source_check(source)
    checked_at = now or timezone.now()
    report["checked_at"] = checked_at.isoformat()
    EventSource.objects.filter(pk=source.pk).update(last_check=report, last_checked_at=checked_at)
    source.last_check, source.last_checked_at = report, checked_at
    return report


# --- one experiment's exposures ------------------------------------------------------------------
@dataclass(frozen=True)
class ExposureSummary:
    """One experiment's exposed units in a source, as the metric statement's population
    counts them: per variation (as the exposure table names it), those matured by the cut-off,
    and the units left out for being seen in more than one variation."""

    units: Mapping[str, int]
    matured: Mapping[str, int]
    excluded_units: int
    first_exposure_us: int | None
    last_exposure_us: int | None


def exposure_summary(
    *,
    engine: Engine,
    exposures: ExposureTable,
    cutoff_us: int,
    maturity_us: int = 0,
    starts_from_us: int | None = None,
    starts_before_us: int | None = None,
    workspace_id: int | None = None,
) -> ExposureSummary:
    """Count the experiment's exposed units in one statement (see ``ExposureSummary``);
    ``workspace_id`` filters a store shared by workspaces (``exposures.workspace_column``)."""
    params = Params()
    raw = _exposure_rows(engine.dialect, exposures).where(
        exp.EQ(
            this=exp.cast(col(exposures.experiment_column, "xr"), "TEXT"),
            expression=params.bind(exposures.experiment_id),
        )
    )
    if exposures.workspace_column:
        raw = raw.where(
            exp.EQ(this=col(exposures.workspace_column, "xr"), expression=params.bind(workspace_id))
        )
    t = col("t", "r")
    bounds: list[exp.Expr] = [exp.LT(this=t, expression=params.bind(cutoff_us))]
    if starts_from_us is not None:
        bounds.append(exp.GTE(this=t.copy(), expression=params.bind(starts_from_us)))
    if starts_before_us is not None:
        bounds.append(exp.LT(this=t.copy(), expression=params.bind(starts_before_us)))
    per_unit = (
        exp.select(
            col("unit_id", "r"),
            exp.alias_(exp.Min(this=col("t", "r")), "start_us"),
            exp.alias_(exp.Min(this=col("variation", "r")), "grp"),
            exp.alias_(exp.Count(this=exp.Distinct(expressions=[col("variation", "r")])), "nv"),
        )
        .from_(raw.subquery("r"))
        .where(and_(*bounds))
        .group_by(col("unit_id", "r"))
    )
    single = exp.EQ(this=col("nv", "u"), expression=num(1))
    flagged = exp.select(
        exp.alias_(case(single, col("grp", "u")), "grp"),
        exp.alias_(case(single.copy(), num(0), num(1)), "multi"),
        col("start_us", "u"),
    ).from_(per_unit.subquery("u"))
    mature = exp.LTE(
        this=exp.Add(this=col("start_us", "f"), expression=params.bind(maturity_us)),
        expression=params.bind(cutoff_us),
    )
    tree = (
        exp.select(
            col("multi", "f"),
            col("grp", "f"),
            exp.alias_(exp.Count(this=exp.Star()), "units"),
            exp.alias_(exp.Sum(this=case(mature, num(1), num(0))), "matured"),
            exp.alias_(exp.Min(this=col("start_us", "f")), "first_us"),
            exp.alias_(exp.Max(this=col("start_us", "f")), "last_us"),
        )
        .from_(flagged.subquery("f"))
        .group_by(col("multi", "f"), col("grp", "f"))
    )
    units: dict[str, int] = {}
    matured: dict[str, int] = {}
    excluded = 0
    firsts: list[int] = []
    lasts: list[int] = []
    for multi, grp, n, n_matured, first_us, last_us in _run(engine, tree, params):
        if _int(n) == 0:
            continue
        if _int(multi):
            excluded += _int(n)
            continue
        units[str(grp)] = _int(n)
        matured[str(grp)] = _int(n_matured)
        firsts.append(int(first_us))
        lasts.append(int(last_us))
    return ExposureSummary(
        units=units,
        matured=matured,
        excluded_units=excluded,
        first_exposure_us=min(firsts) if firsts else None,
        last_exposure_us=max(lasts) if lasts else None,
    )
