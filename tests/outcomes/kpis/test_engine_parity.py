"""KPIs give the same numbers on every engine.

The same events (the generated KPI data across the spring daylight-saving change in Berlin,
plus the success-moment data; each delivered with retries that repeat insert ids, inside the
batch and in a later one) are stored in the app database (SQLite or PostgreSQL) and in DuckDB
(in memory), chdb (a temporary folder), Spark (local) and a real Spark Connect server (another
process, over gRPC), beside another workspace's copy.
Every KPI family (activity and stickiness, adoption, signup cohorts with retention 1/7/30,
activation, time to value and success moments, the weekly retention table, NPS and CES, MRR,
PQLs and feature requests) computed on each engine equals the brute-force reference and the
app database's rows, to 1e-9 relative.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from metrics.engines.base import Engine
from metrics.engines.store import (
    create_store,
    event_table,
    insert_events,
    insert_persons,
    person_table,
)
from outcomes.kpis.compute import (
    KpiRow,
    activity_rows,
    cohort_rows,
    cohort_table_rows,
    revenue_rows,
    voice_rows,
)
from outcomes.kpis.lists import feature_requests_refresh, pqls_refresh
from outcomes.kpis.models import FeatureRequest, KpiSettings, KpiValue, ProductQualifiedLead
from outcomes.kpis.refresh import kpis_refresh
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import epoch_us, monday_of
from plg_platform.services.ingestion import IngestResult, event_rows_store, persons_identify
from tests.conftest import require_or_skip
from tests.outcomes.kpis.checks import (
    check_activity,
    check_ces,
    check_cohort_table,
    check_cohorts,
    check_moments,
    check_nps,
    check_revenue,
    reference_feature_requests,
    reference_pqls,
)
from tests.outcomes.support import (
    CUTOFF_US,
    DATA_END,
    DATA_START,
    DAY,
    FIRST_DAY,
    LAST_DAY,
    MOMENTS,
    NOW,
    Data,
    assert_close,
    configure,
    generate,
    local_day,
    moment_data,
    rows_by,
)

pytestmark = pytest.mark.django_db

EVENTS_TABLE = "plg_platform_event"
PERSONS_TABLE = "plg_platform_person"
Row = tuple[str, str, int, str, dict[str, Any]]  # event, distinct id, time, insert id, properties


# --- the data: the same events everywhere, with retried deliveries ---------------------------
@functools.cache
def parity_data() -> Data:
    """The KPI data (DST, resurrected users, ties, bad answers) and the success-moment data."""
    data = generate(seed=7)
    moments = moment_data()
    data.events.extend(moments.events)
    data.persons.update(moments.persons)
    return data


def _retried(row: Row) -> Row:
    """A retry of ``row``: the same insert id, a different body (never stored)."""
    event, unit, t, insert_id, properties = row
    return event, unit, t, insert_id, {**properties, "amount": 10**6, "score": 10, "effort": 1}


@functools.cache
def deliveries() -> tuple[list[Row], list[Row]]:
    """The first batch (every 9th event retried inside it) and a later batch of retries."""
    rows = [
        (e["event"], e["distinct_id"], e["t"], f"ev-{i}", e["properties"])
        for i, e in enumerate(parity_data().events)
    ]
    first: list[Row] = []
    for i, row in enumerate(rows):
        first.append(row)
        if i % 9 == 0:
            first.append(_retried(row))
    return first, [_retried(row) for row in rows[::5]]


def store_app(workspace) -> None:
    for batch in deliveries():
        event_rows_store(workspace=workspace, rows=batch, result=IngestResult())
    persons_identify(workspace=workspace, traits=list(parity_data().persons.items()))


def store_engine(engine: Engine, workspace_ids: list[int]) -> None:
    """Load every workspace's events and persons into ``engine``'s event store."""
    create_store(engine)
    persons = list(parity_data().persons.items())
    for batch in deliveries():
        insert_events(engine, event_table([(ws, *row) for ws in workspace_ids for row in batch]))
    insert_persons(engine, person_table([(ws, k, v) for ws in workspace_ids for k, v in persons]))
    # Retries were skipped: each insert id is stored once per workspace.
    counts = f"SELECT workspace_id, COUNT(*) FROM {EVENTS_TABLE} GROUP BY workspace_id"  # noqa: S608
    stored = {int(ws): int(n) for ws, n in engine.execute(counts, {})}
    assert stored == dict.fromkeys(workspace_ids, len(parity_data().events))


# --- the computations ----------------------------------------------------------------------
@pytest.fixture
def parity_settings(workspace, other_workspace) -> KpiSettings:
    """Both workspaces hold the events in the app database; ours is configured for every KPI."""
    store_app(workspace)
    store_app(other_workspace)
    configure(workspace, success_moments=MOMENTS, pql_unit="account")
    settings = kpi_settings_get(workspace=workspace)
    assert settings.workspace.timezone == "Europe/Berlin"
    return settings


def compute_all(
    settings: KpiSettings,
    engine: Engine | None,
    periods: tuple[str, ...] = ("day", "week"),
    workers: int = 1,
) -> dict[str, list[KpiRow]]:
    """Every KPI family on ``engine`` (None: the app database), ``workers`` at a time on an
    engine that runs statements from several threads (Spark overlaps their jobs). The app
    database is read here only: another thread's connection would not see the test's rows."""
    daily = {"settings": settings, "first_day": FIRST_DAY, "last_day": LAST_DAY, "engine": engine}
    cohorts = {"settings": settings, "cutoff_us": CUTOFF_US, "engine": engine}
    jobs: dict[str, Callable[[], list[KpiRow]]] = {
        "activity": functools.partial(activity_rows, **daily),
        "voice": functools.partial(voice_rows, **daily),
        "revenue": functools.partial(revenue_rows, **daily),
        **{
            f"cohort_{period}": functools.partial(
                cohort_rows, period=period, first_day=DATA_START, last_day=DATA_END, **cohorts
            )
            for period in periods
        },
        "cohort_table": functools.partial(
            cohort_table_rows,
            first_week=monday_of(DATA_START),
            last_week=DATA_END,
            weeks=12,
            **cohorts,
        ),
    }
    if engine is None or workers == 1:
        return {family: job() for family, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = {family: pool.submit(job) for family, job in jobs.items()}
        return {family: future.result() for family, future in running.items()}


def lists_on(settings: KpiSettings, engine: Engine | None) -> dict[str, dict[str, tuple]]:
    """Refresh the PQL and feature-request lists on ``engine``; return them as stored."""
    pqls_refresh(settings=settings, now=NOW, engine=engine)
    feature_requests_refresh(settings=settings, now=NOW, engine=engine)
    ws = settings.workspace_id
    return {
        "pqls": {
            p.unit_id: (p.event_count, p.users, epoch_us(p.qualified_at), p.arr, p.plan)
            for p in ProductQualifiedLead.objects.filter(workspace_id=ws)
        },
        "requests": {
            r.request: (
                r.requests,
                r.accounts,
                r.arr,
                r.text,
                epoch_us(r.first_requested_at),
                epoch_us(r.last_requested_at),
            )
            for r in FeatureRequest.objects.filter(workspace_id=ws)
        },
    }


# --- the checks ----------------------------------------------------------------------------
def assert_reference(families: dict[str, list[KpiRow]], lists: dict[str, dict[str, tuple]]):
    """Every family equals the brute-force reference over the events (retries not counted)."""
    data = parity_data()
    assert check_activity(rows_by(families["activity"]), data, FIRST_DAY, LAST_DAY) > 40
    voice = rows_by(families["voice"])
    check_ces(voice, data, FIRST_DAY, LAST_DAY)
    checked, repeated = check_nps(voice, data, FIRST_DAY, LAST_DAY)
    assert checked > 20
    assert repeated > 0
    check_revenue(rows_by(families["revenue"]), data, FIRST_DAY, LAST_DAY)
    for period in ("day", "week"):
        if f"cohort_{period}" not in families:
            continue
        cohorts = rows_by(families[f"cohort_{period}"])
        assert check_cohorts(cohorts, data, period) > 30
        assert check_moments(cohorts, data, period) == {"Setup", "Aha", "Eureka", "Habit"}
    assert check_cohort_table(rows_by(families["cohort_table"]), data) > 50
    pqls = reference_pqls(data, "account", CUTOFF_US - 30 * DAY, CUTOFF_US)
    assert lists["pqls"] == pqls
    assert len(pqls) >= 3
    requests = reference_feature_requests(data, CUTOFF_US - 60 * DAY, CUTOFF_US)
    assert {k: v[:3] for k, v in lists["requests"].items()} == requests


def assert_same_rows(actual: list[KpiRow], expected: list[KpiRow], family: str) -> None:
    """The same KPI rows (keys), each value, numerator and denominator equal to 1e-9."""
    got, want = rows_by(actual), rows_by(expected)
    assert len(got) == len(actual), f"{family}: a KPI row is repeated"
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    assert not extra, (family, len(extra), extra[:5])
    assert not missing, (family, len(missing), missing[:5])
    for key, row in want.items():
        label = f"{family} {key}"
        assert_close(got[key].value, row.value, label)
        assert_close(got[key].numerator, row.numerator, label)
        assert_close(got[key].denominator, row.denominator, label)


def assert_same_lists(actual: dict[str, dict[str, tuple]], expected: dict[str, dict[str, tuple]]):
    for name, want in expected.items():
        got = actual[name]
        assert set(got) == set(want), name
        for key, values in want.items():
            for a, b in zip(got[key], values, strict=True):
                if isinstance(b, float):
                    assert_close(a, b, f"{name} {key}")
                else:
                    assert a == b, (name, key, got[key], values)


def test_kpis_on_the_app_database_equal_the_reference(parity_settings):
    assert_reference(compute_all(parity_settings, None), lists_on(parity_settings, None))


# --- the engines ----------------------------------------------------------------------------
def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture
def duckdb_engine() -> Iterator[Engine]:
    require_or_skip(_available("duckdb"), "DuckDB (the duckdb package)")
    from metrics.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine()
    yield engine
    engine.close()


@pytest.fixture
def chdb_engine(tmp_path: Path) -> Iterator[Engine]:
    require_or_skip(_available("chdb"), "chdb (ClickHouse in-process)")
    from metrics.engines.clickhouse import ChdbEngine

    engine = ChdbEngine(path=str(tmp_path / "chdb"))
    yield engine
    engine.close()


def _drop_spark_store(engine: Any) -> None:
    """Drop the store's tables, and files a previous process left where they are kept."""
    warehouse = Path(urlparse(engine.session.conf.get("spark.sql.warehouse.dir")).path)
    for table in (EVENTS_TABLE, PERSONS_TABLE):
        engine.session.sql(f"DROP TABLE IF EXISTS {table}")
        shutil.rmtree(warehouse / table, ignore_errors=True)


