"""Statistics from partial aggregates, refreshed incrementally, equal the statement over all
events and the brute-force reference of ``test_compiler`` (every metric type, with segments,
day buckets and CUPED covariates): after one more day of events, after late events inside the
lookback, after a definition change; an event later than the lookback is missed until a full
rebuild, and the rebuild picks it up.
"""

from __future__ import annotations

import random
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from metrics.engine.definition import parse_definition
from metrics.engine.partials import PartialStatements, partial_layout
from metrics.engine.populations import FirstSeenPopulation, TablePopulation
from metrics.engine.time_units import DAY_US
from metrics.engines.app_db import AppDatabaseEngine
from metrics.incremental import (
    ROWS_COUNTED,
    ROWS_FROM_PLAN,
    partials_invalidate,
    partials_refresh,
    partials_statistics,
)
from metrics.models import PartialDay, PartialScope, PartialUnit
from metrics.runner import MetricStatistics, compute_metric_statistics
from plg_platform.errors import ValidationFailed
from plg_platform.models import Person
from plg_platform.services.ingestion import events_ingest, persons_identify, to_epoch_us
from tests.metrics.reference import (
    CUTOFF_US,
    DEFINITIONS,
    SPECS,
    assert_equal,
    brute_force,
    first_seen,
    generate_events,
)

pytestmark = pytest.mark.django_db

SEED = 20261124
# The refresh before the last: one day before the reference's cut-off.
EARLIER_US = CUTOFF_US - DAY_US
SIGNUPS = FirstSeenPopulation(event="signup")
SEGMENTED = FirstSeenPopulation(bucket_us=7 * DAY_US, segment_property="plan")
SCOPE = "test:scope"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NUMBERS = tuple(
    f.name for f in fields(MetricStatistics) if f.name not in ("metric", "group", "segment")
)


def _t(event: dict[str, Any]) -> int:
    return to_epoch_us(datetime.fromisoformat(event["timestamp"]))


def _ingest(workspace, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        assert events_ingest(workspace=workspace, raw_events=events[i : i + 500]).rejected == []


@pytest.fixture
def raw(workspace) -> list[dict[str, Any]]:
    """The reference's events (not stored yet) and its persons (stored)."""
    events, plans = generate_events(seed=SEED)
    persons_identify(workspace=workspace, traits=[(u, {"plan": p}) for u, p in plans.items()])
    return events


def _refresh(workspace, population, *, cutoff_us, metrics=DEFINITIONS, covariate_days=0, **kw):
    refresh = partials_refresh(
        workspace_id=workspace.id,
        scope_key=SCOPE,
        metrics=metrics,
        population=population,
        cutoff_us=cutoff_us,
        covariate_days=covariate_days,
        **kw,
    )
    return refresh, partials_statistics(refresh=refresh, population=population)


def _direct(
    workspace, population, *, cutoff_us, metrics=DEFINITIONS, covariate_days=0, engine=None
):
    return compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=metrics,
        population=population,
        cutoff_us=cutoff_us,
        covariate_days=covariate_days,
        engine=engine,
    )


def _assert_same(actual: list[MetricStatistics], expected: list[MetricStatistics]) -> None:
    """Equal to the statement over the events: the same rows, every number to 1e-9."""

    def key(s: MetricStatistics) -> tuple[str, str, str, str]:
        return (s.metric, s.group, s.segment, s.bucket)

    assert sorted(map(key, actual)) == sorted(map(key, expected))
    by_key = {key(s): s for s in expected}
    for a in actual:
        e = by_key[key(a)]
        for name in NUMBERS:
            got, want = getattr(a, name), getattr(e, name)
            if want is None or isinstance(want, str):
                assert got == want, (key(a), name)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (key(a), name)


