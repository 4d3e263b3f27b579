"""One metric definition, the same numbers on every engine.

The seeded events of tests/metrics/reference.py (window edges, a daylight-saving change,
duplicates, wrong JSON types, events after the cut-off) go into the app database (SQLite or
PostgreSQL, through real ingestion) and into our event store in DuckDB, ClickHouse (chdb, the
real engine in-process), Spark (local mode) and a real Spark Connect server (another process,
reached over gRPC as production reaches Spark Connect or Databricks); each engine's sufficient
statistics must equal the brute-force reference to 1e-9 relative, for every metric type,
segments, cohort buckets, CUPED covariates, account units, and a warehouse exposure table.

The columnar stores are loaded once per module (Spark costs seconds per statement): every
statement here computes all fourteen metrics at once.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from metrics.engine.event_tables import ExposureTable
from metrics.engine.populations import ExposurePopulation, FirstSeenPopulation
from metrics.engine.quantiles import compile_quantile, statement_levels
from metrics.engine.time_units import DAY_US
from metrics.engines.app_db import AppDatabaseEngine
from metrics.engines.base import Engine, EngineError, scan_collect
from metrics.engines.store import (
    create_store,
    event_table,
    insert_events,
    insert_persons,
    load_table,
    person_table,
)
from metrics.runner import compute_metric_statistics
from plg_platform.services.ingestion import events_ingest, persons_identify, to_epoch_us
from tests.conftest import require_or_skip
from tests.metrics.reference import (
    CUTOFF,
    CUTOFF_US,
    DEFINITIONS,
    QUANTILE_DEFINITIONS,
    SPECS,
    assert_equal,
    brute_force,
    brute_force_quantile,
    first_seen,
    generate_events,
)

RAW, PLANS = generate_events(seed=20261124)
STORE_WORKSPACE = 7
OTHER_WORKSPACE = 8  # the same events under another workspace: must never count
SPARK = [
    pytest.param("spark", marks=pytest.mark.spark),
    pytest.param("spark_connect", marks=pytest.mark.spark),
]
ENGINES = ["app", "duckdb", "chdb", *SPARK]
COLUMNAR = ["duckdb", "chdb", *SPARK]
STORE_TABLES = ("plg_platform_event", "plg_platform_person", "wh_exposures")


def _traits(unit: str, plan: str) -> dict[str, str]:
    return {"plan": plan, "account_id": f"acct-{int(unit[1:]) % 7}"}


def _event_rows(workspace_id: int) -> list[tuple[Any, ...]]:
    return [
        (
            workspace_id,
            e["event"],
            e["distinct_id"],
            to_epoch_us(datetime.fromisoformat(e["timestamp"])),
            e["insert_id"],
            json.dumps(e["properties"]),
        )
        for e in RAW
    ]


def _open(name: str, tmp: Any, request: pytest.FixtureRequest) -> Engine:
    if name == "duckdb":
        from metrics.engines.duckdb import DuckDBEngine

        return DuckDBEngine(path=str(tmp / "store.duckdb"))
    if name == "chdb":
        from metrics.engines.clickhouse import ChdbEngine

        return ChdbEngine(path=str(tmp / "chdb"))
    from metrics.engines.spark import SparkEngine

    if name == "spark_connect":
        return SparkEngine(remote=request.getfixturevalue("spark_connect_url"))
    require_or_skip(shutil.which("java") is not None, "Java 17 for Spark (openjdk-17-jre)")
    return SparkEngine(master="local[2]")


@pytest.fixture(scope="module")
def columnar_stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Engines opened and loaded on first use, closed at the end of the module."""
    opened: dict[str, Any] = {}

    def get(name: str) -> tuple[Engine, dict[str, int]]:
        if name not in opened:
            engine = _open(name, tmp_path_factory.mktemp(name), request)
            if name == "spark_connect":  # one server per test session: whoever used it before
                for table in STORE_TABLES:
                    engine.command(f"DROP TABLE IF EXISTS {table}")
            create_store(engine)
            batch = event_table(_event_rows(STORE_WORKSPACE))
            added = {
                "first": insert_events(engine, batch),
                "again": insert_events(engine, batch),  # the same insert_ids: nothing added
                "other": insert_events(engine, event_table(_event_rows(OTHER_WORKSPACE))),
            }
            insert_persons(
                engine,
                person_table(
                    (STORE_WORKSPACE, unit, json.dumps(_traits(unit, plan)))
                    for unit, plan in PLANS.items()
                ),
            )
            opened[name] = (engine, added)
        return opened[name]

    yield {"get": get}
    for engine, _ in opened.values():
        if engine.dialect != "spark":  # the Spark session is the process's, reused
            engine.close()


