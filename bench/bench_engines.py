"""Five metrics over 1,000,000 units / 20,000,000 events on PostgreSQL, DuckDB, chdb and Spark.

Run: .venv/bin/python bench/bench_engines.py [--units N] [--events-per-unit E] [--repeats R]
                                             [--engines postgres,duckdb,chdb,spark] [--quick]

The events are generated once (numpy, seeded; the same generator and seed as
``bench_metrics.py``) into a Parquet file under ``var/bench/`` and loaded from it into each
engine: PostgreSQL (its own database, ``BENCH_ENGINES_DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/plg_bench_engines), a DuckDB file and a chdb directory
under ``var/bench/`` (the event store's tables, ``metrics.engines.store``), and Spark local
(a view over the Parquet file). A rerun with the same sizes reuses the file and the loaded
tables; sizes other than the default load into a database named after them (one data set per
database: another would lengthen PostgreSQL's scans).

On each engine the compiled statement (``metrics.runner.compute_metric_statistics``) is timed
against one hand-written statement in that engine's SQL computing the same sufficient
statistics, alternating the two, median of the repeats; both results are checked equal
(relative 1e-9), and every engine's results are checked equal to PostgreSQL's. Each engine is
compared with PostgreSQL on the same data in the same run.

One file on purpose, like every ``bench/bench_*.py``: ``bench/run.py`` runs each script as a
standalone process, and its data generation, engine loading, hand-written reference statements
and timing belong to this one measurement and are shared with no other module.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_DIR = ROOT / "var" / "bench"
DATABASE_URL = os.environ.get(
    "BENCH_ENGINES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plg_bench_engines"
)
ENGINES = ("postgres", "duckdb", "chdb", "spark")
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
ORIGIN_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SPAN_DAYS = 120
CUTOFF_US = ORIGIN_US + SPAN_DAYS * DAY_US
PARQUET_WORKSPACE = 1  # workspace_id written in the Parquet file (PostgreSQL gets its own id)
CHUNK_UNITS = 50_000
DEFAULT_UNITS = 1_000_000
DEFAULT_EVENTS_PER_UNIT = 20
TARGET_RATIO = 1.2  # compiled vs hand-written, on each engine
TARGET_SPEEDUP = 10.0  # DuckDB and chdb vs PostgreSQL
TOLERANCE = 1e-9

SPECS = [
    {"key": "aha", "type": "conversion", "event": "doc", "window_days": 7},
    {"key": "docs", "type": "count", "event": "doc", "window_days": 14},
    {"key": "revenue", "type": "sum", "event": "upgrade", "property": "amount", "window_days": 30},
    {"key": "d7", "type": "retention", "event": "session", "retention_start_day": 7},
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 14},
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------
def _chunks(units: int, events_per_unit: int, seed: int):
    """Yield Arrow tables of generated events, 50,000 units at a time (memory-bounded).

    The draws are ``bench_metrics.py``'s, in the same order: the same seed gives the same
    events (a signup per unit, then Poisson(E - 1) events at exponential offsets after it).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from metrics.engines.store import EVENT_COLUMNS

    rng = np.random.default_rng(seed)
    kinds = np.array(["doc", "session", "upgrade", "page_view"])
    for first in range(0, units, CHUNK_UNITS):
        count = min(CHUNK_UNITS, units - first)
        signup = ORIGIN_US + (rng.random(count) * (SPAN_DAYS - 5) * DAY_US).astype(np.int64)
        per_unit = rng.poisson(events_per_unit - 1, count)
        owner = np.repeat(np.arange(count), per_unit)
        offsets = (rng.exponential(12 * DAY_US, owner.size)).astype(np.int64)
        kind = rng.choice(kinds, owner.size, p=[0.35, 0.35, 0.02, 0.28])
        amounts = np.round(rng.gamma(2.0, 30.0, owner.size), 2)
        total = count + owner.size
        unit = np.concatenate([np.arange(count), owner]) + first
        distinct_id = pc.binary_join_element_wise("u", pc.cast(pa.array(unit), pa.string()), "")
        upgrade = kind == "upgrade"
        amount_text = pc.cast(pa.array(amounts), pa.string())
        event_properties = pc.if_else(
            pa.array(upgrade),
            pc.binary_join_element_wise('{"amount": ', amount_text, "}", ""),
            "{}",
        )
        properties = pa.concat_arrays(
            [pa.array(["{}"] * count, pa.string()), event_properties.cast(pa.string())]
        )
        columns = [
            pa.array(np.full(total, PARQUET_WORKSPACE, dtype=np.int64)),
            pa.array(np.concatenate([np.full(count, "signup"), kind]), pa.string()),
            distinct_id,
            pa.array(np.concatenate([signup, signup[owner] + offsets])),
            pa.nulls(total, pa.string()),
            properties,
        ]
        yield pa.table(columns, names=list(EVENT_COLUMNS))