def _assert_brute_force(stats, events, population, *, metrics=DEFINITIONS, covariate_days=0):
    """Equal to the brute-force reference over ``events`` (at the reference's cut-off)."""
    if population == SIGNUPS:
        starts = {u: (s, "all") for u, s in first_seen(events, "signup").items()}
    else:
        plan_of = dict(Person.objects.values_list("distinct_id", "properties__plan"))
        starts = {
            u: (s, f"{s // (7 * DAY_US)}|{plan_of.get(u) or '(none)'}")
            for u, s in first_seen(events).items()
        }
    for m in metrics:
        expected = brute_force(events, m, starts, covariate_days=covariate_days)
        for group_key, values in expected.items():
            group, _, segment = group_key.partition("|")
            actual = next(
                s
                for s in stats
                if (s.metric, s.group) == (m.key, group) and s.segment == (segment or "all")
            )
            assert_equal(actual, values, f"{m.key}/{group_key}")


CASES = [
    pytest.param(SIGNUPS, 0, id="signup-cohort"),
    pytest.param(SEGMENTED, 3, id="segments-buckets-covariates"),
]


@pytest.mark.parametrize(("population", "covariate_days"), CASES)
def test_one_more_day_of_events_refreshes_to_the_full_computation(
    workspace, raw, population, covariate_days
):
    _ingest(workspace, [e for e in raw if _t(e) < EARLIER_US])
    first, stats = _refresh(
        workspace, population, cutoff_us=EARLIER_US, covariate_days=covariate_days
    )
    assert first.mode == "rebuild"
    _assert_same(
        stats, _direct(workspace, population, cutoff_us=EARLIER_US, covariate_days=covariate_days)
    )

    _ingest(workspace, [e for e in raw if _t(e) >= EARLIER_US])
    second, stats = _refresh(
        workspace, population, cutoff_us=CUTOFF_US, covariate_days=covariate_days
    )
    assert second.mode == "incremental"
    assert second.since_us == (EARLIER_US // DAY_US - 2) * DAY_US
    _assert_same(
        stats, _direct(workspace, population, cutoff_us=CUTOFF_US, covariate_days=covariate_days)
    )
    _assert_brute_force(stats, raw, population, covariate_days=covariate_days)


@pytest.mark.parametrize(("population", "covariate_days"), CASES)
def test_a_week_of_daily_refreshes_with_a_changing_lookback(
    workspace, raw, population, covariate_days
):
    """Each day's events arrive, then a refresh at a different hour: settled days are folded
    into the units' components day after day (a lookback that grows makes them recomputed
    from the day rows, one that shrinks leaves more days to fold); every refresh equals the
    statement over the events."""
    days = [CUTOFF_US - d * DAY_US + d * 3_600_000_017 for d in range(7, 0, -1)] + [CUTOFF_US]
    lookbacks = [2, 2, 0, 0, 3, 1, 2, 2]
    _ingest(workspace, [e for e in raw if _t(e) < days[0]])
    modes = []
    for previous, cutoff, lookback in zip([0, *days], days, lookbacks, strict=False):
        _ingest(workspace, [e for e in raw if previous <= _t(e) < cutoff and previous])
        refresh, stats = _refresh(
            workspace,
            population,
            cutoff_us=cutoff,
            covariate_days=covariate_days,
            lookback_days=lookback,
        )
        modes.append(refresh.mode)
        _assert_same(
            stats, _direct(workspace, population, cutoff_us=cutoff, covariate_days=covariate_days)
        )
    assert modes == ["rebuild"] + ["incremental"] * 7
    _ingest(workspace, [e for e in raw if _t(e) >= CUTOFF_US])
    _assert_brute_force(stats, raw, population, covariate_days=covariate_days)


@pytest.mark.parametrize(("population", "covariate_days"), CASES)
def test_late_events_inside_the_lookback_and_moved_starts_are_picked_up(
    workspace, raw, population, covariate_days
):
    """Events of the last day before the earlier refresh arrive after it; one unit's first
    event arrives weeks late (its start moves back: the unit is rebuilt from all events)."""
    rng = random.Random(7)
    late = [e for e in raw if EARLIER_US - DAY_US <= _t(e) < EARLIER_US and rng.random() < 0.6]
    assert len(late) >= 5
    starts = first_seen(raw, "signup")
    unit = sorted(starts)[3]
    moved = {
        **next(e for e in raw if e["distinct_id"] == unit and e["event"] == "signup"),
        "insert_id": "moved-start",
        "timestamp": (EPOCH + timedelta(microseconds=starts[unit] - 2 * DAY_US)).isoformat(),
    }
    everything = [*raw, moved]
    held = {id(e) for e in late}
    _ingest(workspace, [e for e in raw if _t(e) < EARLIER_US and id(e) not in held])
    _refresh(workspace, population, cutoff_us=EARLIER_US, covariate_days=covariate_days)

    _ingest(workspace, [*late, moved, *(e for e in raw if _t(e) >= EARLIER_US)])
    refresh, stats = _refresh(
        workspace, population, cutoff_us=CUTOFF_US, covariate_days=covariate_days
    )
    assert refresh.mode == "incremental"
    assert refresh.new_units >= 1  # the unit whose start moved
    _assert_same(
        stats, _direct(workspace, population, cutoff_us=CUTOFF_US, covariate_days=covariate_days)
    )
    _assert_brute_force(stats, everything, population, covariate_days=covariate_days)


def test_an_event_older_than_the_lookback_is_missed_until_a_full_rebuild(workspace, raw):
    """Documented behaviour: the lookback bounds what a refresh re-reads. A 'doc' event ten
    days old that arrives now is not counted by the incremental refresh; a rebuild counts it."""
    starts = first_seen(raw, "signup")
    old = next(
        e
        for e in raw
        if e["event"] == "doc"
        and e["distinct_id"] in starts
        and starts[e["distinct_id"]] < _t(e) < starts[e["distinct_id"]] + 7 * DAY_US
        and starts[e["distinct_id"]] + 14 * DAY_US <= CUTOFF_US
        and _t(e) < EARLIER_US - 10 * DAY_US
    )
    without = [e for e in raw if e is not old]
    _ingest(workspace, [e for e in without if _t(e) < EARLIER_US])
    _refresh(workspace, SIGNUPS, cutoff_us=EARLIER_US)

    _ingest(workspace, [old, *(e for e in without if _t(e) >= EARLIER_US)])
    refresh, stats = _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    assert refresh.mode == "incremental"
    _assert_brute_force(stats, without, SIGNUPS)  # missed ...
    docs = next(s for s in stats if s.metric == "docs")
    direct = next(s for s in _direct(workspace, SIGNUPS, cutoff_us=CUTOFF_US) if s.metric == "docs")
    assert docs.sum + 1 == direct.sum

    rebuilt, stats = _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US, rebuild=True)
    assert rebuilt.mode == "rebuild"
    _assert_brute_force(stats, raw, SIGNUPS)  # ... until a full rebuild
    _assert_same(stats, _direct(workspace, SIGNUPS, cutoff_us=CUTOFF_US))


