"""An experiment's analysis end to end on PostgreSQL, its worker's memory, and assignment latency.

Run: .venv/bin/python bench/bench_analysis.py [--units N] [--events-per-unit E] [--repeats R]
     [--requests Q] [--clients C] [--workers W] [--quick]

1. Analysis. A running two-variant experiment with 1,000,000 exposed units, ~20,000,000 events
   and five metrics (conversion, count, sum of a property, day-7 retention, time to event) is
   analysed the way the Celery task does it (``analysis_job_run``: lock, job progress, exposure
   merge, one SQL pass for the sufficient statistics, the statistics engine, health checks, and
   the snapshot, its alerts and the job's end in one transaction). Beside it, in the same run
   on the same data, one hand-written SQL statement computes the same sufficient statistics
   per variant; the two are checked equal. Without CUPED and with it (14-day pre-period; the
   hand-written statement then computes the covariate sums too). Best of R, alternating.
2. Memory. A fresh process runs the analysis on the big experiment and on one a tenth its
   size; its peak RSS (VmHWM) is printed, beside the peaks of a bare interpreter, of
   ``django.setup()`` and of the imports the analysis needs, so what is baseline and what is
   work can be told apart.
3. Assignment latency. gunicorn (W sync workers, DEBUG off) serves
   ``GET /api/v1/experiments/<key>/assignment?unit_id=...``; a second process on loopback sends
   Q requests from C threads, first for new units (each logs a first exposure: two writes),
   then for the same units again (reads only). p50/p99 per request.

Data are generated inside PostgreSQL (``generate_series`` with ``setseed``: deterministic, and
minutes instead of the hour a Python COPY of 20 M rows takes here) in a dedicated database
(``BENCH_ANALYSIS_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/plg_bench_analysis);
a rerun with the same sizes reuses them.

One script on purpose (about 680 lines): a benchmark is read and run top to bottom, and its
three measurements share the data set it builds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_ANALYSIS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plg_bench_analysis"
)
DAY_US = 86_400_000_000
ORIGIN_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SPAN_DAYS = 120
CUTOFF_US = ORIGIN_US + SPAN_DAYS * DAY_US
COVARIATE_DAYS = 14
TARGET_RATIO = 1.5
TARGET_PEAK_MIB = 300
SERVER_START_TIMEOUT_S = 60

SPECS = [
    {"key": "aha", "type": "conversion", "event": "doc", "window_days": 7},
    {"key": "docs", "type": "count", "event": "doc", "window_days": 14},
    {"key": "revenue", "type": "sum", "event": "upgrade", "property": "amount", "window_days": 30},
    {"key": "d7", "type": "retention", "event": "session", "retention_start_day": 7},
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 14},
]

# Units: signed up over SPAN_DAYS − 35 days, exposed 0–3 days after signing up (so CUPED's
# pre-period holds some of their events), variant by a hash of the id. Events: 10–28 per unit
# at signup + Exp(mean 12 days); treatment units do a little more "doc" (the planted effect).
GENERATE_UNITS = """
CREATE TABLE IF NOT EXISTS bench_units (ws bigint, i int, s bigint, exposed bigint, variant text);
DELETE FROM bench_units WHERE ws = %(ws)s;
SELECT setseed(%(seed)s);
INSERT INTO bench_units
SELECT %(ws)s, i, %(origin)s + floor(random() * (%(span)s - 35) * %(day)s)::bigint, 0,
       CASE WHEN hashtext('u' || i) %% 2 = 0 THEN 'control' ELSE 'treatment' END
FROM generate_series(0, %(units)s - 1) AS i;
UPDATE bench_units SET exposed = s + floor(random() * 3 * %(day)s)::bigint WHERE ws = %(ws)s;
"""
GENERATE_EVENTS = """
SELECT setseed(%(seed)s);
INSERT INTO plg_platform_event
    (workspace_id, event, distinct_id, timestamp_us, insert_id, properties, received_at)
SELECT %(ws)s, 'signup', 'u' || u.i, u.s, NULL, '{}'::jsonb, now()
FROM bench_units u WHERE u.ws = %(ws)s;
INSERT INTO plg_platform_event
    (workspace_id, event, distinct_id, timestamp_us, insert_id, properties, received_at)