def ensure_parquet(units: int, events_per_unit: int, seed: int) -> Path:
    """Write the events to ``var/bench/engines/`` once; return the file's path."""
    import pyarrow.parquet as pq

    path = DATA_DIR / "engines" / f"events_u{units}_e{events_per_unit}_s{seed}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    writer = None
    for table in _chunks(units, events_per_unit, seed):
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=len(table))
    assert writer is not None
    writer.close()
    partial.rename(path)
    log(f"generated {path} in {time.perf_counter() - started:.1f} s")
    return path


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# --- loading into each engine ----------------------------------------------------------------
def database_url(units: int, events_per_unit: int) -> str:
    """The default sizes load into ``DATABASE_URL``; other sizes into a database of their own,
    so that each database holds one data set (another would slow PostgreSQL's scans)."""
    if (units, events_per_unit) == (DEFAULT_UNITS, DEFAULT_EVENTS_PER_UNIT):
        return DATABASE_URL
    return f"{DATABASE_URL}_u{units}_e{events_per_unit}"


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")
    import django

    django.setup()


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # a fixed name of our own


def load_postgres(path: Path, rows: int, slug: str) -> int:
    """Load the file into the app's event table in its own database (COPY, once); return the
    workspace id."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from django.core.management import call_command
    from django.db import connection

    from plg_platform.models import Workspace

    call_command("migrate", verbosity=0)
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s", [workspace.id]
        )
        if cursor.fetchone()[0] == rows:
            return workspace.id
        log(f"postgres: loading {rows} events (COPY, once)")
        started = time.perf_counter()
        cursor.execute("DELETE FROM plg_platform_event WHERE workspace_id = %s", [workspace.id])
        columns = (
            "workspace_id, event, distinct_id, timestamp_us, insert_id, properties, received_at"
        )
        parquet = pq.ParquetFile(path)
        with cursor.connection.cursor().copy(
            f"COPY plg_platform_event ({columns}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            for i in range(parquet.num_row_groups):
                table = parquet.read_row_group(i)
                table = table.set_column(
                    0, "workspace_id", pa.array([workspace.id] * len(table), pa.int64())
                ).append_column("received_at", pa.array(["2026-01-01 00:00:00+00"] * len(table)))
                buffer = io.BytesIO()
                pacsv.write_csv(
                    table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed")
                )
                copy.write(buffer.getvalue())
        cursor.execute("ANALYZE plg_platform_event")
        log(f"postgres: loaded in {time.perf_counter() - started:.0f} s")
    return workspace.id


def _store_count(engine: Any, workspace_id: int) -> int:
    rows = engine.execute(
        "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = "
        + {"duckdb": "$ws", "clickhouse": "{ws:Int64}"}[engine.dialect],
        {"ws": workspace_id},
    )
    return int(rows[0][0])


def open_duckdb(path: Path, rows: int, stem: str) -> Any:
    """A DuckDB file holding the event store's tables, loaded from the Parquet file once."""
    from metrics.engines.duckdb import DuckDBEngine
    from metrics.engines.store import create_store

    engine = DuckDBEngine(path=str(DATA_DIR / f"{stem}.duckdb"))
    create_store(engine)
    if _store_count(engine, PARQUET_WORKSPACE) != rows:
        log(f"duckdb: loading {rows} events (once)")
        started = time.perf_counter()
        engine.command("DELETE FROM plg_platform_event")
        engine.command(
            # The store numbers its rows (``id``): the file's order, as ingestion would.
            "INSERT INTO plg_platform_event SELECT *, row_number() OVER () AS id "
            "FROM read_parquet($p)",
            {"p": str(path)},
        )
        engine.command("CHECKPOINT")
        log(f"duckdb: loaded in {time.perf_counter() - started:.0f} s")
    return engine