def _changed(key: str, **changes: Any) -> list:
    return [
        parse_definition({**spec, **changes}) if spec["key"] == key else parse_definition(spec)
        for spec in SPECS
    ]


@pytest.mark.parametrize(("population", "covariate_days"), CASES)
def test_a_changed_definition_rebuilds_or_recomputes_values(
    workspace, raw, population, covariate_days
):
    _ingest(workspace, raw)
    _refresh(workspace, population, cutoff_us=EARLIER_US, covariate_days=covariate_days)

    # A new filter value: other events count, so the day rows are rebuilt from the events.
    filtered = _changed("aha_pro", filters=[{"property": "plan", "op": "eq", "value": "team"}])
    refresh, stats = _refresh(
        workspace,
        population,
        cutoff_us=CUTOFF_US,
        metrics=filtered,
        covariate_days=covariate_days,
    )
    assert refresh.mode == "rebuild"
    _assert_brute_force(stats, raw, population, metrics=filtered, covariate_days=covariate_days)

    # A new minimum count and a shorter window: the same events, so the day rows stay and
    # every unit's values are recomputed from them.
    habit = [
        replace(m, min_count=2)
        if m.key == "habit"
        else replace(m, window_days=10)
        if m.key == "docs"
        else m
        for m in filtered
    ]
    refresh, stats = _refresh(
        workspace, population, cutoff_us=CUTOFF_US, metrics=habit, covariate_days=covariate_days
    )
    assert refresh.mode == "incremental"
    _assert_same(
        stats,
        _direct(
            workspace,
            population,
            cutoff_us=CUTOFF_US,
            metrics=habit,
            covariate_days=covariate_days,
        ),
    )
    _assert_brute_force(stats, raw, population, metrics=habit, covariate_days=covariate_days)


