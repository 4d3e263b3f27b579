"""A daily incremental refresh of an experiment's metrics against the full recompute.

Run: .venv/bin/python bench/bench_incremental.py [--units N] [--days D] [--refreshes R]
     [--lookback L] [--engines postgres,duckdb] [--quick] [--trace]

An experiment exposes N units (200,000) evenly over D days (60); each unit has 10–40 events
(about 4.3 M in all, stored in time order as ingestion appends them): a quarter in the 14 days
before its exposure (CUPED's pre-period), the rest after it (exponential, mean 12 days). Five
metrics (conversion, count, sum of a property, day-7 retention, time to event) with CUPED
covariates, grouped by variant and by day of first exposure: the analysis' first statement.

Per engine (PostgreSQL as the app database; DuckDB with its own event store in a file): the
partial aggregates are built at day D − R (the first refresh, timed), then on each of the last R
days the day's exposures arrive and two things are timed side by side on the same data: the
incremental refresh plus its statistics statement (``metrics.incremental``: re-read the last
L + 1 days of events, build the new units, fold settled days into the units' components, one
statement over one row per unit and the recent day rows) and the full recompute (the statement
over every event). Both give the same numbers (checked to 1e-9 each day). The ratio is the
mean daily refresh over the mean full recompute (target <= 10%); a week of refreshes includes
DuckDB's weekly fold. Rows read: from PostgreSQL's plans of the statements that read events,
counted on DuckDB (it does not report them).

Data are generated inside each engine (``generate_series``/``range`` with random draws: the two
engines' data are alike, not identical) in ``BENCH_INCREMENTAL_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/plg_bench_incremental; created, migrated) and
var/bench_incremental_<N>_<D>_v2.duckdb; a rerun with the same sizes reuses them.

One file on purpose, like every ``bench/bench_*.py``: ``bench/run.py`` runs each script as a
standalone process, and its data generation, engine loading, hand-written reference statements
and timing belong to this one measurement and are shared with no other module.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_INCREMENTAL_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/plg_bench_incremental",
)
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
ORIGIN_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
COVARIATE_DAYS = 14
TARGET_RATIO = 0.10
REFRESH_HOUR = 6  # each day's refresh runs at 06:00 UTC: the last slice is a part of a day
# Events are stored in time order, as ingestion appends them (v1 stored them unit by unit).
DATA_VERSION = "v2"

SPECS = [
    {"key": "aha", "type": "conversion", "event": "doc", "window_days": 7},
    {"key": "docs", "type": "count", "event": "doc", "window_days": 14},
    {"key": "revenue", "type": "sum", "event": "upgrade", "property": "amount", "window_days": 30},
    {"key": "d7", "type": "retention", "event": "session", "retention_start_day": 7},
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 14},
]

EXPOSURES = "bench_inc_exposure"
GENERATE = """
CREATE TABLE IF NOT EXISTS bench_inc_units (ws bigint, unit_id text, exposed bigint,
    variant text);
CREATE TABLE IF NOT EXISTS bench_inc_exposure (ws bigint, unit_id text, exposed_at_us bigint,
    variant text, excluded boolean);
CREATE TABLE IF NOT EXISTS bench_inc_loaded (ws bigint, units int, days int);
DELETE FROM bench_inc_units WHERE ws = %(ws)s;
SELECT setseed(%(seed)s);
INSERT INTO bench_inc_units
SELECT %(ws)s, 'u' || i, %(origin)s + floor(random() * %(days)s * %(day)s)::bigint,
       CASE WHEN hashtext('u' || i) %% 2 = 0 THEN 'control' ELSE 'treatment' END
FROM generate_series(0, %(units)s - 1) AS i;
INSERT INTO plg_platform_event
    (workspace_id, event, distinct_id, timestamp_us, insert_id, properties, received_at)
SELECT %(ws)s, k.kind, u.unit_id, k.t, NULL,
       CASE WHEN k.kind = 'upgrade'
            THEN jsonb_build_object('amount', round((-ln(1 - k.r3) * 60)::numeric, 2))
            ELSE '{}'::jsonb END,
       now()