def open_chdb(path: Path, rows: int, stem: str) -> Any:
    """A chdb directory holding the event store's MergeTree tables, loaded once."""
    from metrics.engines.clickhouse import ChdbEngine
    from metrics.engines.store import create_store

    engine = ChdbEngine(path=str(DATA_DIR / f"{stem}.chdb"))
    create_store(engine)
    if _store_count(engine, PARQUET_WORKSPACE) != rows:
        log(f"chdb: loading {rows} events (once)")
        started = time.perf_counter()
        engine.command("TRUNCATE TABLE plg_platform_event")
        quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
        engine.command(
            "INSERT INTO plg_platform_event SELECT *, rowNumberInAllBlocks() + 1 AS id "
            f"FROM file('{quoted}', Parquet)"
        )
        engine.command("OPTIMIZE TABLE plg_platform_event FINAL")
        log(f"chdb: loaded in {time.perf_counter() - started:.0f} s")
    return engine


def open_spark(path: Path) -> Any:
    """Spark local (``local[2]``): the event table is a view over the Parquet file."""
    from metrics.engines.spark import SparkEngine

    engine = SparkEngine()
    engine.session.read.parquet(str(path)).createOrReplaceTempView("plg_platform_event")
    return engine


# --- hand-written statements, one per engine -------------------------------------------------
# Each computes, for the signup population, the 13 sums of ``_comparable``: per unit in one
# join of the population with its events, then the matured units' sums. Written as someone
# fluent in that engine would: its own JSON functions, FILTER or -If aggregates.

HAND_POSTGRES = """
WITH pop AS (
  SELECT distinct_id, MIN(timestamp_us) AS s FROM plg_platform_event
  WHERE workspace_id = %(ws)s AND event = 'signup' AND timestamp_us < %(cutoff)s
  GROUP BY distinct_id
), pu AS (
  SELECT p.s,
    MAX(CASE WHEN e.event = 'doc' AND e.timestamp_us < p.s + 7 * %(day)s THEN 1 ELSE 0 END) AS aha,
    SUM(CASE WHEN e.event = 'doc' AND e.timestamp_us < p.s + 14 * %(day)s THEN 1 ELSE 0 END)
      AS docs,
    SUM(CASE WHEN e.event = 'upgrade' AND e.timestamp_us < p.s + 30 * %(day)s
        THEN COALESCE((e.properties ->> 'amount')::float8, 0) ELSE 0 END) AS revenue,
    MAX(CASE WHEN e.event = 'session' AND e.timestamp_us >= p.s + 7 * %(day)s
        AND e.timestamp_us < p.s + 8 * %(day)s THEN 1 ELSE 0 END) AS d7,
    MIN(CASE WHEN e.event = 'doc' AND e.timestamp_us < p.s + 14 * %(day)s
        THEN e.timestamp_us - p.s END) AS ttv
  FROM pop p LEFT JOIN plg_platform_event e
    ON e.workspace_id = %(ws)s AND e.distinct_id = p.distinct_id AND e.timestamp_us >= p.s
   AND e.timestamp_us < p.s + 30 * %(day)s AND e.timestamp_us < %(cutoff)s
   AND e.event IN ('doc', 'upgrade', 'session')
  GROUP BY p.distinct_id, p.s
)
SELECT
  COUNT(*) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  SUM(aha) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  COUNT(*) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(docs * docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  COUNT(*) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  SUM(revenue) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  SUM(revenue * revenue) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  COUNT(*) FILTER (WHERE s + 8 * %(day)s <= %(cutoff)s),
  SUM(d7) FILTER (WHERE s + 8 * %(day)s <= %(cutoff)s),
  COUNT(ttv) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(ttv / 3600000000.0) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM((ttv / 3600000000.0) ^ 2) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s)
FROM pu
"""