def test_refresh_reports_what_it_read_and_keeps_one_row_per_unit_day(workspace, raw, on_postgres):
    _ingest(workspace, raw)
    first, _ = _refresh(workspace, SIGNUPS, cutoff_us=EARLIER_US)
    second, _ = _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    for refresh in (first, second):
        report = refresh.report()
        assert report["statements"] > 5
        assert report["seconds"] >= 0
        assert report["rows_read_source"] == (ROWS_FROM_PLAN if on_postgres else ROWS_COUNTED)
    # The rebuild read every event of the parts' names in the units' ranges (PostgreSQL's
    # scans: at least those); the daily refresh only three days of them.
    engine = AppDatabaseEngine()
    joined = PartialStatements(
        dialect=engine.dialect,
        workspace_id=workspace.id,
        scope_id=first.scope_id,
        metrics=DEFINITIONS,
        population=SIGNUPS,
        cutoff_us=EARLIER_US,
    ).count_read_rows(units="population")
    in_ranges = engine.execute(joined.sql, joined.params)[0][0]
    if on_postgres:
        # What its scans read: on tables this small, whole tables, even for three days.
        assert first.report()["rows_read"] >= in_ranges
        assert second.report()["rows_read"] > 0
    else:
        assert first.report()["rows_read"] == in_ranges
        assert 0 < second.report()["rows_read"] < first.report()["rows_read"] / 4
    scope = PartialScope.objects.get(workspace=workspace, key=SCOPE)
    assert scope.watermark_us == CUTOFF_US
    assert scope.last_refresh["mode"] == "incremental"
    layout = partial_layout(DEFINITIONS)
    units = len(first_seen(raw, "signup"))
    assert PartialUnit.objects.filter(scope=scope).count() == units * layout.chunks
    assert PartialDay.objects.filter(scope=scope, part__gte=len(layout.parts)).count() == 0
    # Seven parts serve fourteen metrics: counts read the rows of sums of the same events.
    assert len(layout.parts) == 7


def test_a_cutoff_before_the_stored_one_computes_from_the_events(workspace, raw):
    _ingest(workspace, raw)
    _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    earlier, stats = _refresh(workspace, SIGNUPS, cutoff_us=EARLIER_US)
    assert earlier.mode == "direct"
    _assert_same(stats, _direct(workspace, SIGNUPS, cutoff_us=EARLIER_US))
    assert earlier.report()["rows_read"] > 0
    assert PartialScope.objects.get(key=SCOPE).watermark_us == CUTOFF_US


def test_invalidate_makes_the_next_refresh_a_rebuild(workspace, raw):
    _ingest(workspace, raw)
    _refresh(workspace, SIGNUPS, cutoff_us=EARLIER_US)
    assert partials_invalidate(workspace_id=workspace.id, scope_key=SCOPE) == 1
    refresh, stats = _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    assert refresh.mode == "rebuild"
    _assert_brute_force(stats, raw, SIGNUPS)


def test_statistics_need_the_population_the_partials_were_built_for(workspace, raw):
    from metrics.engine.sql import CompilerError

    _ingest(workspace, raw)
    refresh, _ = _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    with pytest.raises(CompilerError):
        partials_statistics(refresh=refresh, population=FirstSeenPopulation())
    with pytest.raises(ValidationFailed) as error:
        _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US, lookback_days=-1)
    assert error.value.field == "lookback_days"