FROM bench_inc_units u
CROSS JOIN LATERAL generate_series(1, 10 + (hashtext(u.unit_id) & 2147483647) %% 31) AS j
CROSS JOIN LATERAL (
    SELECT CASE WHEN r1 < (CASE WHEN u.variant = 'treatment' THEN 0.37 ELSE 0.35 END) THEN 'doc'
                WHEN r1 < 0.70 THEN 'session'
                WHEN r1 < 0.72 THEN 'upgrade'
                ELSE 'page_view' END AS kind,
           CASE WHEN r2 < 0.25 THEN u.exposed - floor(r4 * 14 * %(day)s)::bigint - 1
                ELSE u.exposed + floor(-ln(1 - r4) * 12 * %(day)s)::bigint END AS t,
           r3
    FROM (SELECT random() AS r1, random() AS r2, random() AS r3, random() AS r4, j AS touch) x
) k
WHERE u.ws = %(ws)s AND k.t < %(origin)s + %(days)s * %(day)s
ORDER BY k.t;
"""


def log(message: str) -> None:
    print(f"[bench_incremental] {message}", file=sys.stderr, flush=True)


def _trace_statements() -> None:
    """With ``--trace``: every engine statement's seconds and its first words, to stderr."""
    from metrics.engines.base import Engine

    plain = Engine.execute
    dump = os.environ.get("BENCH_INCREMENTAL_TRACE_FILE")  # each statement as a JSON line

    def traced(self, sql, params):
        started = time.perf_counter()
        try:
            return plain(self, sql, params)
        finally:
            words = " ".join(sql.split())[:110]
            log(f"  {time.perf_counter() - started:7.3f} s  {words}")
            if dump:
                import json

                with open(dump, "a") as out:
                    out.write(json.dumps({"sql": sql, "params": dict(params)}, default=str) + "\n")

    Engine.execute = traced  # type: ignore[method-assign]


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")
    os.environ.setdefault("CELERY_BROKER_DIR", str(ROOT / "var" / "broker-bench-incremental"))
    import django

    django.setup()


def _ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # a fixed name of our own


def _run(sql: str, params: dict | list | None = None) -> list[tuple]:
    from django.db import connection

    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for statement in sql.split(";"):
            if statement.strip():
                cursor.execute(statement, params)
                if cursor.description is not None:
                    rows = cursor.fetchall()
    return rows


def _load(workspace_id: int, units: int, days: int) -> int:
    """Generate units and events unless already there; return the number of events."""
    from django.db import transaction

    _run("CREATE TABLE IF NOT EXISTS bench_inc_loaded (ws bigint, units int, days int)")
    done = _run(
        "SELECT COUNT(*) FROM bench_inc_loaded WHERE ws = %s AND units = %s AND days = %s",
        [workspace_id, units, days],
    )[0][0]
    if not done:
        log(f"generating {units:,} units over {days} days and their events in PostgreSQL")
        params = {
            "ws": workspace_id,
            "seed": 0.42,
            "origin": ORIGIN_US,
            "days": days,
            "day": DAY_US,
            "units": units,
        }
        started = time.perf_counter()
        with transaction.atomic():
            _run("DELETE FROM plg_platform_event WHERE workspace_id = %(ws)s", params)
            _run(GENERATE, params)
            _run("DELETE FROM bench_inc_loaded WHERE ws = %(ws)s", params)
            _run("INSERT INTO bench_inc_loaded VALUES (%(ws)s, %(units)s, %(days)s)", params)
        _run("ANALYZE plg_platform_event")
        log(f"generated in {time.perf_counter() - started:.1f} s")
    return _run("SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s", [workspace_id])[
        0
    ][0]


def _expose_until(workspace_id: int, cutoff_us: int) -> int:
    """Make the exposures those that happened before ``cutoff_us``; return how many."""
    _run(
        f"DELETE FROM {EXPOSURES} WHERE ws = %(ws)s AND exposed_at_us >= %(c)s;"
        f"INSERT INTO {EXPOSURES} SELECT ws, unit_id, exposed, variant, false "
        f"FROM bench_inc_units u WHERE ws = %(ws)s AND exposed < %(c)s AND NOT EXISTS "
        f"(SELECT 1 FROM {EXPOSURES} x WHERE x.ws = u.ws AND x.unit_id = u.unit_id)",
        {"ws": workspace_id, "c": cutoff_us},
    )
    return _run(f"SELECT COUNT(*) FROM {EXPOSURES} WHERE ws = %s", [workspace_id])[0][0]


def _same(actual, expected) -> None:
    """The incremental statistics equal the full ones (rel 1e-9)."""
    import math
    from dataclasses import fields

    def key(s):
        return (s.metric, s.group, s.segment, s.bucket)

    assert sorted(map(key, actual)) == sorted(map(key, expected)), "different groups"
    by_key = {key(s): s for s in expected}
    for a in actual:
        e = by_key[key(a)]
        for f in fields(a):
            x, y = getattr(a, f.name), getattr(e, f.name)
            if isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (key(a), f.name, x, y)
            else:
                assert x == y, (key(a), f.name, x, y)