SELECT %(ws)s, k.kind, 'u' || u.i,
       u.s + floor(-ln(1 - k.r2) * 12 * %(day)s)::bigint,
       NULL,
       CASE WHEN k.kind = 'upgrade'
            THEN jsonb_build_object('amount', round((-ln(1 - k.r3) * 60)::numeric, 2))
            ELSE '{}'::jsonb END,
       now()
FROM bench_units u
CROSS JOIN LATERAL generate_series(1, %(low)s + (u.i::bigint * 7919) %% %(spread)s) AS j
CROSS JOIN LATERAL (
    SELECT CASE WHEN r1 < (CASE WHEN u.variant = 'treatment' THEN 0.37 ELSE 0.35 END) THEN 'doc'
                WHEN r1 < 0.70 THEN 'session'
                WHEN r1 < 0.72 THEN 'upgrade'
                ELSE 'page_view' END AS kind, r2, r3
    FROM (SELECT random() AS r1, random() AS r2, random() AS r3, j AS touch) x
) k
WHERE u.ws = %(ws)s;
"""
LOADED_TABLE = "CREATE TABLE IF NOT EXISTS bench_loaded (ws bigint, units int, per_unit int)"
LOAD_EXPOSURES = """
DELETE FROM experiments_exposure WHERE experiment_id = %(exp)s;
INSERT INTO experiments_exposure
    (workspace_id, experiment_id, phase_id, unit_id, variant, exposed_at_us, excluded)
