"""Analyses a team can act on: exposures merged at refresh time, maturity of new experiments,
cumulative lift by day of first exposure, and the decision line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from experiments.models import Experiment, Exposure
from experiments.result_selectors import experiment_results
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.exposures import EXPOSURE_EVENT
from experiments.services.lifecycle import experiment_conclude
from experiments.stats.summaries import format_p_value
from plg_platform.services.ingestion import events_ingest, from_epoch_us, to_epoch_us
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    DAY_US,
    T0,
    generate,
    planted_experiment,
)

pytestmark = pytest.mark.django_db


def test_a_refresh_right_after_exposures_arrive_analyses_them(workspace):
    """$exposure events received seconds ago are merged before the analysis (not 120 s later),
    and the sync watermark still stops at the settled events."""
    data = generate(units_per_variant=(3, 2))
    experiment = planted_experiment(workspace, data, write_data=False)
    now = timezone.now()
    experiment.phases.update(started_at=now - timedelta(days=1))
    variants = ["control", "control", "control", "treatment", "treatment"]
    events_ingest(
        workspace=workspace,
        raw_events=[
            {
                "event": EXPOSURE_EVENT,
                "distinct_id": f"fresh-{i}",
                "timestamp": (now - timedelta(minutes=5)).isoformat(),
                "properties": {"experiment": experiment.key, "variant": variant},
            }
            for i, variant in enumerate(variants)
        ],
    )

    computed = experiment_analyze(experiment=experiment, cutoff=now + timedelta(seconds=1))

    assert Exposure.objects.filter(experiment=experiment).count() == 5
    primary = computed.outputs.primary
    assert primary is not None
    exposed = {v.variant: v.units + v.immature_units for v in primary.variants}
    assert exposed == {"control": 3, "treatment": 2}
    # The watermark did not pass events that may still be settling.
    assert Experiment.objects.get(pk=experiment.pk).exposures_synced_through_event_id == 0


def _store(experiment, cutoff):
    computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
    return snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)


def test_a_clear_win_decides_ship_and_no_banner_says_keep_collecting(workspace):
    """The planted +30% lift is decisive, though the data cannot yet detect the planned 5%:
    the decision is "ship", with the lift and p-value, and no "keep collecting" banner."""
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(workspace, data, planned_mde=0.05)

    _store(experiment, CUTOFF)
    results = experiment_results(experiment=experiment)

    primary = next(m for m in results.metrics if m.role == "primary")
    (comparison,) = primary.comparisons
    assert comparison.verdict == "win"
    assert results.health.power.too_little_data  # the check still says so, as a fact
    assert [b.check for b in results.banners if b.check == "power"] == []
    assert results.decision.action == "ship"
    assert results.decision.label == "Ship"
    assert f"{comparison.effect * 100:+.1f}%" in results.decision.reason
    assert format_p_value(comparison.p_value) + " (Holm-adjusted)" in results.decision.reason


def test_a_sample_ratio_mismatch_makes_the_decision_inconclusive(workspace):
    data = generate(units_per_variant=(1500, 1100), seed=3)
    experiment = planted_experiment(workspace, data)

    _store(experiment, CUTOFF)
    results = experiment_results(experiment=experiment)

    assert results.health.srm.flag
    assert results.decision.action == "inconclusive"
    assert f"p = {results.health.srm.p_value:.2g}" in results.decision.reason


def test_an_underpowered_flat_result_says_keep_running_then_inconclusive_once_concluded(
    workspace,
):
    data = generate(units_per_variant=(300, 300), activation_lift=0.0, seed=5)
    experiment = planted_experiment(workspace, data, planned_mde=0.05)
    _store(experiment, CUTOFF)

    running = experiment_results(experiment=experiment)
    assert running.decision.action == "keep_running"
    assert "keep collecting" in running.decision.reason
    assert "not enough evidence yet" in running.verdict

    experiment_conclude(experiment=experiment, decision="rollback", rationale="Flat.", actor=None)
    concluded = experiment_results(experiment=Experiment.objects.get(pk=experiment.pk))
    assert concluded.finished
    assert concluded.decision.action == "inconclusive"
    assert "yet" not in concluded.verdict
    assert "yet" not in concluded.decision.reason
    assert [b for b in concluded.banners if b.check == "power"] == []


def test_new_experiments_report_units_exposed_matured_and_when_the_first_result_is_ready(
    workspace,
):
    """Two days in, with a 7-day metric: every unit is exposed, none matured, and the first
    result is ready 7 days after the first exposure; the counts match a brute-force count."""
    data = generate(units_per_variant=(400, 400))
    experiment = planted_experiment(workspace, data)
    cutoff = T0 + timedelta(days=2)

    _store(experiment, cutoff)
    results = experiment_results(experiment=experiment)

    cutoff_us = to_epoch_us(cutoff)
    exposed = int((data.exposed_us < cutoff_us).sum())  # exposures exist up to day 10
    maturity = results.maturity
    assert maturity.units_exposed == len(data.unit)  # the phase's exposures, as stored
    assert maturity.units_matured == int((data.exposed_us + 7 * DAY_US <= cutoff_us).sum()) == 0
    first = int(data.exposed_us.min())
    assert maturity.first_exposed_at == from_epoch_us(first)
    assert maturity.first_result_at == from_epoch_us(first + 7 * DAY_US)
    assert maturity.all_matured_at == from_epoch_us(int(data.exposed_us.max()) + 7 * DAY_US)
    assert results.decision.action == "keep_running"
    assert exposed > 0

    later = CUTOFF
    _store(experiment, later)
    grown = experiment_results(experiment=experiment).maturity
    assert grown.units_matured == int((data.exposed_us + 7 * DAY_US <= to_epoch_us(later)).sum())


def test_before_any_analysis_maturity_is_counted_live(workspace):
    data = generate(units_per_variant=(50, 50))
    experiment = planted_experiment(workspace, data)

    results = experiment_results(experiment=experiment)

    assert results.snapshot_id is None
    assert results.maturity.units_exposed == 100
    assert results.maturity.units_matured == 100  # planted in January 2026: long matured


def test_lift_over_time_is_the_cumulative_lift_by_day_of_first_exposure(workspace):
    """One point per day of first exposure, from the same statement as the headline: the
    relative lift of the 7-day activation among units first exposed up to that day (matured
    by the cut-off), brute-forced from the planted arrays."""
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(workspace, data, cuped=False)

    with CaptureQueriesContext(connection) as queries:
        computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    metric_statements = [q for q in queries.captured_queries if "per_unit" in q["sql"]]
    assert len(metric_statements) == 1  # no pass over history, no second statement

    points = [
        p
        for p in computed.outputs.cumulative
        if (p.metric, p.variant) == ("onboarding-activated", "treatment")
    ]
    exposed_day = data.exposed_us // DAY_US
    days = sorted(set(exposed_day.tolist()))
    assert [p.day for p in points] == [
        (T0.date() + timedelta(days=int(d - days[0]))).isoformat() for d in days
    ]
    matured = data.exposed_us + 7 * DAY_US <= to_epoch_us(CUTOFF)
    for point, day in zip(points, days, strict=True):
        upto = exposed_day <= day
        rates = [data.activated[upto & matured & data.mask(v)].mean() for v in data.variants]
        assert point.effect == pytest.approx(rates[1] / rates[0] - 1, rel=1e-9)
        assert point.units_exposed == int(upto.sum())
        assert point.units_matured == int((upto & matured).sum())
        assert point.exposed_on_day == int((exposed_day == day).sum())
    headline = computed.outputs.primary.comparisons[0]
    assert points[-1].effect == pytest.approx(headline.effect, rel=1e-12)
    assert (points[-1].ci_low, points[-1].ci_high) == pytest.approx(
        (headline.ci_low, headline.ci_high), rel=1e-12
    )