DUCKDB_GENERATE = """
CREATE OR REPLACE TABLE bench_inc_units AS
SELECT 'u' || i AS unit_id,
       {origin} + CAST(floor(random() * {days} * {day}) AS BIGINT) AS exposed,
       CASE WHEN hash('u' || i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant
FROM range({units}) AS t(i);
CREATE OR REPLACE TABLE bench_inc_exposure (ws BIGINT, unit_id VARCHAR, exposed_at_us BIGINT,
    variant VARCHAR, excluded BOOLEAN);
DELETE FROM plg_platform_event WHERE workspace_id = {ws};
INSERT INTO plg_platform_event
SELECT {ws}, kind, unit_id, t, NULL,
       CASE WHEN kind = 'upgrade'
            THEN '{{"amount": ' || CAST(round(-ln(1 - r3) * 60, 2) AS VARCHAR) || '}}'
            ELSE '{{}}' END,
       row_number() OVER (ORDER BY t)
FROM (
    SELECT u.unit_id,
           CASE WHEN r1 < (CASE WHEN u.variant = 'treatment' THEN 0.37 ELSE 0.35 END)
                THEN 'doc' WHEN r1 < 0.70 THEN 'session' WHEN r1 < 0.72 THEN 'upgrade'
                ELSE 'page_view' END AS kind,
           CASE WHEN r2 < 0.25 THEN u.exposed - CAST(floor(r4 * 14 * {day}) AS BIGINT) - 1
                ELSE u.exposed + CAST(floor(-ln(1 - r4) * 12 * {day}) AS BIGINT) END AS t,
           r3
    FROM (SELECT *, random() AS r1, random() AS r2, random() AS r3, random() AS r4
          FROM bench_inc_units u CROSS JOIN range(40) AS j(x)
          WHERE x < 10 + hash(u.unit_id) % 31) AS u
) AS g
WHERE t < {origin} + {days} * {day}
ORDER BY t;
"""


def _duckdb_engine(workspace_id: int, units: int, days: int):
    """A DuckDB file with the same kind of data (its own random draw), the event store and
    the partials' tables; generated once per size."""
    from metrics.engines.duckdb import DuckDBEngine
    from metrics.engines.store import create_partials_store, create_store

    path = ROOT / "var" / f"bench_incremental_{units}_{days}_{DATA_VERSION}.duckdb"
    fresh = not path.exists()
    engine = DuckDBEngine(path=str(path))
    create_store(engine)
    create_partials_store(engine)
    if fresh:
        log(f"generating {units:,} units over {days} days and their events in DuckDB")
        sql = DUCKDB_GENERATE.format(
            origin=ORIGIN_US, days=days, day=DAY_US, units=units, ws=workspace_id
        )
        for statement in sql.split(";"):
            if statement.strip():
                engine.command(statement)
    return engine


class _Setup:
    """One engine's side of the benchmark: how to expose units and time the two paths."""

    def __init__(self, *, label, engine_factory, expose_until, workspace, metrics, args):
        from metrics.engine.populations import TablePopulation

        self.label = label
        self.engine_factory = engine_factory
        self.expose_until = expose_until
        self.workspace = workspace
        self.metrics = metrics
        self.args = args
        self.population = TablePopulation(
            table=EXPOSURES,
            unit_column="unit_id",
            start_column="exposed_at_us",
            group_column="variant",
            filters=(("ws", workspace.pk),),
            exclude_column="excluded",
            bucket_us=DAY_US,
        )
        self.scope_key = f"bench:{label}:{args.units}:{args.lookback}"

    def refresh(self, cutoff_us: int, **kwargs):
        from metrics.incremental import partials_refresh, partials_statistics

        started = time.perf_counter()
        done = partials_refresh(
            workspace_id=self.workspace.pk,
            scope_key=self.scope_key,
            metrics=self.metrics,
            population=self.population,
            cutoff_us=cutoff_us,
            covariate_days=COVARIATE_DAYS,
            lookback_days=self.args.lookback,
            engine=self.engine_factory(),
            **kwargs,
        )
        stats = partials_statistics(refresh=done, population=self.population)
        return time.perf_counter() - started, stats, done.report()

    def full(self, cutoff_us: int):
        from metrics.runner import compute_metric_statistics

        started = time.perf_counter()
        stats = compute_metric_statistics(
            workspace_id=self.workspace.pk,
            metrics=self.metrics,
            population=self.population,
            cutoff_us=cutoff_us,
            covariate_days=COVARIATE_DAYS,
            engine=self.engine_factory(),
        )
        return time.perf_counter() - started, stats


def cutoff(day: int) -> int:
    return ORIGIN_US + day * DAY_US + REFRESH_HOUR * HOUR_US