SELECT %(ws)s, %(exp)s, %(phase)s, 'u' || i, variant, exposed, false
FROM bench_units WHERE ws = %(ws)s;
"""

# The same sufficient statistics as the metric layer, written by hand for this one case.
_PER_UNIT = """
    MAX(CASE WHEN e.event = 'doc' AND e.timestamp_us >= p.s
        AND e.timestamp_us < p.s + 7 * %(day)s THEN 1 ELSE 0 END) AS aha,
    SUM(CASE WHEN e.event = 'doc' AND e.timestamp_us >= p.s
        AND e.timestamp_us < p.s + 14 * %(day)s THEN 1 ELSE 0 END) AS docs,
    SUM(CASE WHEN e.event = 'upgrade' AND e.timestamp_us >= p.s
        AND e.timestamp_us < p.s + 30 * %(day)s
        THEN CASE WHEN jsonb_typeof(e.properties -> 'amount') = 'number'
             THEN (e.properties ->> 'amount')::float8 END ELSE 0 END) AS revenue,
    MAX(CASE WHEN e.event = 'session' AND e.timestamp_us >= p.s + 7 * %(day)s
        AND e.timestamp_us < p.s + 8 * %(day)s THEN 1 ELSE 0 END) AS d7,
    MIN(CASE WHEN e.event = 'doc' AND e.timestamp_us >= p.s
        AND e.timestamp_us < p.s + 14 * %(day)s THEN e.timestamp_us - p.s END) AS ttv"""
_COVARIATES = """,
    MAX(CASE WHEN e.event = 'doc' AND e.timestamp_us < p.s THEN 1 ELSE 0 END) AS c_aha,
    SUM(CASE WHEN e.event = 'doc' AND e.timestamp_us < p.s THEN 1 ELSE 0 END) AS c_docs,
    SUM(CASE WHEN e.event = 'upgrade' AND e.timestamp_us < p.s
        THEN CASE WHEN jsonb_typeof(e.properties -> 'amount') = 'number'
             THEN (e.properties ->> 'amount')::float8 END ELSE 0 END) AS c_revenue,
    MAX(CASE WHEN e.event = 'session' AND e.timestamp_us < p.s THEN 1 ELSE 0 END) AS c_d7"""
_SUMS = """
  COUNT(*) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  SUM(aha) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  SUM(docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(docs * docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(COALESCE(revenue, 0)) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  SUM(COALESCE(revenue, 0) ^ 2) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  SUM(d7) FILTER (WHERE s + 8 * %(day)s <= %(cutoff)s),
  COUNT(ttv) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(ttv / 3600000000.0) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s)"""
_COVARIATE_SUMS = """,
  SUM(c_aha) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  SUM(aha * c_aha) FILTER (WHERE s + 7 * %(day)s <= %(cutoff)s),
  SUM(c_docs * c_docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(docs * c_docs) FILTER (WHERE s + 14 * %(day)s <= %(cutoff)s),
  SUM(COALESCE(c_revenue, 0)) FILTER (WHERE s + 30 * %(day)s <= %(cutoff)s),
  SUM(c_d7) FILTER (WHERE s + 8 * %(day)s <= %(cutoff)s)"""


def hand_written_sql(*, cuped: bool) -> str:
    lower = f"p.s - {COVARIATE_DAYS} * %(day)s" if cuped else "p.s"
    return f"""
WITH pop AS (
  SELECT unit_id, exposed_at_us AS s, variant FROM experiments_exposure
  WHERE experiment_id = %(exp)s AND phase_id = %(phase)s AND NOT excluded
), pu AS (
  SELECT p.variant, p.s, {_PER_UNIT}{_COVARIATES if cuped else ""}
  FROM pop p LEFT JOIN plg_platform_event e
    ON e.workspace_id = %(ws)s AND e.distinct_id = p.unit_id AND e.timestamp_us >= {lower}
   AND e.timestamp_us < p.s + 30 * %(day)s AND e.timestamp_us < %(cutoff)s
   AND e.event IN ('doc', 'upgrade', 'session')
  GROUP BY p.unit_id, p.s, p.variant
)
SELECT variant, {_SUMS}{_COVARIATE_SUMS if cuped else ""}
FROM pu GROUP BY variant ORDER BY variant
"""  # noqa: S608 - no user input: our constants only


def log(message: str) -> None:
    print(f"[bench_analysis] {message}", file=sys.stderr, flush=True)


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")
    os.environ.setdefault("CELERY_BROKER_DIR", str(ROOT / "var" / "broker-bench-analysis"))
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


# --- Data ------------------------------------------------------------------------------------


def _scalar(sql: str, params: dict | list) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _run(sql: str, params: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in sql.split(";"):
            if statement.strip():
                cursor.execute(statement, params)


def _load_events(workspace_id: int, units: int, events_per_unit: int, seed: float) -> int:
    """Generate the workspace's units and events unless already there; return the events.

    One transaction, finished by a row in ``bench_loaded``: an interrupted load leaves nothing.
    """
    from django.db import transaction

    _run(LOADED_TABLE, {})
    done = "SELECT COUNT(*) FROM bench_loaded WHERE ws = %s AND units = %s AND per_unit = %s"
    if not _scalar(done, [workspace_id, units, events_per_unit]):
        log(f"generating {units:,} units and their events in PostgreSQL")
        spread = max(events_per_unit - 1, 1)  # 10-28 events after signup, 19 on average
        params = {
            "ws": workspace_id,
            "seed": seed,
            "origin": ORIGIN_US,
            "span": SPAN_DAYS,
            "day": DAY_US,
            "units": units,
            "low": events_per_unit - 1 - (spread - 1) // 2,
            "spread": spread,
            "per_unit": events_per_unit,
        }
        with transaction.atomic():
            _run("DELETE FROM bench_loaded WHERE ws = %(ws)s", params)
            _run("DELETE FROM plg_platform_event WHERE workspace_id = %(ws)s", params)
            _run(GENERATE_UNITS, params)
            _run(GENERATE_EVENTS, params)
            _run("INSERT INTO bench_loaded VALUES (%(ws)s, %(units)s, %(per_unit)s)", params)
        _run("ANALYZE plg_platform_event", {})
    count = "SELECT COUNT(*) FROM plg_platform_event WHERE workspace_id = %s"
    return _scalar(count, [workspace_id])


def _experiment(workspace, key: str, metric_keys: list[str], *, cuped: bool):
    """A running 50/50 experiment over the workspace's units, exposures loaded by SQL."""
    from experiments.models import Experiment, Phase
    from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
    from experiments.services.lifecycle import experiment_start
    from plg_platform.services.ingestion import to_epoch_us

    experiment = Experiment.objects.filter(workspace=workspace, key=key).first()
    if experiment is None:
        design = ExperimentDesign(
            key=key,
            name=key,
            hypothesis_change="benchmark",
            variants=(
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("treatment", 0.5),
            ),
            primary_metric=metric_keys[0],
            secondary_metrics=tuple(metric_keys[1:]),
            cuped=cuped,
            correction="holm",
        )
        experiment = experiment_start(
            experiment=experiment_create(workspace=workspace, design=design, actor=None),
            actor=None,
        )
    phase = experiment.phases.get()
    units = _scalar("SELECT COUNT(*) FROM bench_units WHERE ws = %s", [workspace.pk])
    if experiment.exposures.count() != units:
        _run(LOAD_EXPOSURES, {"ws": workspace.pk, "exp": experiment.pk, "phase": phase.pk})
        _run("ANALYZE experiments_exposure", {})
    Phase.objects.filter(pk=phase.pk).update(started_at=_datetime(ORIGIN_US))
    # Exposure events up to now are merged already (there are none): skip the settle window.
    experiment.exposures_synced_through_event_id = _scalar(
        "SELECT COALESCE(MAX(id), 0) FROM plg_platform_event", []
    )
    experiment.save(update_fields=["exposures_synced_through_event_id"])
    assert to_epoch_us(_datetime(CUTOFF_US)) == CUTOFF_US
    return experiment


def _datetime(us: int):
    from datetime import UTC, datetime, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _workspace_with_data(units: int, events_per_unit: int, seed: float):
    from metrics.public import metric_create
    from plg_platform.models import Workspace

    slug = f"bench-analysis-{units}"
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    events = _load_events(workspace.pk, units, events_per_unit, seed)
    for spec in SPECS:
        if not workspace.metrics.filter(key=spec["key"]).exists():
            metric_create(workspace=workspace, key=spec["key"], name=spec["key"], spec=spec)
    keys = [s["key"] for s in SPECS]
    plain = _experiment(workspace, f"plain-{units}", keys, cuped=False)
    cuped = _experiment(workspace, f"cuped-{units}", keys, cuped=True)
    return workspace, events, plain, cuped


# --- The analysis and its hand-written twin --------------------------------------------------


def analyse(experiment_id: int) -> int:
    """Run the analysis as the Celery task does (a new job each time); return the snapshot id."""
    from unittest import mock

    from experiments.models import Experiment
    from experiments.services.analysis.refresh import experiment_refresh_request
    from experiments.services.analysis.run import analysis_job_run

    experiment = Experiment.objects.get(pk=experiment_id)
    # Queue nothing: this process plays the worker. The cut-off is fixed so runs compare.
    with mock.patch("experiments.services.analysis.refresh._enqueue"):
        ticket = experiment_refresh_request(experiment=experiment)
    snapshot = analysis_job_run(
        experiment_id=experiment_id, job_id=ticket.job.pk, cutoff=_datetime(CUTOFF_US)
    )
    assert snapshot is not None
    return snapshot.pk


def hand_written(experiment, *, cuped: bool) -> list[tuple]:
    from django.db import connection

    params = {
        "ws": experiment.workspace_id,
        "exp": experiment.pk,
        "phase": experiment.phases.get().pk,
        "cutoff": CUTOFF_US,
        "day": DAY_US,
    }
    with connection.cursor() as cursor:
        cursor.execute(hand_written_sql(cuped=cuped), params)
        return cursor.fetchall()


def _check_equal(snapshot_id: int, rows: list[tuple], *, cuped: bool) -> None:
    from experiments.models import ResultSnapshot

    stats = {
        (s["metric"], s["variant"]): s
        for s in ResultSnapshot.objects.get(pk=snapshot_id).inputs["statistics"]
        if s["segment_property"] is None
    }
    for row in rows:
        variant = row[0]

        def s(key: str, field: str, v: str = variant) -> float:
            return stats[(key, v)][field] or 0.0

        ours = [
            s("aha", "units"),
            s("aha", "sum"),
            s("docs", "sum"),
            s("docs", "sum_squares"),
            s("revenue", "sum"),
            s("revenue", "sum_squares"),
            s("d7", "sum"),
            s("ttv", "n"),
            s("ttv", "sum"),
        ]
        if cuped:
            ours += [
                s("aha", "covariate_sum"),
                s("aha", "covariate_sum_product"),
                s("docs", "covariate_sum_squares"),
                s("docs", "covariate_sum_product"),
                s("revenue", "covariate_sum"),
                s("d7", "covariate_sum"),
            ]
        for mine, reference in zip(ours, row[1:], strict=True):
            reference = float(reference or 0)
            if abs(float(mine) - reference) > 1e-6 * max(1.0, abs(reference)):
                raise SystemExit(f"analysis and hand-written SQL differ: {ours} vs {row}")


def _time_both(experiment, *, cuped: bool, repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` for each, alternating; the results are checked equal once."""
    snapshot_id = analyse(experiment.pk)
    _check_equal(snapshot_id, hand_written(experiment, cuped=cuped), cuped=cuped)
    ours, theirs = float("inf"), float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        analyse(experiment.pk)
        ours = min(ours, time.perf_counter() - started)
        started = time.perf_counter()
        hand_written(experiment, cuped=cuped)
        theirs = min(theirs, time.perf_counter() - started)
    return ours, theirs


# --- Memory ----------------------------------------------------------------------------------


def _status_mib(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))


def _memory_child(experiment_id: int) -> None:
    """Print peak RSS (MiB) bare, after django.setup(), after the imports, after the analysis.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork/exec from the parent.
    """
    bare = _status_mib("VmHWM:")
    _setup_django()
    setup = _status_mib("VmHWM:")
    import experiments.services.analysis  # noqa: F401 - numpy, scipy, sqlglot
    import experiments.tasks  # noqa: F401 - what a worker imports

    imports = _status_mib("VmHWM:")
    analyse(experiment_id)
    peak = _status_mib("VmHWM:")
    print(json.dumps({"bare": bare / 1024, "setup": setup / 1024, "imports": imports / 1024,
                      "peak": peak / 1024}))  # fmt: skip


def _memory(experiment_id: int) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--memory-child", str(experiment_id)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": DATABASE_URL},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- Assignment latency ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(workers: int, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CELERY_BROKER_DIR": str(ROOT / "var" / "broker-bench-analysis"),
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "plg_platform.wsgi:application",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--backlog=256",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603 - our own server
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start in time")


def _load_client(spec: str) -> None:
    """Child process: send the requests, print their latencies (seconds) as JSON."""
    args = json.loads(spec)
    paths = [
        f"/api/v1/experiments/{args['key']}/assignment?unit_id={args['prefix']}{i}"
        for i in range(args["requests"])
    ]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    chunks = [paths[i :: args["clients"]] for i in range(args["clients"])]

    def client(chunk: list[str]) -> None:
        for path in chunk:
            conn = http.client.HTTPConnection("127.0.0.1", args["port"], timeout=30)
            started = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {args['token']}"})
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            conn.close()
            with lock:
                latencies.append(elapsed)
                if response.status != 200 or b'"in_experiment":true' not in body:
                    failures.append(f"{response.status} {body[:200]!r}")

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(json.dumps({"latencies": latencies, "failures": failures[:5], "wall": wall}))


def _load(port: int, token: str, key: str, prefix: str, requests: int, clients: int) -> dict:
    spec = json.dumps(
        {
            "port": port,
            "token": token,
            "key": key,
            "prefix": prefix,
            "requests": requests,
            "clients": clients,
        }
    )
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--load-client", spec],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["failures"]:
        raise SystemExit(f"assignment requests failed: {result['failures']}")
    return result


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def assignment_latency(*, requests: int, clients: int, workers: int) -> dict[str, float]:
    from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
    from experiments.services.lifecycle import experiment_start
    from metrics.public import metric_create
    from plg_platform.services.workspaces import workspace_create

    run = secrets.token_hex(4)
    created = workspace_create(name=f"bench-assign-{run}", owner_email="bench@example.com")
    workspace = created.workspace
    metric_create(workspace=workspace, key="aha", name="aha", spec=SPECS[0])
    design = ExperimentDesign(
        key="checkout",
        name="checkout",
        hypothesis_change="benchmark",
        variants=(
            VariantSpec("control", 0.34, is_control=True),
            VariantSpec("b", 0.33),
            VariantSpec("c", 0.33),
        ),
        primary_metric="aha",
    )
    experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    token = created.as_json()["api_token"]
    port = _free_port()
    log(f"starting gunicorn with {workers} workers on port {port}")
    server = _start_server(workers, port)
    try:
        _load(port, token, "checkout", "warm-", min(200, requests), clients)
        new = _load(port, token, "checkout", "unit-", requests, clients)
        repeat = _load(port, token, "checkout", "unit-", requests, clients)
        # No queueing: one request at a time, for the service time alone.
        single = _load(port, token, "checkout", "unit-", min(1000, requests), 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = {}
    for name, result in (("new_unit", new), ("repeat_unit", repeat), ("one_client", single)):
        ms = [1000 * x for x in result["latencies"]]
        out[f"{name}_p50_ms"] = statistics.median(ms)
        out[f"{name}_p99_ms"] = _percentile(ms, 0.99)
        out[f"{name}_requests_per_s"] = len(ms) / result["wall"]
    return out


# --- Main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events-per-unit", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="assignment requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent assignment clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--quick", action="store_true", help="100,000 units, one repeat")
    parser.add_argument(
        "--assignment-only", action="store_true", help="only the assignment latency"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child)
        return
    if args.load_client:
        _load_client(args.load_client)
        return
    if args.quick:
        args.units, args.repeats, args.requests = 100_000, 1, 1000
    _ensure_database()
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.assignment_only:
        _print_latency(args)
        return
    started = time.perf_counter()
    _, events, plain, cuped = _workspace_with_data(args.units, args.events_per_unit, 0.42)
    _, small_events, small_plain, _ = _workspace_with_data(
        args.units // 10, args.events_per_unit, 0.24
    )
    load_s = time.perf_counter() - started

    log("timing the analysis without CUPED")
    ours, theirs = _time_both(plain, cuped=False, repeats=args.repeats)
    log("timing the analysis with CUPED")
    ours_cuped, theirs_cuped = _time_both(cuped, cuped=True, repeats=args.repeats)
    log("measuring a fresh process's memory at two sizes")
    big = _memory(plain.pk)
    small = _memory(small_plain.pk)

    print(f"analysis_units: {args.units}")
    print(f"analysis_events: {events}")
    print("analysis_metrics: 5")
    print(f"analysis_load_seconds: {load_s:.1f}")
    print(f"analysis_end_to_end_seconds: {ours:.2f}")
    print(f"analysis_hand_written_sql_seconds: {theirs:.2f}")
    print(f"analysis_vs_hand_written_ratio: {ours / theirs:.2f} (target <= {TARGET_RATIO})")
    print(f"analysis_cuped_end_to_end_seconds: {ours_cuped:.2f}")
    print(f"analysis_cuped_hand_written_sql_seconds: {theirs_cuped:.2f}")
    print(
        f"analysis_cuped_vs_hand_written_ratio: {ours_cuped / theirs_cuped:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    print(f"analysis_rss_mib_bare_interpreter: {big['bare']:.0f}")
    print(f"analysis_rss_mib_after_django_setup: {big['setup']:.0f}")
    print(f"analysis_rss_mib_after_imports: {big['imports']:.0f}")
    print(
        f"analysis_peak_rss_mib_{args.units}_units: {big['peak']:.0f} (target < {TARGET_PEAK_MIB})"
    )
    print(f"analysis_peak_rss_mib_{args.units // 10}_units: {small['peak']:.0f}")
    print(
        f"analysis_peak_rss_ratio_big_vs_small: {big['peak'] / small['peak']:.2f} "
        f"(units ratio 10, events ratio {events / max(small_events, 1):.1f})"
    )
    _print_latency(args)


def _print_latency(args: argparse.Namespace) -> None:
    log("measuring assignment latency")
    latency = assignment_latency(requests=args.requests, clients=args.clients, workers=args.workers)
    print(f"assignment_requests: {args.requests}")
    print(f"assignment_clients: {args.clients}")
    print(f"assignment_gunicorn_workers: {args.workers}")
    for name, value in latency.items():
        print(f"assignment_{name}: {value:.1f}")


if __name__ == "__main__":
    main()