@pytest.fixture(scope="module")
def spark_session_engine() -> Iterator[Engine]:
    """One local Spark session for the module (starting one takes seconds)."""
    require_or_skip(_available("pyspark") and bool(shutil.which("java")), "pyspark and Java")
    from metrics.engines.spark import SparkEngine

    engine = SparkEngine(master="local[2]")
    engine.session.sparkContext.setLogLevel("ERROR")
    # py4j says goodbye at interpreter exit, after pytest closed the captured stream.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    yield engine
    _drop_spark_store(engine)


@pytest.fixture
def spark_engine(spark_session_engine: Any) -> Engine:
    _drop_spark_store(spark_session_engine)
    return spark_session_engine


@pytest.fixture(scope="module")
def spark_connect_session_engine(spark_connect_url: str) -> Iterator[Engine]:
    """A session on the test session's Spark Connect server (tests/spark_connect.py), whose
    warehouse folder is on this machine too."""
    from metrics.engines.spark import SparkEngine

    engine = SparkEngine(remote=spark_connect_url)
    yield engine
    _drop_spark_store(engine)


@pytest.fixture
def spark_connect_engine(spark_connect_session_engine: Any) -> Engine:
    _drop_spark_store(spark_connect_session_engine)
    return spark_connect_session_engine


# Spark runs a statement in seconds even on small data: it runs the families three at a time
# (the daily cohorts add about 15 s to its ~90 s on this 2-core machine).
ENGINES = [
    pytest.param("duckdb_engine", ("day", "week"), 1, id="duckdb"),
    pytest.param("chdb_engine", ("day", "week"), 1, id="chdb"),
    pytest.param("spark_engine", ("day", "week"), 3, id="spark", marks=pytest.mark.spark),
    pytest.param(
        "spark_connect_engine", ("day", "week"), 3, id="spark_connect", marks=pytest.mark.spark
    ),
]