@pytest.fixture
def engine_case(request: pytest.FixtureRequest, columnar_stores) -> tuple[Engine, int]:
    """(engine, workspace id) with the reference events loaded, for ``request.param``."""
    if request.param != "app":
        engine, _ = columnar_stores["get"](request.param)
        return engine, STORE_WORKSPACE
    workspace = request.getfixturevalue("workspace")
    for i in range(0, len(RAW), 500):
        assert events_ingest(workspace=workspace, raw_events=RAW[i : i + 500]).rejected == []
    persons_identify(
        workspace=workspace, traits=[(u, _traits(u, plan)) for u, plan in PLANS.items()]
    )
    return AppDatabaseEngine(), workspace.id


def _by_key(stats) -> dict[tuple[str, str, str], Any]:
    return {(s.metric, s.group, s.segment): s for s in stats}


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_every_metric_type_matches_brute_force(engine_case) -> None:
    engine, workspace_id = engine_case
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    assert len(stats) == len(DEFINITIONS)
    population = {u: (s, "all") for u, s in first_seen(RAW, "signup").items()}
    by_key = _by_key(stats)
    for m in DEFINITIONS:
        assert_equal(by_key[(m.key, "all", "all")], brute_force(RAW, m, population)["all"], m.key)
    # The planted cases are there on this engine too.
    assert by_key[("d7_14", "all", "all")].immature_units > 0
    assert 0 < by_key[("ttv", "all", "all")].n < by_key[("ttv", "all", "all")].units


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_segments_buckets_and_covariates_match_brute_force(engine_case) -> None:
    engine, workspace_id = engine_case
    week = 7 * DAY_US
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(bucket_us=week, segment_property="plan"),
        cutoff_us=CUTOFF_US,
        covariate_days=3,
        engine=engine,
    )
    population = {
        unit: (start, f"{start // week}|{PLANS.get(unit) or '(none)'}")
        for unit, start in first_seen(RAW).items()
    }
    by_key = _by_key(stats)
    compared = 0
    for m in DEFINITIONS:
        for key, values in brute_force(RAW, m, population, covariate_days=3).items():
            group, segment = key.split("|")
            assert_equal(by_key[(m.key, group, segment)], values, f"{m.key}/{key}")
            compared += 1
    assert compared == len(stats)
    assert {s.segment for s in stats} == {"free", "pro", "team"}


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_account_units_match_brute_force(engine_case) -> None:
    from metrics.engine.definition import parse_definition

    engine, workspace_id = engine_case
    accounts = [
        parse_definition({**SPECS[2], "unit_property": "account_id"}),
        parse_definition({**SPECS[0], "unit_property": "account_id"}),
    ]
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=accounts,
        population=FirstSeenPopulation(),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    as_accounts = [{**e, "distinct_id": _traits(e["distinct_id"], "")["account_id"]} for e in RAW]
    population = {a: (s, "all") for a, s in first_seen(as_accounts).items()}
    for m, actual in zip(accounts, stats, strict=True):
        assert_equal(actual, brute_force(as_accounts, m, population)["all"], m.key)