def measure(setup: _Setup, prefix: str) -> None:
    """Build at day D − R, then R daily refreshes beside full recomputes; print the lines."""
    from metrics.models import PartialScope

    args = setup.args
    PartialScope.objects.filter(workspace=setup.workspace, key=setup.scope_key).delete()
    first_day = args.days - args.refreshes
    setup.expose_until(cutoff(first_day))
    build_seconds, _, built = setup.refresh(cutoff(first_day))
    log(f"{prefix}: first build at day {first_day}: {build_seconds:.2f} s ({built})")
    daily: list[float] = []
    full_times: list[float] = []
    reports = []
    for day in range(first_day + 1, args.days + 1):
        exposed = setup.expose_until(cutoff(day))
        seconds, stats, report = setup.refresh(cutoff(day))
        assert report["mode"] == "incremental", report
        full_seconds, expected = setup.full(cutoff(day))
        _same(stats, expected)
        daily.append(seconds)
        full_times.append(full_seconds)
        reports.append(report)
        log(
            f"{prefix}: day {day}: {exposed:,} exposed, incremental {seconds:.2f} s (refresh "
            f"{report['seconds']:.2f} s in {report['statements']} statements, "
            f"{report['rows_read']:,} rows), full {full_seconds:.2f} s"
        )
    # The full recompute once more, through the refresh's direct path: the rows it reads.
    _, _, direct = setup.refresh(cutoff(args.days) - 1)
    assert direct["mode"] == "direct", direct
    ratio = statistics.mean(daily) / statistics.mean(full_times)
    print(f"{prefix}_first_build_seconds: {build_seconds:.2f}")
    print(f"{prefix}_full_recompute_seconds: {statistics.mean(full_times):.3f}")
    print(f"{prefix}_daily_refresh_seconds: {statistics.mean(daily):.3f}")
    print(f"{prefix}_daily_refresh_seconds_max: {max(daily):.3f}")
    print(f"{prefix}_daily_vs_full_ratio: {ratio:.3f} (target <= {TARGET_RATIO})")
    print(f"{prefix}_daily_statements: {reports[-1]['statements']}")
    print(f"{prefix}_daily_rows_read: {int(statistics.mean(r['rows_read'] for r in reports))}")
    print(f"{prefix}_full_rows_read: {direct['rows_read']}")
    print(f"{prefix}_rows_read_source: {reports[-1]['rows_read_source']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--refreshes", type=int, default=7, help="daily refreshes timed")
    parser.add_argument("--lookback", type=int, default=2)
    parser.add_argument("--engines", default="postgres,duckdb")
    parser.add_argument("--quick", action="store_true", help="20,000 units, 2 refreshes")
    parser.add_argument("--trace", action="store_true", help="each statement's seconds (stderr)")
    args = parser.parse_args()
    if args.quick:
        args.units, args.refreshes = 20_000, 2

    _ensure_database()
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.trace:
        _trace_statements()

    from metrics.engine.definition import parse_definition
    from metrics.engines.app_db import AppDatabaseEngine
    from plg_platform.models import Workspace

    slug = f"bench-incremental-{args.units}-{DATA_VERSION}"
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    metrics = [parse_definition(spec) for spec in SPECS]
    engines = args.engines.split(",")
    print(f"incremental_units: {args.units}")
    print(f"incremental_days: {args.days}")
    print(f"incremental_lookback_days: {args.lookback}")
    print(f"incremental_metrics: {len(metrics)} (CUPED {COVARIATE_DAYS} days, by variant and day)")
    if "postgres" in engines:
        events = _load(workspace.pk, args.units, args.days)
        print(f"incremental_pg_events: {events}")

        def pg_expose(cutoff_us: int) -> int:
            exposed = _expose_until(workspace.pk, cutoff_us)
            _run(f"ANALYZE {EXPOSURES}")
            return exposed

        measure(
            _Setup(
                label="pg",
                engine_factory=AppDatabaseEngine,
                expose_until=pg_expose,
                workspace=workspace,
                metrics=metrics,
                args=args,
            ),
            "incremental_pg",
        )
    if "duckdb" in engines:
        duck = _duckdb_engine(workspace.pk, args.units, args.days)
        events = duck.execute("SELECT COUNT(*) FROM plg_platform_event", {})[0][0]
        print(f"incremental_duckdb_events: {events}")

        def duck_expose(cutoff_us: int) -> int:
            duck.command(f"DELETE FROM {EXPOSURES} WHERE exposed_at_us >= {int(cutoff_us)}")
            duck.command(
                f"INSERT INTO {EXPOSURES} SELECT {int(workspace.pk)}, unit_id, exposed, "
                f"variant, false FROM bench_inc_units u WHERE exposed < {int(cutoff_us)} "
                f"AND NOT EXISTS (SELECT 1 FROM {EXPOSURES} x WHERE x.unit_id = u.unit_id)"
            )
            return duck.execute(f"SELECT COUNT(*) FROM {EXPOSURES}", {})[0][0]

        measure(
            _Setup(
                label="duckdb",
                engine_factory=lambda: duck,  # one connection: a DuckDB file has one writer
                expose_until=duck_expose,
                workspace=workspace,
                metrics=metrics,
                args=args,
            ),
            "incremental_duckdb",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