HAND_DUCKDB = """
WITH pop AS (
  SELECT distinct_id, min(timestamp_us) AS s FROM plg_platform_event
  WHERE workspace_id = $ws AND event = 'signup' AND timestamp_us < $cutoff
  GROUP BY distinct_id
), pu AS (
  SELECT p.s,
    count(*) FILTER (e.event = 'doc' AND e.timestamp_us < p.s + 7 * $day) > 0 AS aha,
    count(*) FILTER (e.event = 'doc' AND e.timestamp_us < p.s + 14 * $day) AS docs,
    coalesce(sum(TRY_CAST(e.properties ->> '$.amount' AS DOUBLE))
      FILTER (e.event = 'upgrade' AND e.timestamp_us < p.s + 30 * $day), 0) AS revenue,
    count(*) FILTER (e.event = 'session' AND e.timestamp_us >= p.s + 7 * $day
      AND e.timestamp_us < p.s + 8 * $day) > 0 AS d7,
    min(e.timestamp_us - p.s) FILTER (e.event = 'doc' AND e.timestamp_us < p.s + 14 * $day)
      AS ttv
  FROM pop p LEFT JOIN plg_platform_event e
    ON e.workspace_id = $ws AND e.distinct_id = p.distinct_id AND e.timestamp_us >= p.s
   AND e.timestamp_us < p.s + 30 * $day AND e.timestamp_us < $cutoff
   AND e.event IN ('doc', 'upgrade', 'session')
  GROUP BY p.distinct_id, p.s
)
SELECT
  count(*) FILTER (s + 7 * $day <= $cutoff),
  sum(aha::INT) FILTER (s + 7 * $day <= $cutoff),
  count(*) FILTER (s + 14 * $day <= $cutoff),
  sum(docs) FILTER (s + 14 * $day <= $cutoff),
  sum(docs * docs) FILTER (s + 14 * $day <= $cutoff),
  count(*) FILTER (s + 30 * $day <= $cutoff),
  sum(revenue) FILTER (s + 30 * $day <= $cutoff),
  sum(revenue * revenue) FILTER (s + 30 * $day <= $cutoff),
  count(*) FILTER (s + 8 * $day <= $cutoff),
  sum(d7::INT) FILTER (s + 8 * $day <= $cutoff),
  count(ttv) FILTER (s + 14 * $day <= $cutoff),
  sum(ttv / 3.6e9) FILTER (s + 14 * $day <= $cutoff),
  sum((ttv / 3.6e9) ** 2) FILTER (s + 14 * $day <= $cutoff)
FROM pu
"""