def _exposures(seed: int) -> list[dict[str, Any]]:
    """A warehouse exposure table (GrowthBook's shape) over the signed-up units: repeated
    exposures, units seeing both variations, another experiment, exposures after the cut-off."""
    rng = random.Random(seed)
    rows = []
    for unit, start in sorted(first_seen(RAW, "signup").items()):
        at = datetime.fromtimestamp(start / 1e6, UTC) + timedelta(hours=rng.uniform(0, 72))
        experiment = "exp-a" if rng.random() < 0.85 else "exp-b"
        variation = rng.choice(["0", "1"])
        rows.append((unit, experiment, variation, at))
        if rng.random() < 0.3:  # seen again later: the first exposure counts
            rows.append((unit, experiment, variation, at + timedelta(days=rng.uniform(0, 9))))
        if rng.random() < 0.08:  # saw the other variation too: left out
            other = "1" if variation == "0" else "0"
            rows.append((unit, experiment, other, at + timedelta(hours=rng.uniform(0, 50))))
    for i in range(5):  # first exposed after the cut-off: not in the population
        rows.append((f"late{i}", "exp-a", "1", CUTOFF + timedelta(minutes=i)))
    return [
        {"user_id": u, "experiment_id": x, "variation_id": v, "timestamp": t} for u, x, v, t in rows
    ]