@pytest.mark.parametrize(("engine_fixture", "periods", "workers"), ENGINES)
def test_kpis_on_each_engine_equal_the_reference_and_the_app_database(
    request, parity_settings, other_workspace, engine_fixture, periods, workers
):
    app = compute_all(parity_settings, None, periods)
    app_lists = lists_on(parity_settings, None)
    engine = request.getfixturevalue(engine_fixture)
    store_engine(engine, [other_workspace.pk, parity_settings.workspace_id])
    families = compute_all(parity_settings, engine, periods, workers)
    lists = lists_on(parity_settings, engine)
    assert set(families) == set(app)
    for family, rows in app.items():
        assert_same_rows(families[family], rows, family)
    assert_same_lists(lists, app_lists)
    assert_reference(families, lists)


def test_a_kpi_refresh_on_duckdb_caches_the_app_databases_values(
    parity_settings, other_workspace, duckdb_engine
):
    """The whole refresh (history from the engine's first event, every step) on an engine."""
    workspace = parity_settings.workspace

    def cached() -> dict[tuple, tuple]:
        return {
            (v.kpi, v.period, v.date, v.segment, v.dimension): (v.value, v.numerator, v.denominator)
            for v in KpiValue.objects.filter(workspace=workspace)
        }

    kpis_refresh(workspace=workspace, now=NOW, full=True)
    app = cached()
    store_engine(duckdb_engine, [other_workspace.pk, workspace.pk])
    KpiValue.objects.filter(workspace=workspace).delete()
    result = kpis_refresh(workspace=workspace, now=NOW, full=True, engine=duckdb_engine)
    assert result.days == (local_day(min(e["t"] for e in parity_data().events)), NOW.date())
    engine = cached()
    assert set(engine) == set(app)
    assert len(app) > 5000
    for key, values in app.items():
        for got, want in zip(engine[key], values, strict=True):
            assert_close(got, want, str(key))
