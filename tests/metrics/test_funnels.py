"""Funnel metrics: definitions validated field by field, and the units reaching each step equal
an independent brute force (tests/metrics/funnel_reference.py) on every engine.

The planted units cover order (a step before the one it follows does not count), repeated
steps, events at the same microsecond, window edges (exactly at the end: out; a microsecond
earlier: in), property filters with wrong JSON types, events before the start, units without
funnel events or without any event, and immature units. Random units on a quarter-hour grid add
many ties. Each engine (the app database, SQLite or PostgreSQL; DuckDB; ClickHouse through
chdb; Spark) runs the same statements.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from django.db import connection

from metrics.engine.compiler import compile_metrics
from metrics.engine.definition import MetricDefinitionError, parse_definition
from metrics.engine.populations import FirstSeenPopulation, TablePopulation
from metrics.engines.app_db import AppDatabaseEngine
from metrics.engines.base import Engine
from metrics.engines.store import create_store, event_table, insert_events, load_table
from metrics.incremental import FUNNELS_DIRECT, partials_refresh, partials_statistics
from metrics.runner import compute_metric_statistics
from plg_platform.services.ingestion import events_ingest, to_epoch_us
from tests.conftest import require_or_skip
from tests.metrics.funnel_reference import (
    CUTOFF_US,
    FUNNELS,
    assert_funnel_equal,
    first_visits,
    funnel_brute_force,
    planted_events,
    random_events,
    steps_reached,
    with_times,
)

PLANTED, STARTS, EXPECTED = planted_events()
RANDOM, RANDOM_STARTS = random_events(seed=1402)
RAW = PLANTED + RANDOM
ALL_STARTS = {**STARTS, **RANDOM_STARTS}  # as generated: the table population's starts
FIRST_VISITS = first_visits(RAW)  # the first-seen population's starts
STORE_WORKSPACE = 21
OTHER_WORKSPACE = 22  # the same events in another workspace: must never count
ENGINES = ["app", "duckdb", "chdb", pytest.param("spark", marks=pytest.mark.spark)]
POPULATION_TABLE = "funnel_population"
CONVERSION = parse_definition(
    {"key": "upgraded", "type": "conversion", "event": "upgrade", "window_days": 7}
)


# --- definitions -----------------------------------------------------------------------------
def _spec(**changes: Any) -> dict[str, Any]:
    spec = {
        "key": "f",
        "type": "funnel",
        "window_days": 7,
        "steps": [{"event": "signup"}, {"event": "doc"}, {"event": "upgrade"}],
    }
    spec.update(changes)
    return spec


def test_a_funnel_definition_keeps_its_steps_in_order():
    m = parse_definition(
        _spec(
            steps=[
                {"event": " signup "},
                {
                    "event": "doc",
                    "name": "Create a document",
                    "filters": [{"property": "plan", "op": "in", "value": ["pro", "team"]}],
                },
            ]
        )
    )
    assert [s.event for s in m.steps] == ["signup", "doc"]
    assert [s.label for s in m.steps] == ["signup", "Create a document"]
    assert m.steps[1].filters[0].value == ("pro", "team")
    assert m.event == ""
    assert m.maturity_days == 7


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"steps": None}, "steps"),
        ({"steps": [{"event": "signup"}]}, "steps"),
        ({"steps": [{"event": f"e{i}"} for i in range(11)]}, "steps"),
        ({"steps": "signup,doc"}, "steps"),
        ({"steps": [{"event": "signup"}, "doc"]}, "steps.1"),
        ({"steps": [{"event": "signup"}, {"event": "doc", "when": 1}]}, "steps.1"),
        ({"steps": [{"event": "signup"}, {"event": "doc"}, {"event": " "}]}, "steps.2.event"),
        ({"steps": [{"event": "signup"}, {"event": 5}]}, "steps.1.event"),
        ({"steps": [{"event": "a", "name": 3}, {"event": "b"}]}, "steps.0.name"),
        (
            {
                "steps": [
                    {"event": "signup"},
                    {"event": "doc"},
                    {"event": "up", "filters": [{"property": "x", "op": "gt", "value": "9"}]},
                ]
            },
            "steps.2.filters.0.value",
        ),
        (
            {"steps": [{"event": "a", "filters": [{"property": "bad name", "op": "eq"}]}]},
            "steps",  # one step: the count is checked first
        ),
        (
            {
                "steps": [
                    {"event": "a"},
                    {"event": "b", "filters": [{"property": "bad name", "op": "eq"}]},
                ]
            },
            "steps.1.filters.0",
        ),
        ({"window_days": None}, "window_days"),
        ({"event": "signup"}, "event"),
        ({"filters": [{"property": "plan", "op": "is_set"}]}, "filters"),
        ({"cap_type": "absolute", "cap_value": 3}, "cap_type"),
    ],
)
def test_a_bad_funnel_definition_names_the_field(changes, field):
    with pytest.raises(MetricDefinitionError) as error:
        parse_definition(_spec(**changes))
    assert error.value.field == field


def test_steps_belong_to_funnels_only():
    with pytest.raises(MetricDefinitionError) as error:
        parse_definition(
            {
                "key": "c",
                "type": "conversion",
                "event": "doc",
                "window_days": 3,
                "steps": [{"event": "a"}, {"event": "b"}],
            }
        )
    assert error.value.field == "steps"


# --- the reference agrees with the cases as planted ------------------------------------------
def test_the_reference_reaches_the_planted_steps():
    by_unit = with_times(PLANTED)
    activation, two_docs, doc_invite_doc = FUNNELS
    for unit, steps in EXPECTED.items():
        start = STARTS.get(unit, STARTS["complete"])
        assert steps_reached(activation, by_unit.get(unit, []), start) == steps, unit
    assert steps_reached(two_docs, by_unit["twin_docs"], STARTS["twin_docs"]) == 1
    assert steps_reached(two_docs, by_unit["docs_apart"], STARTS["docs_apart"]) == 2
    assert steps_reached(doc_invite_doc, by_unit["docs_apart"], STARTS["docs_apart"]) == 3
    assert steps_reached(doc_invite_doc, by_unit["same_instant"], STARTS["same_instant"]) == 2


# --- engines -----------------------------------------------------------------------------------
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


def _population_rows() -> list[tuple[str, int, str, bool]]:
    """Every unit with its start and a variant; ``no_events`` has no event at all, and one
    excluded unit (seen in two variants) must not count."""
    rows = [
        (unit, start, "treatment" if i % 2 else "control", False)
        for i, (unit, start) in enumerate(sorted(ALL_STARTS.items()))
    ]
    rows.append(("no_events", STARTS["complete"], "control", False))
    rows.append(("complete", STARTS["complete"], "treatment", True))  # excluded twin row
    return rows


def _open(name: str, tmp: Any) -> Engine:
    if name == "duckdb":
        from metrics.engines.duckdb import DuckDBEngine

        return DuckDBEngine(path=str(tmp / "store.duckdb"))
    if name == "chdb":
        require_or_skip(_has_chdb(), "chdb")
        from metrics.engines.clickhouse import ChdbEngine

        return ChdbEngine(path=str(tmp / "chdb"))
    require_or_skip(shutil.which("java") is not None, "Java 17 for Spark (openjdk-17-jre)")
    from metrics.engines.spark import SparkEngine

    return SparkEngine(master="local[2]")


def _has_chdb() -> bool:
    try:
        import chdb  # noqa: F401
    except ImportError:
        return False
    return True


def _population_arrow() -> pa.Table:
    rows = _population_rows()
    return pa.table(
        {
            "unit_id": [r[0] for r in rows],
            "start_us": pa.array([r[1] for r in rows], type=pa.int64()),
            "variant": [r[2] for r in rows],
            "excluded": [r[3] for r in rows],
        }
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    opened: dict[str, Engine] = {}

    def get(name: str) -> Engine:
        if name not in opened:
            engine = _open(name, tmp_path_factory.mktemp(name))
            create_store(engine)
            insert_events(engine, event_table(_event_rows(STORE_WORKSPACE)))
            insert_events(engine, event_table(_event_rows(OTHER_WORKSPACE)))
            load_table(engine, POPULATION_TABLE, _population_arrow())
            opened[name] = engine
        return opened[name]

    yield get
    for engine in opened.values():
        if engine.dialect != "spark":
            engine.close()


@pytest.fixture
def engine_case(request: pytest.FixtureRequest, stores) -> tuple[Engine, int]:
    if request.param != "app":
        return stores(request.param), STORE_WORKSPACE
    workspace = request.getfixturevalue("workspace")
    other = request.getfixturevalue("other_workspace")
    for ws in (workspace, other):
        for i in range(0, len(RAW), 500):
            assert events_ingest(workspace=ws, raw_events=RAW[i : i + 500]).rejected == []
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {POPULATION_TABLE} "
            "(unit_id TEXT, start_us BIGINT, variant TEXT, excluded BOOLEAN)"
        )
        cursor.executemany(
            f"INSERT INTO {POPULATION_TABLE} VALUES (%s, %s, %s, %s)", _population_rows()
        )
    return AppDatabaseEngine(), workspace.id


TABLE_POPULATION = TablePopulation(
    table=POPULATION_TABLE,
    unit_column="unit_id",
    start_column="start_us",
    group_column="variant",
    exclude_column="excluded",
)


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_units_reaching_each_step_match_brute_force(engine_case):
    engine, workspace_id = engine_case
    # Signup cohorts' way: each unit starts at its first visit (one group, "all").
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=FUNNELS,
        population=FirstSeenPopulation(event="visit"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    by_key = {(s.metric, s.group): s for s in stats}
    population = {unit: (start, "all") for unit, start in FIRST_VISITS.items()}
    for m in FUNNELS:
        expected = funnel_brute_force(RAW, m, population)["all"]
        assert_funnel_equal(by_key[(m.key, "all")], expected, m.key)
    activation = by_key[("activation", "all")]
    assert activation.immature_units >= 1  # the late start
    assert activation.steps[0] > activation.steps[1] > activation.steps[3] > 0


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("engine_case", ENGINES, indirect=True)
def test_experiment_variants_with_units_without_events_match_brute_force(engine_case):
    engine, workspace_id = engine_case
    metrics = [*FUNNELS, CONVERSION]
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=metrics,
        population=TABLE_POPULATION,
        cutoff_us=CUTOFF_US,
        covariate_days=3,  # funnels carry none; the conversion does
        engine=engine,
    )
    by_key = {(s.metric, s.group): s for s in stats}
    population = {
        unit: (start, variant)
        for unit, start, variant, excluded in _population_rows()
        if not excluded
    }
    for m in FUNNELS:
        for variant, expected in funnel_brute_force(RAW, m, population).items():
            assert_funnel_equal(by_key[(m.key, variant)], expected, f"{m.key}/{variant}")
        assert by_key[(m.key, "control")].covariate_sum is None
    # The unit without events counts as a unit that reached nothing.
    assert by_key[("activation", "control")].units == sum(
        1
        for _, (start, v) in population.items()
        if v == "control" and start < CUTOFF_US - 7 * 86_400_000_000
    )
    # The conversion in the same statement equals the conversion computed alone.
    alone = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=[CONVERSION],
        population=TABLE_POPULATION,
        cutoff_us=CUTOFF_US,
        covariate_days=3,
        engine=engine,
    )
    for s in alone:
        assert by_key[(s.metric, s.group)] == s


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("engine_case", ["app", "duckdb"], indirect=True)
def test_funnel_steps_by_segment_and_cohort_bucket(engine_case):
    engine, workspace_id = engine_case
    week = 7 * 86_400_000_000
    stats = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=FUNNELS[:1],
        population=FirstSeenPopulation(event="visit", bucket_us=week),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    population = {unit: (start, str(start // week)) for unit, start in FIRST_VISITS.items()}
    expected = funnel_brute_force(RAW, FUNNELS[0], population)
    assert {s.group for s in stats} == set(expected)
    for s in stats:
        assert_funnel_equal(s, expected[s.group], f"week {s.group}")


def test_the_statement_reads_events_once_per_funnel_and_binds_every_value():
    query = compile_metrics(
        dialect="postgres",
        workspace_id=1,
        metrics=FUNNELS[:1],
        population=TABLE_POPULATION,
        cutoff_us=CUTOFF_US,
    )
    assert query.sql.count("plg_platform_event") == 1  # only the funnel reads events
    assert "'signup'" not in query.sql
    assert "signup" in query.params.values()
    assert query.columns[-4:] == ("m0_step0", "m0_step1", "m0_step2", "m0_step3")


# --- incremental analyses: funnels beside partial aggregates ---------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ["app", "duckdb"], indirect=True)
def test_funnels_beside_partials_match_brute_force_after_an_incremental_refresh(engine_case):
    engine, workspace_id = engine_case
    if engine.dialect == "duckdb":
        from metrics.engines.store import create_partials_store
        from tests.factories import WorkspaceFactory

        create_partials_store(engine)
        WorkspaceFactory(id=workspace_id)  # the scope's row is in the app database
    metrics = [*FUNNELS, CONVERSION]
    population = FirstSeenPopulation(event="visit")
    refreshes = []
    for cutoff in (CUTOFF_US - 86_400_000_000, CUTOFF_US):  # a day before, then now
        refreshes.append(
            partials_refresh(
                workspace_id=workspace_id,
                scope_key=f"funnel-test-{engine.dialect}",
                metrics=metrics,
                population=population,
                cutoff_us=cutoff,
                engine=engine,
            )
        )
    refresh = refreshes[-1]
    assert [r.mode for r in refreshes] == ["rebuild", "incremental"]
    stats = {(s.metric, s.group): s for s in partials_statistics(refresh=refresh)}
    expected = {unit: (start, "all") for unit, start in FIRST_VISITS.items()}
    for m in FUNNELS:
        assert_funnel_equal(
            stats[(m.key, "all")], funnel_brute_force(RAW, m, expected)["all"], m.key
        )
    direct = compute_metric_statistics(
        workspace_id=workspace_id,
        metrics=[CONVERSION],
        population=population,
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    assert stats[("upgraded", "all")] == direct[0]
    assert refresh.scan.as_dict()["rows_read"] > 0


@pytest.mark.django_db
@pytest.mark.parametrize("engine_case", ["app"], indirect=True)
def test_an_analysis_of_funnels_only_reads_the_events_and_says_why(engine_case):
    engine, workspace_id = engine_case
    refresh = partials_refresh(
        workspace_id=workspace_id,
        scope_key="funnels-only",
        metrics=FUNNELS,
        population=FirstSeenPopulation(event="visit"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    assert refresh.mode == "direct"
    assert refresh.reason == FUNNELS_DIRECT
    stats = partials_statistics(refresh=refresh)
    expected = {unit: (start, "all") for unit, start in FIRST_VISITS.items()}
    for s in stats:
        m = next(f for f in FUNNELS if f.key == s.metric)
        assert_funnel_equal(s, funnel_brute_force(RAW, m, expected)["all"], m.key)
    assert refresh.scan.as_dict()["rows_read"] > 0