HAND_CLICKHOUSE = """
WITH pop AS (
  SELECT distinct_id, min(timestamp_us) AS s FROM plg_platform_event
  WHERE workspace_id = {ws:Int64} AND event = 'signup' AND timestamp_us < {cutoff:Int64}
  GROUP BY distinct_id
), pu AS (
  SELECT p.s AS s,
    countIf(e.event = 'doc' AND e.timestamp_us < p.s + 7 * {day:Int64}) > 0 AS aha,
    countIf(e.event = 'doc' AND e.timestamp_us < p.s + 14 * {day:Int64}) AS docs,
    sumIf(JSONExtractFloat(e.properties, 'amount'),
      e.event = 'upgrade' AND e.timestamp_us < p.s + 30 * {day:Int64}) AS revenue,
    countIf(e.event = 'session' AND e.timestamp_us >= p.s + 7 * {day:Int64}
      AND e.timestamp_us < p.s + 8 * {day:Int64}) > 0 AS d7,
    minIfOrNull(e.timestamp_us - p.s,
      e.event = 'doc' AND e.timestamp_us < p.s + 14 * {day:Int64}) AS ttv
  FROM pop p LEFT JOIN (
    SELECT distinct_id, event, timestamp_us, properties FROM plg_platform_event
    WHERE workspace_id = {ws:Int64} AND timestamp_us < {cutoff:Int64}
      AND event IN ('doc', 'upgrade', 'session')
  ) e ON e.distinct_id = p.distinct_id AND e.timestamp_us >= p.s
     AND e.timestamp_us < p.s + 30 * {day:Int64}
  GROUP BY p.distinct_id, p.s
)
SELECT
  countIf(s + 7 * {day:Int64} <= {cutoff:Int64}),
  sumIf(aha, s + 7 * {day:Int64} <= {cutoff:Int64}),
  countIf(s + 14 * {day:Int64} <= {cutoff:Int64}),
  sumIf(docs, s + 14 * {day:Int64} <= {cutoff:Int64}),
  sumIf(docs * docs, s + 14 * {day:Int64} <= {cutoff:Int64}),
  countIf(s + 30 * {day:Int64} <= {cutoff:Int64}),
  sumIf(revenue, s + 30 * {day:Int64} <= {cutoff:Int64}),
  sumIf(revenue * revenue, s + 30 * {day:Int64} <= {cutoff:Int64}),
  countIf(s + 8 * {day:Int64} <= {cutoff:Int64}),
  sumIf(d7, s + 8 * {day:Int64} <= {cutoff:Int64}),
  countIf(ttv IS NOT NULL AND s + 14 * {day:Int64} <= {cutoff:Int64}),
  sumIf(ttv / 3.6e9, s + 14 * {day:Int64} <= {cutoff:Int64}),
  sumIf(pow(ttv / 3.6e9, 2), s + 14 * {day:Int64} <= {cutoff:Int64})
FROM pu
"""

HAND_SPARK = """
WITH pop AS (
  SELECT distinct_id, min(timestamp_us) AS s FROM plg_platform_event
  WHERE workspace_id = :ws AND event = 'signup' AND timestamp_us < :cutoff
  GROUP BY distinct_id
), pu AS (
  SELECT p.s,
    count_if(e.event = 'doc' AND e.timestamp_us < p.s + 7 * :day) > 0 AS aha,
    count_if(e.event = 'doc' AND e.timestamp_us < p.s + 14 * :day) AS docs,
    coalesce(sum(CAST(get_json_object(e.properties, '$.amount') AS DOUBLE))
      FILTER (WHERE e.event = 'upgrade' AND e.timestamp_us < p.s + 30 * :day), 0) AS revenue,
    count_if(e.event = 'session' AND e.timestamp_us >= p.s + 7 * :day
      AND e.timestamp_us < p.s + 8 * :day) > 0 AS d7,
    min(e.timestamp_us - p.s) FILTER (WHERE e.event = 'doc' AND e.timestamp_us < p.s + 14 * :day)
      AS ttv
  FROM pop p LEFT JOIN plg_platform_event e
    ON e.workspace_id = :ws AND e.distinct_id = p.distinct_id AND e.timestamp_us >= p.s
   AND e.timestamp_us < p.s + 30 * :day AND e.timestamp_us < :cutoff
   AND e.event IN ('doc', 'upgrade', 'session')
  GROUP BY p.distinct_id, p.s
)
SELECT
  count_if(s + 7 * :day <= :cutoff),
  sum(CAST(aha AS INT)) FILTER (WHERE s + 7 * :day <= :cutoff),
  count_if(s + 14 * :day <= :cutoff),
  sum(docs) FILTER (WHERE s + 14 * :day <= :cutoff),
  sum(docs * docs) FILTER (WHERE s + 14 * :day <= :cutoff),
  count_if(s + 30 * :day <= :cutoff),
  sum(revenue) FILTER (WHERE s + 30 * :day <= :cutoff),
  sum(revenue * revenue) FILTER (WHERE s + 30 * :day <= :cutoff),
  count_if(s + 8 * :day <= :cutoff),
  sum(CAST(d7 AS INT)) FILTER (WHERE s + 8 * :day <= :cutoff),
  count(ttv) FILTER (WHERE s + 14 * :day <= :cutoff),
  sum(ttv / 3.6e9) FILTER (WHERE s + 14 * :day <= :cutoff),
  sum(pow(ttv / 3.6e9, 2)) FILTER (WHERE s + 14 * :day <= :cutoff)
FROM pu
"""

