"""Five metrics of different types over 1,000,000 units / 20,000,000 events on PostgreSQL.

Run: .venv/bin/python bench/bench_metrics.py [--units N] [--events-per-unit E] [--repeats R]

The compiled statement (our metric layer) is timed against one hand-written SQL statement that
computes the same sufficient statistics, in the same run, on the same data; both results are
checked equal. Peak memory of the Python process is measured in a fresh subprocess for the full
workspace and for one a tenth of its size, to show it does not grow with the number of events.

Data are generated with numpy and loaded with COPY into a dedicated database
(``BENCH_METRICS_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/plg_bench_metrics);
a rerun with the same sizes reuses them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_METRICS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plg_bench_metrics"
)
DAY_US = 86_400_000_000
ORIGIN_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SPAN_DAYS = 120
CUTOFF_US = ORIGIN_US + SPAN_DAYS * DAY_US
TARGET_RATIO = 1.5

SPECS = [
    {"key": "aha", "type": "conversion", "event": "doc", "window_days": 7},
    {"key": "docs", "type": "count", "event": "doc", "window_days": 14},
    {"key": "revenue", "type": "sum", "event": "upgrade", "property": "amount", "window_days": 30},
    {"key": "d7", "type": "retention", "event": "session", "retention_start_day": 7},
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 14},
]

HAND_WRITTEN = """
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


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")
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


def _workspace(slug: str) -> int:
    from plg_platform.models import Workspace

    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    return workspace.id


def _rows(workspace_id: int, units: int, events_per_unit: int, seed: int):
    """Yield COPY text lines of generated events, 50,000 units at a time (memory-bounded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chunk = 50_000
    for first in range(0, units, chunk):
        count = min(chunk, units - first)
        ids = np.arange(first, first + count)
        signup = ORIGIN_US + (rng.random(count) * (SPAN_DAYS - 5) * DAY_US).astype(np.int64)
        per_unit = rng.poisson(events_per_unit - 1, count)
        owner = np.repeat(np.arange(count), per_unit)
        offsets = (rng.exponential(12 * DAY_US, owner.size)).astype(np.int64)
        kinds = rng.choice(
            np.array(["doc", "session", "upgrade", "page_view"]),
            owner.size,
            p=[0.35, 0.35, 0.02, 0.28],
        )
        amounts = np.round(rng.gamma(2.0, 30.0, owner.size), 2)
        lines = [
            f"{workspace_id}\tsignup\tu{ids[i]}\t{signup[i]}\t\\N\t{{}}\t2026-01-01 00:00:00+00\n"
            for i in range(count)
        ]
        times = signup[owner] + offsets
        for j in range(owner.size):
            kind = kinds[j]
            props = f'{{"amount": {amounts[j]}}}' if kind == "upgrade" else "{}"
            lines.append(
                f"{workspace_id}\t{kind}\tu{ids[owner[j]]}\t{times[j]}\t\\N\t{props}\t"
                "2026-01-01 00:00:00+00\n"
            )
        yield "".join(lines)


def _load(workspace_id: int, units: int, events_per_unit: int, seed: int) -> int:
    """Load the workspace's events unless already there; return the number of events."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s AND event = 'signup'",
            [workspace_id],
        )
        if cursor.fetchone()[0] == units:
            cursor.execute(
                "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s", [workspace_id]
            )
            return cursor.fetchone()[0]
        cursor.execute("DELETE FROM plg_platform_event WHERE workspace_id = %s", [workspace_id])
        raw = cursor.connection
        columns = (
            "workspace_id, event, distinct_id, timestamp_us, insert_id, properties, received_at"
        )
        with raw.cursor().copy(f"COPY plg_platform_event ({columns}) FROM STDIN") as copy:
            for block in _rows(workspace_id, units, events_per_unit, seed):
                copy.write(block)
        cursor.execute("ANALYZE plg_platform_event")
        cursor.execute(
            "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s", [workspace_id]
        )
        return cursor.fetchone()[0]


def _compiled(workspace_id: int):
    from metrics.engine.definition import parse_definition
    from metrics.public import FirstSeenPopulation, compute_metric_statistics

    return compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=[parse_definition(s) for s in SPECS],
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
    )


def _hand_written(workspace_id: int) -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(HAND_WRITTEN, {"ws": workspace_id, "cutoff": CUTOFF_US, "day": DAY_US})
        return cursor.fetchone()


def _check_equal(ours, theirs: tuple) -> None:
    by_key = {s.metric: s for s in ours}
    expected = [
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
    for mine, reference in zip(expected, theirs, strict=True):
        if abs(float(mine) - float(reference)) > 1e-6 * max(1.0, abs(float(reference))):
            raise SystemExit(f"compiled and hand-written statistics differ: {expected} {theirs}")


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _memory_child(workspace_id: int) -> None:
    _setup_django()
    _compiled(workspace_id)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork/exec from the parent (which
    # held the generated data), while VmHWM belongs to this process's own memory map.
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _peak_memory_mib(workspace_id: int) -> float:
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--memory-child", str(workspace_id)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": DATABASE_URL},
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events-per-unit", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 units, one repeat")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child)
        return
    if args.quick:
        args.units, args.repeats = 100_000, 1
    _ensure_database()
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    big = _workspace("bench-metrics-big")
    small = _workspace("bench-metrics-small")
    started = time.perf_counter()
    events = _load(big, args.units, args.events_per_unit, seed=1)
    small_events = _load(small, args.units // 10, args.events_per_unit, seed=2)
    load_s = time.perf_counter() - started

    _check_equal(_compiled(big), _hand_written(big))
    compiled_s = _best(lambda: _compiled(big), args.repeats)
    hand_s = _best(lambda: _hand_written(big), args.repeats)
    mem_big = _peak_memory_mib(big)
    mem_small = _peak_memory_mib(small)
    print(f"metrics_units: {args.units}")
    print(f"metrics_events: {events}")
    print(f"metrics_load_seconds: {load_s:.1f}")
    print(f"metrics_five_compiled_seconds: {compiled_s:.2f}")
    print(f"metrics_five_hand_written_seconds: {hand_s:.2f}")
    print(
        f"metrics_compiled_vs_hand_written_ratio: {compiled_s / hand_s:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    print(f"metrics_peak_rss_mib_{events}_events: {mem_big:.0f}")
    print(f"metrics_peak_rss_mib_{small_events}_events: {mem_small:.0f}")
    print(
        f"metrics_peak_rss_ratio_big_vs_small: {mem_big / mem_small:.2f} "
        f"(events ratio {events / max(small_events, 1):.1f})"
    )


if __name__ == "__main__":
    main()
