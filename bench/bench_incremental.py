"""A daily incremental refresh of an experiment's metrics against the full recompute.

Run: .venv/bin/python bench/bench_incremental.py [--units N] [--days D] [--refreshes R]
     [--lookback L] [--quick]

An experiment exposes N units (200,000) evenly over D days (60); each unit has 10–40 events
(about 5 M in all): a quarter in the 14 days before its exposure (CUPED's pre-period), the rest
after it (exponential, mean 12 days). Five metrics (conversion, count, sum of a property,
day-7 retention, time to event) with CUPED covariates, grouped by variant and by day of first
exposure: the statement the analysis runs.

On PostgreSQL (the app database): the partial aggregates are built once at day D − R (timed:
the first refresh), then for each of the last R days the day's exposures arrive and two things
are timed side by side on the same data: the incremental refresh (re-read the last L + 1 days
of events, rebuild the new units, recompute the touched units' values, then the statistics
statement over unit values) and the full recompute (the statement over every event). Both give
the same numbers (checked, 1e-9). The ratio is median incremental / median full (target ≤ 10%).
Rows read are counted (PostgreSQL does not report them): event rows in the ranges read.

Data are generated inside PostgreSQL (``generate_series`` with ``setseed``) in
``BENCH_INCREMENTAL_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/
plg_bench_incremental; created, migrated); a rerun with the same sizes reuses them.
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
WHERE u.ws = %(ws)s AND k.t < %(origin)s + %(days)s * %(day)s;
"""


def log(message: str) -> None:
    print(f"[bench_incremental] {message}", file=sys.stderr, flush=True)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--refreshes", type=int, default=4, help="daily refreshes timed")
    parser.add_argument("--lookback", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20,000 units, 2 refreshes")
    args = parser.parse_args()
    if args.quick:
        args.units, args.refreshes = 20_000, 2

    _ensure_database()
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from metrics.engine.definition import parse_definition
    from metrics.engine.populations import TablePopulation
    from metrics.engines.app_db import AppDatabaseEngine
    from metrics.incremental import partials_refresh, partials_statistics
    from metrics.models import PartialScope
    from metrics.runner import compute_metric_statistics
    from plg_platform.models import Workspace

    slug = f"bench-incremental-{args.units}"
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    events = _load(workspace.pk, args.units, args.days)
    metrics = [parse_definition(spec) for spec in SPECS]
    population = TablePopulation(
        table=EXPOSURES,
        unit_column="unit_id",
        start_column="exposed_at_us",
        group_column="variant",
        filters=(("ws", workspace.pk),),
        exclude_column="excluded",
        bucket_us=DAY_US,
    )
    scope_key = f"bench:{args.units}:{args.lookback}"
    PartialScope.objects.filter(workspace=workspace, key=scope_key).delete()

    def cutoff(day: int) -> int:
        return ORIGIN_US + day * DAY_US + REFRESH_HOUR * HOUR_US

    def refresh(day: int):
        engine = AppDatabaseEngine()
        started = time.perf_counter()
        done = partials_refresh(
            workspace_id=workspace.pk,
            scope_key=scope_key,
            metrics=metrics,
            population=population,
            cutoff_us=cutoff(day),
            covariate_days=COVARIATE_DAYS,
            lookback_days=args.lookback,
            engine=engine,
        )
        stats = partials_statistics(refresh=done, population=population)
        return time.perf_counter() - started, stats, done

    def full(day: int):
        started = time.perf_counter()
        stats = compute_metric_statistics(
            workspace_id=workspace.pk,
            metrics=metrics,
            population=population,
            cutoff_us=cutoff(day),
            covariate_days=COVARIATE_DAYS,
        )
        return time.perf_counter() - started, stats

    first_day = args.days - args.refreshes
    _expose_until(workspace.pk, cutoff(first_day))
    _run(f"ANALYZE {EXPOSURES}")
    build_seconds, _, built = refresh(first_day)
    log(f"first build at day {first_day}: {build_seconds:.2f} s ({built.report()})")
    daily: list[float] = []
    full_times: list[float] = []
    reports = []
    for day in range(first_day + 1, args.days + 1):
        exposed = _expose_until(workspace.pk, cutoff(day))
        seconds, stats, done = refresh(day)
        assert done.mode == "incremental", done.report()
        full_seconds, expected = full(day)
        _same(stats, expected)
        daily.append(seconds)
        full_times.append(full_seconds)
        reports.append(done.report())
        log(
            f"day {day}: {exposed:,} exposed, incremental {seconds:.2f} s "
            f"(refresh {done.report()['seconds']:.2f} s in {done.report()['statements']} "
            f"statements, {done.report()['rows_read']:,} rows), full {full_seconds:.2f} s"
        )
    # The full recompute once more with the rows it reads counted, for the figure below.
    engine = AppDatabaseEngine()
    direct = partials_refresh(
        workspace_id=workspace.pk,
        scope_key=scope_key,
        metrics=metrics,
        population=population,
        cutoff_us=cutoff(args.days) - 1,
        covariate_days=COVARIATE_DAYS,
        engine=engine,
    )
    assert direct.mode == "direct"
    partials_statistics(refresh=direct, population=population)
    sizes = {
        table: _run(f"SELECT COUNT(*) FROM {table} WHERE scope_id = %s", [done.scope_id])[0][0]
        for table in ("metrics_partial_day", "metrics_partial_unit")
    }

    ratio = statistics.median(daily) / statistics.median(full_times)
    print(f"incremental_units: {args.units}")
    print(f"incremental_events: {events}")
    print(f"incremental_days: {args.days}")
    print(f"incremental_lookback_days: {args.lookback}")
    print(f"incremental_metrics: {len(metrics)} (CUPED {COVARIATE_DAYS} days, by variant and day)")
    print(f"incremental_pg_first_build_seconds: {build_seconds:.2f}")
    print(f"incremental_pg_full_recompute_seconds: {statistics.median(full_times):.2f}")
    print(f"incremental_pg_daily_refresh_seconds: {statistics.median(daily):.3f}")
    print(f"incremental_pg_daily_vs_full_ratio: {ratio:.3f} (target <= {TARGET_RATIO})")
    daily_rows = int(statistics.median(r["rows_read"] for r in reports))
    print(f"incremental_pg_daily_rows_read: {daily_rows}")
    print(f"incremental_pg_full_rows_read: {direct.report()['rows_read']}")
    print(f"incremental_pg_partial_day_rows: {sizes['metrics_partial_day']}")
    print(f"incremental_pg_partial_unit_rows: {sizes['metrics_partial_unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