HAND_WRITTEN = {
    "postgres": HAND_POSTGRES,
    "duckdb": HAND_DUCKDB,
    "chdb": HAND_CLICKHOUSE,
    "spark": HAND_SPARK,
}


# --- measuring -------------------------------------------------------------------------------
def compiled(engine: Any, workspace_id: int) -> list[Any]:
    """The five metrics through the metric layer on ``engine``."""
    from metrics.engine.definition import parse_definition
    from metrics.engine.populations import FirstSeenPopulation
    from metrics.runner import compute_metric_statistics

    return compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=[parse_definition(s) for s in SPECS],
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )


def hand_written(name: str, engine: Any, workspace_id: int) -> tuple[Any, ...]:
    rows = engine.execute(
        HAND_WRITTEN[name], {"ws": workspace_id, "cutoff": CUTOFF_US, "day": DAY_US}
    )
    return tuple(rows[0])


def _comparable(stats: Sequence[Any]) -> list[float]:
    """The compiled statistics in the hand-written statement's column order."""
    by_key = {s.metric: s for s in stats}
    return [
        by_key["aha"].units,
        by_key["aha"].sum,
        by_key["docs"].units,
        by_key["docs"].sum,
        by_key["docs"].sum_squares,
        by_key["revenue"].units,
        by_key["revenue"].sum,
        by_key["revenue"].sum_squares,
        by_key["d7"].units,
        by_key["d7"].sum,
        by_key["ttv"].n,
        by_key["ttv"].sum,
        by_key["ttv"].sum_squares,
    ]


def _differs(mine: Sequence[Any], reference: Sequence[Any]) -> bool:
    return any(
        abs(float(a) - float(b)) > TOLERANCE * max(1.0, abs(float(b)))
        for a, b in zip(mine, reference, strict=True)
    )


def _all_fields(stats: Sequence[Any]) -> list[float]:
    return [
        float(getattr(s, field) or 0.0)
        for s in sorted(stats, key=lambda s: s.metric)
        for field in ("units", "immature_units", "n", "sum", "sum_squares")
    ]


def cpu_clock(name: str, engine: Any) -> Callable[[], float] | None:
    """CPU seconds spent so far by the process that runs ``engine``'s statements.

    DuckDB and chdb run in our process; Spark local in its JVM (the gateway's child, whose
    /proc entry we read). PostgreSQL runs in server processes shared with other clients
    (parallel workers come and go), so it gets none.
    """
    if name in ("duckdb", "chdb"):
        return time.process_time
    if name == "spark":
        pid = engine.session.sparkContext._gateway.proc.pid
        ticks = os.sysconf("SC_CLK_TCK")

        def jvm_seconds() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks + time.process_time()

        return jvm_seconds
    return None


def time_side_by_side(
    runs: Sequence[Callable[[], Any]], repeats: int, cpu: Callable[[], float] | None
) -> list[tuple[float, float | None]]:
    """Median wall (and CPU) seconds of each run, rotating which goes first."""
    wall: list[list[float]] = [[] for _ in runs]
    used: list[list[float]] = [[] for _ in runs]
    for i in range(repeats):
        order = list(range(len(runs)))
        order = order[i % len(runs) :] + order[: i % len(runs)]
        for which in order:
            cpu_before = cpu() if cpu else 0.0
            started = time.perf_counter()
            runs[which]()
            wall[which].append(time.perf_counter() - started)
            used[which].append((cpu() if cpu else 0.0) - cpu_before)
    return [
        (statistics.median(w), statistics.median(u) if cpu else None)
        for w, u in zip(wall, used, strict=True)
    ]


def open_engine(name: str, path: Path, rows: int, stem: str) -> tuple[Any, int]:
    """Return the engine and the workspace id its copy of the events is stored under."""
    if name == "postgres":
        from metrics.engines.app_db import AppDatabaseEngine

        return AppDatabaseEngine(), load_postgres(path, rows, f"bench-engines-{stem}")
    if name == "duckdb":
        return open_duckdb(path, rows, stem), PARQUET_WORKSPACE
    if name == "chdb":
        return open_chdb(path, rows, stem), PARQUET_WORKSPACE
    return open_spark(path), PARQUET_WORKSPACE