def test_table_population_with_excluded_units_and_day_buckets(workspace, raw):
    """The experiment's shape: units listed in a table, some excluded, grouped by variant and
    by day of first exposure; an exposure that moves earlier rebuilds its unit."""
    from django.db import connection

    _ingest(workspace, raw)
    starts = first_seen(raw, "signup")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE test_exposure (unit_id TEXT, exposed_at_us BIGINT, "
            "variant TEXT, experiment_id INTEGER, excluded BOOLEAN)"
        )
        rows = [
            (unit, start, "control" if i % 2 else "treatment", 1, i % 10 == 0)
            for i, (unit, start) in enumerate(sorted(starts.items()))
        ]
        cursor.executemany("INSERT INTO test_exposure VALUES (%s, %s, %s, %s, %s)", rows)
    population = TablePopulation(
        table="test_exposure",
        unit_column="unit_id",
        start_column="exposed_at_us",
        group_column="variant",
        filters=(("experiment_id", 1),),
        exclude_column="excluded",
        bucket_us=DAY_US,
    )
    _refresh(workspace, population, cutoff_us=EARLIER_US, covariate_days=3)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE test_exposure SET exposed_at_us = exposed_at_us - %s WHERE unit_id = %s",
            [3 * DAY_US + 17, rows[1][0]],
        )
    refresh, stats = _refresh(workspace, population, cutoff_us=CUTOFF_US, covariate_days=3)
    assert refresh.mode == "incremental"
    assert refresh.new_units == 1
    _assert_same(stats, _direct(workspace, population, cutoff_us=CUTOFF_US, covariate_days=3))
    assert len({s.bucket for s in stats}) > 10


def test_tables_are_empty_of_other_scopes_rows_after_a_rebuild(workspace, raw):
    """Two scopes share the tables; rebuilding one leaves the other's rows alone."""
    _ingest(workspace, raw)
    engine = AppDatabaseEngine()
    _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US)
    partials_refresh(
        workspace_id=workspace.id,
        scope_key="other",
        metrics=DEFINITIONS[:2],
        population=SIGNUPS,
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    other = PartialScope.objects.get(key="other")
    before = PartialDay.objects.filter(scope=other).count()
    _refresh(workspace, SIGNUPS, cutoff_us=CUTOFF_US, rebuild=True)
    assert PartialDay.objects.filter(scope=other).count() == before > 0


@pytest.mark.parametrize(("population", "covariate_days"), CASES)
def test_duckdb_keeps_the_partials_beside_its_events(workspace, raw, population, covariate_days):
    """The same refreshes on DuckDB's own event store: partials in DuckDB, the scope's state
    in the app database."""
    from metrics.engines.duckdb import DuckDBEngine
    from metrics.engines.store import (
        create_partials_store,
        create_store,
        event_table,
        insert_events,
        insert_persons,
        person_table,
    )

    engine = DuckDBEngine()
    create_store(engine)
    create_partials_store(engine)
    insert_persons(
        engine,
        person_table(
            (workspace.id, p.distinct_id, p.properties)
            for p in Person.objects.filter(workspace=workspace)
        ),
    )

    def load(events):
        rows = (
            (workspace.id, e["event"], e["distinct_id"], _t(e), e["insert_id"], e["properties"])
            for e in events
        )
        insert_events(engine, event_table(rows))

    # Nine daily refreshes (DuckDB folds settled days weekly: once in between), the events of
    # each day arriving before it, half of the first day's late.
    days = [CUTOFF_US - d * DAY_US for d in range(9, 0, -1)] + [CUTOFF_US]
    late = [e for e in raw if days[0] - DAY_US <= _t(e) < days[0]][::2]
    held = {id(e) for e in late}
    load([e for e in raw if _t(e) < days[0] and id(e) not in held])
    modes, frozen = [], set()
    for i, cutoff in enumerate(days):
        if i:
            arriving = [e for e in raw if days[i - 1] <= _t(e) < cutoff]
            load([*late, *arriving] if i == 1 else arriving)
        refresh, stats = _refresh(
            workspace, population, cutoff_us=cutoff, covariate_days=covariate_days, engine=engine
        )
        modes.append(refresh.mode)
        frozen.add(refresh.details["frozen_day"])
        direct = _direct(
            workspace, population, cutoff_us=cutoff, covariate_days=covariate_days, engine=engine
        )
        _assert_same(stats, direct)
    assert modes == ["rebuild"] + ["incremental"] * 9
    assert refresh.report()["engine"].startswith("DuckDB")
    assert len(frozen) == 2  # folded once, after a week
    # The fold's staged sums (a temporary table) are dropped once folded.
    staged = "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = 'metrics_partial_fold'"
    assert engine.execute(staged, {}) == [(0,)]
    _assert_brute_force(stats, raw, population, covariate_days=covariate_days)