def _exposure_reference(rows: list[dict[str, Any]], experiment: str) -> dict[str, tuple]:
    """Each unit's first exposure and variation; units seeing two variations are left out."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        t = to_epoch_us(r["timestamp"])
        if r["experiment_id"] == experiment and t < CUTOFF_US:
            seen.setdefault(r["user_id"], []).append((t, r["variation_id"]))
    return {
        unit: min(hits)
        for unit, hits in seen.items()
        if len({variation for _, variation in hits}) == 1
    }


@pytest.mark.parametrize("name", COLUMNAR)
def test_warehouse_exposure_table_matches_brute_force(name: str, columnar_stores) -> None:
    engine, _ = columnar_stores["get"](name)
    rows = _exposures(seed=5)
    load_table(
        engine,
        "wh_exposures",
        pa.table(
            {
                "user_id": [r["user_id"] for r in rows],
                "experiment_id": [r["experiment_id"] for r in rows],
                "variation_id": [r["variation_id"] for r in rows],
                "timestamp": pa.array(
                    [r["timestamp"] for r in rows], type=pa.timestamp("us", tz="UTC")
                ),
            }
        ),
    )
    stats = compute_metric_statistics(
        workspace_id=STORE_WORKSPACE,
        metrics=DEFINITIONS,
        population=ExposurePopulation(
            exposures=ExposureTable(table="wh_exposures", experiment_id="exp-a"),
            segment_property="plan",
        ),
        cutoff_us=CUTOFF_US,
        covariate_days=2,
        engine=engine,
    )
    firsts = _exposure_reference(rows, "exp-a")
    both = {r["user_id"] for r in rows} - set(firsts) - {f"late{i}" for i in range(5)}
    assert both, "some units saw both variations"
    population = {
        unit: (start, f"{variation}|{PLANS.get(unit) or '(none)'}")
        for unit, (start, variation) in firsts.items()
    }
    by_key = _by_key(stats)
    compared = 0
    for m in DEFINITIONS:
        for key, values in brute_force(RAW, m, population, covariate_days=2).items():
            variation, segment = key.split("|")
            assert_equal(by_key[(m.key, variation, segment)], values, f"{m.key}/{key}")
            compared += 1
    assert compared == len(stats)
    assert {s.group for s in stats} == {"0", "1"}


@pytest.mark.parametrize("name", COLUMNAR)
def test_store_keeps_one_row_per_insert_id_and_workspace(name: str, columnar_stores) -> None:
    engine, added = columnar_stores["get"](name)
    assert added == {"first": len(RAW), "again": 0, "other": len(RAW)}
    rows = engine.execute(
        "SELECT workspace_id, count(*) FROM plg_platform_event GROUP BY workspace_id "
        "ORDER BY workspace_id",
        {},
    )
    assert [tuple(int(v) for v in row) for row in rows] == [
        (STORE_WORKSPACE, len(RAW)),
        (OTHER_WORKSPACE, len(RAW)),
    ]


# --- quantile metrics: every level of the statement against numpy ---------------------------
def _quantile_populations(engine_name: str):
    """(population, reference population) pairs: by plan segment, and cohorts by week."""
    week = 7 * DAY_US
    signups = first_seen(RAW, "signup")
    cases = [
        (
            FirstSeenPopulation(event="signup", segment_property="plan"),
            {u: (s, f"all|{PLANS.get(u) or '(none)'}") for u, s in signups.items()},
        ),
        (
            FirstSeenPopulation(bucket_us=week),
            {u: (s, f"{s // week}|all") for u, s in first_seen(RAW).items()},
        ),
    ]
    return cases[:1] if engine_name == "spark" else cases  # Spark: seconds per statement


def assert_quantile_rows(m, columns, rows, expected) -> int:
    """Compare a quantile statement's rows with numpy's linear quantiles of the reference
    values, level by level, and the cluster sums; return how many groups were compared."""
    levels = statement_levels(m.quantile)
    assert len(rows) == len(expected), m.key
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        ref = expected[f"{record['grp']}|{record['seg']}"]
        label = f"{m.key}/{record['grp']}/{record['seg']}"
        assert int(record["units"]) == ref["units"], label
        assert int(record["immature"]) == ref["immature_units"], label
        values = np.asarray(ref["values"], dtype=float)
        assert int(record["n"]) == values.size, label
        if not values.size:
            assert record["q0"] is None or math.isnan(record["q0"]), label
            continue
        want = np.quantile(values, levels, method="linear")
        got = np.asarray([float(record[f"q{i}"]) for i in range(len(levels))])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=label)
        if m.quantile_of == "event":
            below: dict[str, int] = {}
            count: dict[str, int] = {}
            for unit, value in zip(ref["value_units"], values, strict=True):
                below[unit] = below.get(unit, 0) + int(value <= want[0])
                count[unit] = count.get(unit, 0) + 1
            s = np.asarray([below[u] for u in count], dtype=float)
            k = np.asarray(list(count.values()), dtype=float)
            assert int(record["clusters"]) == len(count), label
            for name, value in (
                ("below_sum", s.sum()),
                ("below_sum_squares", (s * s).sum()),
                ("count_sum", k.sum()),
                ("count_sum_squares", (k * k).sum()),
                ("below_count_sum_product", (s * k).sum()),
            ):
                assert float(record[name]) == pytest.approx(value), f"{label}: {name}"
    return len(rows)


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_quantile_statements_match_numpy_at_every_level(engine_case) -> None:
    engine, workspace_id = engine_case
    compared = 0
    for population, reference in _quantile_populations(engine.dialect):
        for m in QUANTILE_DEFINITIONS:
            query = compile_quantile(
                dialect=engine.dialect,
                workspace_id=workspace_id,
                metric=m,
                population=population,
                cutoff_us=CUTOFF_US,
            )
            rows = engine.execute(query.sql, query.params)
            compared += assert_quantile_rows(
                m, query.columns, rows, brute_force_quantile(RAW, m, reference)
            )
    assert compared >= 3 * len(QUANTILE_DEFINITIONS)  # three plans, at least


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ENGINES[:3], indirect=True)
def test_quantile_metrics_come_back_through_the_runner_beside_the_others(engine_case) -> None:
    engine, workspace_id = engine_case
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=[DEFINITIONS[2], *QUANTILE_DEFINITIONS[:2]],
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    assert [s.metric for s in stats] == ["docs", "q_words_unit_p90", "q_ttv_median"]
    population = {u: (s, "all") for u, s in first_seen(RAW, "signup").items()}
    for s, m in zip(stats[1:], QUANTILE_DEFINITIONS[:2], strict=True):
        ref = brute_force_quantile(RAW, m, population)["all"]
        assert (s.units, s.immature_units, s.n) == (
            ref["units"],
            ref["immature_units"],
            len(ref["values"]),
        )
        assert s.quantile is not None
        assert s.value == pytest.approx(np.quantile(ref["values"], m.quantile), rel=1e-9)
        assert s.quantile.n_star is None  # fewer than 100 values: no band


@pytest.mark.parametrize("name", SPARK)
def test_a_spark_statement_that_runs_too_long_is_stopped_and_the_session_still_works(
    name: str, tmp_path, request: pytest.FixtureRequest
) -> None:
    """Spark has no statement timeout: the engine cancels the statement's jobs by their tag
    (a job tag in a local session, a session tag on Spark Connect)."""
    engine = _open(name, tmp_path, request)
    engine.timeout_seconds = 3.0
    endless = "SELECT SUM(hash(id)) FROM range(0, 1000000000000, 1, 8)"
    with pytest.raises(EngineError) as raised:  # 10^12 rows: hours, unless it is cancelled
        engine.execute(endless, {})
    assert raised.value.kind == "timeout"
    where = engine.remote or "local[2]"
    assert str(raised.value) == f"Spark {where}: the statement ran longer than 3 s and was stopped"
    engine.timeout_seconds = 300.0
    assert engine.execute("SELECT COUNT(*) FROM range(0, 1000)", {}) == [(1000,)]
    if name == "spark_connect":
        assert not engine.session.getTags()
    else:
        assert not engine.session.sparkContext.getJobTags()


@pytest.mark.spark
def test_a_local_spark_session_and_a_spark_connect_session_live_side_by_side(
    columnar_stores,
) -> None:
    """pyspark keeps one session of each kind per process, and its shared builder would
    refuse Connect beside a local session (or switch the whole process to Connect): the
    engine opens Connect sessions with the Connect client's own builder, so both kinds work
    in one process, each with its own tables."""
    from pyspark.sql.utils import is_remote

    from metrics.engines.spark import SparkEngine

    local, _ = columnar_stores["get"]("spark")
    connect, _ = columnar_stores["get"]("spark_connect")
    assert type(local.session).__module__ == "pyspark.sql.session"
    assert type(connect.session).__module__ == "pyspark.sql.connect.session"
    assert not is_remote()  # the process stays local: a local session can still start
    assert SparkEngine(remote=connect.remote).session is connect.session  # reused
    for engine, side in ((local, "local"), (connect, "connect")):
        engine.command(f"CREATE OR REPLACE TEMP VIEW whose_session AS SELECT '{side}' AS side")
    assert local.execute("SELECT side FROM whose_session", {}) == [("local",)]
    assert connect.execute("SELECT side FROM whose_session", {}) == [("connect",)]


@pytest.mark.spark
def test_spark_connect_reports_the_rows_and_bytes_its_statements_scan(columnar_stores) -> None:
    """A Connect server sends each statement's plan metrics with its rows: what its table
    scans read is counted, as ClickHouse servers report theirs."""
    engine, _ = columnar_stores["get"]("spark_connect")
    with scan_collect() as stats:
        rows = engine.execute(
            "SELECT COUNT(*), SUM(timestamp_us) FROM plg_platform_event WHERE workspace_id = :ws",
            {"ws": STORE_WORKSPACE},
        )
    assert int(rows[0][0]) == len(RAW)
    assert stats.statements == 1
    assert stats.rows_read is not None
    assert len(RAW) <= stats.rows_read <= 2 * len(RAW)  # both workspaces' rows, less any skipped
    assert stats.bytes_read is not None
    assert stats.bytes_read > 0
    with scan_collect() as stats:
        engine.execute("SELECT 1", {})  # no table read: nothing to say
    assert (stats.rows_read, stats.bytes_read) == (None, None)


@pytest.mark.filterwarnings("ignore:.*RETRIES_EXCEEDED:UserWarning")
def test_an_unreachable_spark_connect_server_is_reported_in_seconds() -> None:
    """The Connect client retries an unavailable server for over ten minutes by default;
    opening a session gives up after a few seconds and names the server."""
    from tests.spark_connect import free_port

    require_or_skip(importlib.util.find_spec("grpc") is not None, "grpcio (pyspark[connect])")
    from metrics.engines.spark import SparkEngine

    url = f"sc://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(EngineError) as raised:
        SparkEngine(remote=url)
    assert time.monotonic() - started < 30
    assert raised.value.kind == "unreachable"
    assert str(raised.value).startswith(f"Spark {url}: unreachable: failed to connect")
    assert str(raised.value).endswith("Connection refused")