class ResultsDiffer(RuntimeError):
    """Two statements that should give the same statistics did not."""


def measure(
    name: str, path: Path, rows: int, stem: str, repeats: int, reference: list[float] | None
) -> tuple[float, float, list[float]]:
    """Check then time one engine; print its lines; return the two medians and its results."""
    started = time.perf_counter()
    engine, workspace_id = open_engine(name, path, rows, stem)
    log(f"{name}: ready in {time.perf_counter() - started:.1f} s")
    ours = compiled(engine, workspace_id)  # also the warm-up run
    theirs = hand_written(name, engine, workspace_id)
    if _differs(_comparable(ours), theirs):
        raise ResultsDiffer(f"{name}: compiled {_comparable(ours)} != hand-written {theirs}")
    if reference is not None and _differs(_all_fields(ours), reference):
        raise ResultsDiffer(f"{name}: {_all_fields(ours)} != the first engine's {reference}")
    (ours_s, ours_cpu), (theirs_s, theirs_cpu) = time_side_by_side(
        [
            functools.partial(compiled, engine, workspace_id),
            functools.partial(hand_written, name, engine, workspace_id),
        ],
        repeats,
        cpu_clock(name, engine),
    )
    if name != "spark":  # Spark's session is the process's, reused
        engine.close()  # frees the engine's memory before the next one runs
    print(f"engines_{name}_compiled_seconds: {ours_s:.2f}")
    print(f"engines_{name}_hand_written_seconds: {theirs_s:.2f}")
    print(
        f"engines_{name}_compiled_vs_hand_written_ratio: {ours_s / theirs_s:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    if ours_cpu is not None and theirs_cpu:
        print(f"engines_{name}_compiled_cpu_seconds: {ours_cpu:.2f}")
        print(f"engines_{name}_hand_written_cpu_seconds: {theirs_cpu:.2f}")
        print(f"engines_{name}_compiled_vs_hand_written_cpu_ratio: {ours_cpu / theirs_cpu:.2f}")
    return ours_s, theirs_s, _all_fields(ours)


def print_speedups(seconds: dict[str, tuple[float, float]]) -> None:
    """Each engine against PostgreSQL, compiled and hand-written."""
    pg_ours, pg_theirs = seconds["postgres"]
    for name, (ours_s, theirs_s) in seconds.items():
        if name == "postgres":
            continue
        target = f" (target >= {TARGET_SPEEDUP:.0f})" if name in ("duckdb", "chdb") else ""
        print(f"engines_{name}_vs_postgres_compiled_speedup: {pg_ours / ours_s:.1f}{target}")
        print(f"engines_{name}_vs_postgres_hand_written_speedup: {pg_theirs / theirs_s:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=DEFAULT_UNITS)
    parser.add_argument("--events-per-unit", type=int, default=DEFAULT_EVENTS_PER_UNIT)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="100,000 units, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.units, args.repeats = 100_000, 1
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    unknown = set(names) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")

    url = database_url(args.units, args.events_per_unit)
    if "postgres" in names:
        _ensure_database(url)
    _setup_django(url)
    path = ensure_parquet(args.units, args.events_per_unit, seed=1)
    rows = parquet_rows(path)
    stem = f"u{args.units}_e{args.events_per_unit}_s1"
    print(f"engines_units: {args.units}")
    print(f"engines_events: {rows}")
    print(f"engines_parquet_mib: {path.stat().st_size / 2**20:.0f}")
    print(f"engines_repeats: {args.repeats}")

    seconds: dict[str, tuple[float, float]] = {}
    reference: list[float] | None = None
    for name in names:
        try:
            ours_s, theirs_s, results = measure(name, path, rows, stem, args.repeats, reference)
        except ResultsDiffer as error:
            log(f"!! {error}")
            return 1
        seconds[name] = (ours_s, theirs_s)
        reference = reference or results
    print(f"engines_results_equal_across_engines: {','.join(names)} (relative {TOLERANCE})")
    if "postgres" in seconds:
        print_speedups(seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
