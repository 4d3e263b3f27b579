"""Objectives and key results: progress and status arithmetic, baselines from the metric layer
(checked by brute force), baseline edits with history, check-ins, initiatives, alignment."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from outcomes.okrs.contracts import (
    LinkedExperiment,
    linked_experiments_providers,
    register_linked_experiments_provider,
)
from outcomes.okrs.models import BaselineChange, CheckIn, KeyResult, Objective, ValueSource
from outcomes.okrs.progress import (
    AT_RISK_MAX_LAG,
    ON_TRACK_MAX_LAG,
    key_result_measure,
    progress,
    status,
    time_elapsed,
)
from outcomes.okrs.selectors import key_result_detail, key_result_summary, objective_tree
from outcomes.okrs.services.check_ins import (
    CONFIDENCE_RANGE,
    check_in_create,
    key_result_baseline_compute,
    key_result_check_in_compute,
)
from outcomes.okrs.services.initiatives import INITIATIVE_NEEDS_KEY_RESULT, initiative_create
from outcomes.okrs.services.key_results import (
    REASON_REQUIRED,
    key_result_create,
    key_result_set_baseline,
)
from outcomes.okrs.services.lookups import OUTPUT_NOT_KEY_RESULT
from outcomes.okrs.services.objectives import (
    PARENT_CYCLE,
    objective_create,
    objective_update,
    quarter_period,
)
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import AuditLog
from plg_platform.services.ingestion import to_epoch_us
from tests.outcomes.support import BERLIN, Data, store

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


# --- progress, time elapsed, status ----------------------------------------------------------
@pytest.mark.parametrize(
    ("baseline", "target", "current", "expected"),
    [
        (0.31, 0.36, 0.31, 0.0),
        (0.30, 0.40, 0.35, 0.5),
        (0.30, 0.40, 0.42, 1.2),  # beyond the target
        (0.30, 0.40, 0.28, -0.2),  # worse than the baseline
        (10.0, 5.0, 7.5, 0.5),  # "decrease": target below the baseline
        (10.0, 5.0, 11.0, -0.2),
        (None, 0.4, 0.35, None),  # no baseline yet
        (0.3, 0.4, None, None),  # no value yet
        (0.3, 0.3, 0.35, None),  # target equal to baseline: undefined
    ],
)
def test_progress_is_the_share_of_the_way_from_baseline_to_target(
    baseline, target, current, expected
):
    value = progress(baseline=baseline, target=target, current=current)
    assert value == pytest.approx(expected) if expected is not None else value is None


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 6, 30), 0.0),  # before the period
        (date(2026, 7, 1), 1 / 92),  # the first day has passed by its end
        (date(2026, 8, 15), 46 / 92),
        (date(2026, 9, 30), 1.0),
        (date(2026, 12, 1), 1.0),
    ],
)
def test_time_elapsed_counts_whole_days_of_the_period(on, expected):
    start, end = quarter_period("2026-Q3")
    assert (start, end) == (date(2026, 7, 1), date(2026, 9, 30))
    assert time_elapsed(period_start=start, period_end=end, on=on) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("progress_value", "elapsed", "expected"),
    [
        (0.5, 0.5, "on_track"),
        (0.45, 0.5, "on_track"),  # lags by 0.05
        (0.6, 0.5, "on_track"),  # ahead
        (0.375, 0.5, "at_risk"),  # lags by 0.125
        (0.3, 0.5, "at_risk"),  # lags by 0.2
        (0.2, 0.5, "off_track"),  # lags by 0.3
        (-0.5, 0.5, "off_track"),
        (0.0, 0.05, "on_track"),  # early in the period nothing is expected yet
        (1.0, 1.0, "on_track"),
        (1.3, 0.2, "on_track"),  # target reached
        (0.85, 1.0, "at_risk"),
        (0.7, 1.0, "off_track"),
        (None, 0.5, "no_data"),
    ],
)
def test_status_compares_progress_with_time_elapsed(progress_value, elapsed, expected):
    assert ON_TRACK_MAX_LAG == 0.10
    assert AT_RISK_MAX_LAG == 0.25
    assert status(progress_value=progress_value, elapsed=elapsed) == expected


@pytest.mark.parametrize(
    ("quarter", "first", "last"),
    [
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 31)),
    ],
)
def test_quarters_are_calendar_quarters(quarter, first, last):
    assert quarter_period(quarter) == (first, last)


@pytest.mark.parametrize("quarter", ["2026-Q5", "2026Q1", "Q1-2026", ""])
def test_a_malformed_quarter_is_refused_by_name(quarter):
    with pytest.raises(ValidationFailed) as error:
        quarter_period(quarter)
    assert error.value.field == "quarter"


# --- key results on the metric layer --------------------------------------------------------
PERIOD_START = date(2026, 4, 1)
AS_OF = datetime(2026, 4, 1, tzinfo=BERLIN)


def _signups(seed: int = 3) -> Data:
    """40 users signing up over March (across the DST change), 60% activating in 0–10 days."""
    rng = random.Random(seed)
    data = Data()
    for u in range(40):
        signup = datetime(2026, 2, 20, 12, tzinfo=BERLIN) + timedelta(hours=rng.uniform(0, 1000))
        data.add(f"u{u}", "signed_up", signup)
        if rng.random() < 0.6:
            data.add(f"u{u}", "activated", signup + timedelta(hours=rng.uniform(0, 240)))
    # Exactly on the 7-day edge: outside the window.
    data.add("edge", "signed_up", datetime(2026, 3, 10, 8, tzinfo=BERLIN))
    data.add("edge", "activated", datetime(2026, 3, 17, 8, tzinfo=BERLIN))
    return data


def _expected_conversion(data: Data, as_of: datetime, cohort_days: int = 28) -> tuple[float, int]:
    cutoff = to_epoch_us(as_of)
    week = 7 * 86_400_000_000
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == "signed_up" and e["t"] < cutoff:
            starts[e["distinct_id"]] = min(e["t"], starts.get(e["distinct_id"], e["t"]))
    cohort = {
        u: s
        for u, s in starts.items()
        if cutoff - week - cohort_days * 86_400_000_000 <= s < cutoff - week
    }
    converted = sum(
        any(
            e["distinct_id"] == u and e["event"] == "activated" and s <= e["t"] < s + week
            for e in data.events
        )
        for u, s in cohort.items()
    )
    return converted / len(cohort), len(cohort)


@pytest.fixture
def objective(workspace) -> Objective:
    workspace.timezone = "Europe/Berlin"
    workspace.save(update_fields=["timezone"])
    return objective_create(
        workspace=workspace, title="New teams stick", quarter="2026-Q2", team="Growth"
    )


@pytest.fixture
def activation_metric(workspace, make_metric):
    return make_metric(workspace, "activation-7d", event="activated", window_days=7)


def _create(objective, metric, **kwargs) -> KeyResult:
    spec = {
        "title": "Raise 7-day activation of new signups",
        "metric_key": metric.key,
        "target": 0.9,
        "start_event": "signed_up",
        "now": datetime(2026, 4, 20, tzinfo=BERLIN),
        **kwargs,
    }
    return key_result_create(objective=objective, **spec)


def test_baseline_is_the_metric_over_the_last_matured_cohort_before_the_period(
    workspace, objective, activation_metric
):
    data = _signups()
    store(workspace, data)
    key_result = _create(objective, activation_metric)
    expected, units = _expected_conversion(data, AS_OF)
    assert key_result.baseline == pytest.approx(expected, rel=1e-12)
    assert key_result.baseline_units == units
    change = BaselineChange.objects.get(key_result=key_result)
    assert (change.source, change.previous, change.reason) == (ValueSource.COMPUTED, None, "")


def test_a_key_result_segment_measures_only_that_segment(workspace, objective, activation_metric):
    from plg_platform.services.ingestion import persons_identify

    data = _signups()
    store(workspace, data)
    persons_identify(
        workspace=workspace,
        traits=[(f"u{u}", {"plan": "pro" if u % 2 else "free"}) for u in range(40)],
    )
    key_result = _create(objective, activation_metric, segment_property="plan", segment_value="pro")
    only_pro = Data(
        events=[
            e
            for e in data.events
            if e["distinct_id"][1:].isdigit() and int(e["distinct_id"][1:]) % 2 == 1
        ]
    )
    expected, units = _expected_conversion(only_pro, AS_OF)
    assert key_result.baseline == pytest.approx(expected, rel=1e-12)
    assert key_result.baseline_units == units


def test_an_output_is_not_a_key_result(workspace, objective):
    with pytest.raises(ValidationFailed) as error:
        key_result_create(objective=objective, title="Ship offline mode", metric_key=None, target=1)
    assert error.value.field == "metric"
    assert error.value.message == OUTPUT_NOT_KEY_RESULT.format(title="Ship offline mode")
    assert "initiative" in error.value.message
    assert not KeyResult.objects.exists()
    assert not AuditLog.objects.filter(action="key_result.create").exists()


def test_a_metric_of_another_workspace_is_not_found(objective, other_workspace, make_metric):
    foreign = make_metric(other_workspace, "foreign")
    with pytest.raises(NotFound) as error:
        key_result_create(objective=objective, title="x", metric_key=foreign.key, target=1)
    assert error.value.field == "metric"


def test_a_target_equal_to_the_baseline_or_the_wrong_way_is_refused(
    workspace, objective, activation_metric
):
    for target, direction, fragment in (
        (0.3, "increase", "equals the baseline"),
        (0.2, "increase", "above the baseline"),
        (0.4, "decrease", "below the baseline"),
    ):
        with pytest.raises(ValidationFailed) as error:
            _create(
                objective,
                activation_metric,
                target=target,
                direction=direction,
                baseline=0.3,
                baseline_reason="Measured by hand in the old tool",
            )
        assert error.value.field == "target"
        assert fragment in error.value.message
    assert not KeyResult.objects.exists()
    assert not BaselineChange.objects.exists()


def test_a_baseline_given_by_hand_needs_a_reason(objective, activation_metric):
    with pytest.raises(ValidationFailed) as error:
        _create(objective, activation_metric, baseline=0.3)
    assert (error.value.field, error.value.message) == ("baseline_reason", REASON_REQUIRED)


def test_baseline_edits_need_a_reason_and_keep_their_history(
    workspace, objective, activation_metric, editor
):
    store(workspace, _signups())
    key_result = _create(objective, activation_metric)
    computed = key_result.baseline
    with pytest.raises(ValidationFailed) as error:
        key_result_set_baseline(key_result=key_result, baseline=0.4, reason="  ")
    assert error.value.field == "reason"
    key_result_set_baseline(
        key_result=key_result, baseline=0.4, reason="Exclude bots", actor=editor.user
    )
    key_result.refresh_from_db()
    assert key_result.baseline == 0.4
    history = list(
        BaselineChange.objects.filter(key_result=key_result).values_list(
            "previous", "baseline", "source", "reason"
        )
    )
    assert history == [
        (None, computed, "computed", ""),
        (computed, 0.4, "manual", "Exclude bots"),
    ]
    assert AuditLog.objects.filter(action="key_result.baseline", actor=editor.user).exists()


def test_a_baseline_is_computed_once_the_period_starts(workspace, activation_metric):
    workspace.timezone = "Europe/Berlin"
    workspace.save(update_fields=["timezone"])
    future = objective_create(
        workspace=workspace,
        title="Later",
        period_start=date(2026, 4, 1),
        period_end=date(2026, 5, 31),
    )
    store(workspace, _signups())
    key_result = _create(future, activation_metric, now=datetime(2026, 3, 20, tzinfo=BERLIN))
    assert key_result.baseline is None
    assert not key_result_baseline_compute(
        key_result=key_result, now=datetime(2026, 3, 31, 23, 59, tzinfo=BERLIN)
    )
    assert key_result_baseline_compute(
        key_result=key_result, now=datetime(2026, 4, 1, tzinfo=BERLIN)
    )
    key_result.refresh_from_db()
    assert key_result.baseline == pytest.approx(_expected_conversion(_signups(), AS_OF)[0])
    # Once set, never recomputed.
    assert not key_result_baseline_compute(
        key_result=key_result, now=datetime(2026, 4, 9, tzinfo=BERLIN)
    )


def test_computed_check_ins_are_one_per_day_and_track_the_latest_cohort(
    workspace, objective, activation_metric
):
    data = _signups()
    store(workspace, data)
    key_result = _create(objective, activation_metric)
    morning = datetime(2026, 4, 3, 9, tzinfo=BERLIN)
    key_result_check_in_compute(key_result=key_result, now=morning)
    late = Data()
    late.add("late", "signed_up", datetime(2026, 3, 5, 9, tzinfo=BERLIN))
    late.add("late", "activated", datetime(2026, 3, 6, 9, tzinfo=BERLIN))
    store(workspace, late)
    evening = datetime(2026, 4, 3, 21, tzinfo=BERLIN)
    check_in = key_result_check_in_compute(key_result=key_result, now=evening)
    assert CheckIn.objects.filter(key_result=key_result).count() == 1  # updated in place
    expected, units = _expected_conversion(Data(events=data.events + late.events), evening)
    assert (check_in.date, check_in.value, check_in.units) == (
        date(2026, 4, 3),
        pytest.approx(expected),
        units,
    )
    key_result_check_in_compute(key_result=key_result, now=evening + DAY)
    assert CheckIn.objects.filter(key_result=key_result).count() == 2
    # After the period, the check-in is the last day's.
    after = key_result_check_in_compute(
        key_result=key_result, now=datetime(2026, 7, 2, tzinfo=BERLIN)
    )
    assert after.date == date(2026, 6, 30)


def test_manual_check_ins_carry_confidence_and_feed_the_summary(
    workspace, objective, activation_metric, editor
):
    key_result = _create(
        objective, activation_metric, baseline=0.3, baseline_reason="From last quarter", target=0.5
    )
    for bad in (0, 11, True, "7"):
        with pytest.raises(ValidationFailed) as error:
            check_in_create(
                key_result=key_result, confidence=bad, now=datetime(2026, 5, 1, tzinfo=BERLIN)
            )
        assert (error.value.field, error.value.message) == ("confidence", CONFIDENCE_RANGE)
    with pytest.raises(ValidationFailed) as error:
        check_in_create(
            key_result=key_result,
            confidence=5,
            day=date(2026, 5, 2),
            now=datetime(2026, 5, 1, tzinfo=BERLIN),
        )
    assert error.value.field == "date"
    CheckIn.objects.create(
        key_result=key_result, date=date(2026, 5, 1), source="computed", value=0.35
    )
    check_in_create(
        key_result=key_result,
        confidence=4,
        comment="Onboarding fix slipped",
        now=datetime(2026, 5, 1, 18, tzinfo=BERLIN),
        actor=editor.user,
    )
    summary = key_result_summary(key_result=key_result, today=date(2026, 5, 1))
    assert summary.current == 0.35  # the manual check-in has no value: the computed one stands
    assert summary.progress == pytest.approx(0.25)
    assert summary.time_elapsed == pytest.approx(31 / 91)
    assert summary.status == "on_track"  # lags by 0.09
    assert (summary.confidence, summary.last_comment) == (4, "Onboarding fix slipped")
    check_in_create(
        key_result=key_result, confidence=3, value=0.31, now=datetime(2026, 5, 1, 19, tzinfo=BERLIN)
    )
    summary = key_result_summary(key_result=key_result, today=date(2026, 5, 20))
    assert summary.current == 0.31
    assert summary.status == "off_track"  # progress 0.05 vs 50/91 elapsed


# --- objectives, alignment, initiatives -----------------------------------------------------
def test_period_and_parent_rules(workspace, objective, other_workspace):
    with pytest.raises(ValidationFailed) as error:
        objective_create(
            workspace=workspace,
            title="x",
            period_start=date(2026, 5, 1),
            period_end=date(2026, 4, 1),
        )
    assert error.value.field == "period_end"
    child = objective_create(
        workspace=workspace, title="Child", quarter="2026-Q2", parent_id=objective.pk
    )
    grandchild = objective_create(
        workspace=workspace, title="Grandchild", quarter="2026-Q2", parent_id=child.pk
    )
    with pytest.raises(ValidationFailed) as error:
        objective_update(objective=objective, changes={"parent_id": grandchild.pk})
    assert (error.value.field, error.value.message) == ("parent", PARENT_CYCLE)
    foreign = objective_create(workspace=other_workspace, title="Theirs", quarter="2026-Q2")
    with pytest.raises(NotFound):
        objective_create(workspace=workspace, title="x", quarter="2026-Q2", parent_id=foreign.pk)
    with pytest.raises(ValidationFailed) as error:
        objective_create(workspace=workspace, title="x", quarter="2026-Q2", owner_id=10_000)
    assert error.value.field == "owner"


def test_initiatives_link_deliverables_to_key_results(
    workspace, objective, activation_metric, other_workspace, make_metric
):
    key_result = _create(objective, activation_metric, baseline=0.3, baseline_reason="r")
    with pytest.raises(ValidationFailed) as error:
        initiative_create(workspace=workspace, title="Ship offline mode", key_result_ids=[])
    assert (error.value.field, error.value.message) == ("key_results", INITIATIVE_NEEDS_KEY_RESULT)
    theirs = objective_create(workspace=other_workspace, title="Theirs", quarter="2026-Q2")
    foreign = key_result_create(
        objective=theirs,
        title="x",
        metric_key=make_metric(other_workspace, "m").key,
        target=1.0,
        baseline=0.5,
        baseline_reason="r",
    )
    with pytest.raises(NotFound):
        initiative_create(
            workspace=workspace,
            title="Ship offline mode",
            key_result_ids=[key_result.pk, foreign.pk],
        )
    initiative = initiative_create(
        workspace=workspace, title="Ship offline mode", key_result_ids=[key_result.pk]
    )
    detail = key_result_detail(key_result=key_result, today=date(2026, 5, 1))
    assert [i.pk for i in detail.initiatives] == [initiative.pk]


def test_the_tree_aligns_objectives_and_reports_the_worst_status(
    workspace, objective, activation_metric
):
    child = objective_create(
        workspace=workspace, title="Onboarding", quarter="2026-Q2", parent_id=objective.pk
    )
    good = _create(child, activation_metric, baseline=0.3, baseline_reason="r", target=0.5)
    bad = _create(child, activation_metric, baseline=0.3, baseline_reason="r", target=0.5)
    CheckIn.objects.create(key_result=good, date=date(2026, 5, 15), source="computed", value=0.4)
    CheckIn.objects.create(key_result=bad, date=date(2026, 5, 15), source="computed", value=0.3)
    tree = objective_tree(workspace=workspace, today=date(2026, 5, 15))
    assert [n.objective.title for n in tree] == ["New teams stick"]
    (node,) = tree[0].children
    assert [s.status for s in node.key_results] == ["on_track", "off_track"]
    assert node.status == "off_track"
    assert tree[0].status == "no_data"


def test_experiments_link_to_key_results_through_a_registered_provider(
    objective, activation_metric
):
    key_result = _create(objective, activation_metric, baseline=0.3, baseline_reason="r")

    def provider(kr):
        return [LinkedExperiment("onboarding-checklist", "Checklist", "concluded", "won", 0.066)]

    register_linked_experiments_provider(provider)
    try:
        detail = key_result_detail(key_result=key_result, today=date(2026, 5, 1))
    finally:
        linked_experiments_providers.remove(provider)
    assert [(e.key, e.outcome, e.estimated_impact) for e in detail.experiments] == [
        ("onboarding-checklist", "won", 0.066)
    ]


def test_measuring_needs_no_baseline_and_reports_units(workspace, objective, activation_metric):
    data = _signups()
    store(workspace, data)
    key_result = _create(objective, activation_metric)
    measured = key_result_measure(key_result=key_result, as_of=AS_OF)
    expected, units = _expected_conversion(data, AS_OF)
    assert (measured.value, measured.units) == (pytest.approx(expected), units)
