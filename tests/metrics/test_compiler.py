"""The metric compiler's sufficient statistics, on the app database, equal a brute-force Python
computation (tests/metrics/reference.py) over seeded events with the awkward cases planted.
The same reference checks every other engine in test_engine_parity.py.
"""

from __future__ import annotations

import pytest

from metrics.engine.definition import parse_definition
from metrics.engine.populations import FirstSeenPopulation, TablePopulation
from metrics.runner import compute_metric_statistics
from plg_platform.models import Event, Person
from plg_platform.services.ingestion import events_ingest, persons_identify
from tests.metrics.reference import (
    CUTOFF_US,
    DAY_US,
    DEFINITIONS,
    SPECS,
    assert_equal,
    brute_force,
    first_seen,
    generate_events,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(workspace):
    raw, plans = generate_events(seed=20261124)
    for i in range(0, len(raw), 500):
        result = events_ingest(workspace=workspace, raw_events=raw[i : i + 500])
        assert result.rejected == []
    persons_identify(
        workspace=workspace,
        traits=[
            (unit, {"plan": plan, "account_id": f"acct-{int(unit[1:]) % 7}"})
            for unit, plan in plans.items()
        ],
    )
    return raw


def test_every_metric_type_matches_brute_force_for_signup_cohorts(workspace, loaded):
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
    )
    starts = first_seen(loaded, "signup")
    population = {unit: (start, "all") for unit, start in starts.items()}
    by_key = {(s.metric, s.group): s for s in stats}
    assert len(stats) == len(DEFINITIONS)
    for m in DEFINITIONS:
        expected = brute_force(loaded, m, population)["all"]
        assert_equal(by_key[(m.key, "all")], expected, m.key)
    # The planted edge cases matter: some units are still inside their window, some never
    # reached time to value, and the filters select a strict subset.
    assert by_key[("d7_14", "all")].immature_units > 0
    assert 0 < by_key[("ttv", "all")].n < by_key[("ttv", "all")].units
    assert by_key[("aha_pro", "all")].sum < by_key[("aha", "all")].sum


def test_segments_cohort_buckets_and_covariates_match_brute_force(workspace, loaded):
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(bucket_us=7 * DAY_US, segment_property="plan"),
        cutoff_us=CUTOFF_US,
        covariate_days=3,
    )
    starts = first_seen(loaded)
    plan_of = dict(Person.objects.values_list("distinct_id", "properties__plan"))
    groups = {s.group for s in stats}
    assert len(groups) >= 4
    # One population: the percentile cap is pooled over every group and segment.
    population = {
        unit: (start, f"{start // (7 * DAY_US)}|{plan_of.get(unit) or '(none)'}")
        for unit, start in starts.items()
    }
    for m in DEFINITIONS:
        expected = brute_force(loaded, m, population, covariate_days=3)
        for key, values in expected.items():
            group, segment = key.split("|")
            actual = next(
                s for s in stats if (s.metric, s.group, s.segment) == (m.key, group, segment)
            )
            assert_equal(actual, values, f"{m.key}/{group}/{segment}")
    assert {s.segment for s in stats} == {"free", "pro", "team"}


def test_account_units_aggregate_their_users_events(workspace, loaded):
    accounts = [
        parse_definition({**SPECS[2], "unit_property": "account_id"}),
        parse_definition({**SPECS[0], "unit_property": "account_id"}),
    ]
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=accounts,
        population=FirstSeenPopulation(),
        cutoff_us=CUTOFF_US,
    )
    account_of = {f"u{u}": f"acct-{u % 7}" for u in range(80)}
    as_accounts = [{**e, "distinct_id": account_of[e["distinct_id"]]} for e in loaded]
    population = {a: (s, "all") for a, s in first_seen(as_accounts).items()}
    for m, actual in zip(accounts, stats, strict=True):
        assert_equal(actual, brute_force(as_accounts, m, population)["all"], m.key)
    assert stats[0].units + stats[0].immature_units == 7


def test_table_population_excludes_flagged_units_and_reads_groups(workspace, loaded):
    """Experiments give their exposures as a table; here the person table stands in for it."""
    from django.db import connection

    starts = first_seen(loaded, "signup")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE test_exposure (unit_id TEXT, exposed_at_us BIGINT, "
            "variant TEXT, experiment_id INTEGER, excluded BOOLEAN)"
        )
        rows = [
            (unit, start, "control" if i % 2 else "treatment", 1 if i % 3 else 2, i % 10 == 0)
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
    )
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=DEFINITIONS[:3],
        population=population,
        cutoff_us=CUTOFF_US,
    )
    expected_population = {u: (s, v) for u, s, v, x, ex in rows if x == 1 and not ex}
    for m in DEFINITIONS[:3]:
        expected = brute_force(loaded, m, expected_population)
        for variant in ("control", "treatment"):
            actual = next(s for s in stats if (s.metric, s.group) == (m.key, variant))
            assert_equal(actual, expected[variant], f"{m.key}/{variant}")


def test_other_workspaces_events_never_count(workspace, other_workspace, loaded):
    events_ingest(
        workspace=other_workspace,
        raw_events=[{**e, "insert_id": f"x{i}"} for i, e in enumerate(loaded)],
    )
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=DEFINITIONS[2:3],
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
    )
    starts = first_seen(loaded, "signup")
    expected = brute_force(loaded, DEFINITIONS[2], {u: (s, "all") for u, s in starts.items()})
    assert_equal(stats[0], expected["all"], "docs")
    assert Event.objects.filter(workspace=other_workspace).count() == len(loaded)


def test_user_values_are_bound_parameters_not_sql(workspace, loaded):
    """A hostile event name or property value is data: it matches nothing and breaks nothing."""
    hostile = parse_definition(
        {
            "key": "x",
            "type": "count",
            "event": "doc'; DROP TABLE plg_platform_event; --",
            "window_days": 7,
            "filters": [{"property": "plan", "op": "eq", "value": "' OR 1=1 --"}],
        }
    )
    stats = compute_metric_statistics(
        workspace_id=workspace.id,
        metrics=[hostile],
        population=FirstSeenPopulation(event="signup"),
        cutoff_us=CUTOFF_US,
    )
    assert stats[0].sum == 0
    assert Event.objects.filter(workspace=workspace).count() == len(loaded)
