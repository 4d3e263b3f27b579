"""Health checks on every snapshot: SRM per phase, multiple exposures, guardrails, power."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scipy import special, stats

from experiments.models import AlertKind, Exposure, Notification, Phase
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import VariantSpec, experiment_update
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    T0,
    generate,
    metric_entry,
    planted_experiment,
    write,
)

pytestmark = pytest.mark.django_db


def _snapshot(experiment, cutoff=CUTOFF):
    computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
    return snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)


def _kinds(workspace) -> list[str]:
    return sorted(Notification.objects.filter(workspace=workspace).values_list("kind", flat=True))


def test_skewed_exposures_raise_srm_once_per_phase(workspace):
    data = generate(units_per_variant=(4000, 4400), activation_lift=0.0)
    experiment = planted_experiment(workspace, data)

    first = _snapshot(experiment)
    _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=1))

    srm = first.health["srm"]
    expected = stats.chisquare([4000, 4400], [4200, 4200])
    assert srm["flag"] is True
    assert srm["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert srm["counts"] == {"control": 4000, "treatment": 4400}
    assert first.health["banners"][0]["check"] == "srm"
    assert "Sample ratio mismatch in phase 1" in first.health["banners"][0]["message"]
    assert first.outputs["verdict"].startswith("Do not act on these results")
    assert _kinds(workspace) == [AlertKind.SRM]  # two analyses, one notification


def test_balanced_exposures_raise_no_srm(workspace):
    experiment = planted_experiment(workspace, generate(units_per_variant=(4000, 4050)))

    health = _snapshot(experiment).health

    assert health["srm"]["flag"] is False
    assert health["srm"]["p_value"] == pytest.approx(stats.chisquare([4000, 4050]).pvalue, rel=1e-9)
    assert [b["check"] for b in health["banners"]] == []


def test_srm_is_checked_per_phase_against_that_phases_weights(workspace):
    data = generate(units_per_variant=(3000, 3000), seed=5)
    experiment = planted_experiment(workspace, data)
    # The team moves to a 20/80 split: a new phase, whose units follow the new weights.
    experiment_update(
        experiment=experiment,
        changes={
            "variants": (
                VariantSpec("control", 0.2, is_control=True),
                VariantSpec("treatment", 0.8),
            )
        },
        actor=None,
        phase_reason="ramp up",
    )
    Phase.objects.filter(experiment=experiment, number=2).update(started_at=T0)
    later = generate(units_per_variant=(1000, 4000), seed=6)
    later.unit = [f"p2-{u}" for u in later.unit]
    write(experiment, later)

    health = _snapshot(experiment).health

    by_phase = {p["phase"]: p for p in health["srm_phases"]}
    assert by_phase[2]["counts"] == {"control": 1000, "treatment": 4000}
    assert by_phase[2]["flag"] is False
    assert by_phase[1]["flag"] is False
    assert health["srm"]["phase"] == 2
    # Pooled against either phase's weights, the same counts would look broken.
    assert stats.chisquare([4000, 7000], [5500, 5500]).pvalue < 0.001


def test_multiple_exposures_above_the_threshold_warn(workspace):
    data = generate(units_per_variant=(2000, 2000))
    experiment = planted_experiment(workspace, data, key="multi")
    experiment.multiple_exposure_threshold = 0.02
    experiment.save(update_fields=["multiple_exposure_threshold"])
    excluded = list(
        Exposure.objects.filter(experiment=experiment).order_by("id").values_list("id", flat=True)
    )[:100]
    Exposure.objects.filter(id__in=excluded).update(excluded=True)

    snapshot = _snapshot(experiment)

    multiple = snapshot.health["multiple_exposures"]
    assert (multiple["units"], multiple["excluded_units"]) == (4000, 100)
    assert multiple["share"] == pytest.approx(0.025)
    assert multiple["warn"] is True
    assert "2.5% of the units exposed in phase 1" in snapshot.health["banners"][0]["message"]
    # Excluded units are left out of the analysis.
    activated = metric_entry(snapshot.outputs, "multi-activated")
    assert sum(v["units"] for v in activated["variants"]) == 3900
    assert AlertKind.MULTIPLE_EXPOSURES in _kinds(workspace)


def test_a_harmed_guardrail_is_flagged_and_alerted(workspace):
    data = generate(units_per_variant=(4000, 4000), unsubscribe_lift=0.8, seed=9)
    experiment = planted_experiment(workspace, data)

    snapshot = _snapshot(experiment)

    (result,) = snapshot.health["guardrails"]["results"]
    c, t = (data.unsubscribed[data.mask(v)].astype(float) for v in ("control", "treatment"))
    assert result["harm"] == pytest.approx(t.mean() / c.mean() - 1, rel=1e-9)
    assert result["harmful"] is True
    assert result["p_value"] < 0.05
    assert snapshot.health["guardrails"]["harmful"] is True
    assert any(b["check"] == "guardrail" for b in snapshot.health["banners"])
    assert "harms the guardrail 7-day unsubscribes" in snapshot.outputs["verdict"]
    notification = Notification.objects.get(kind=AlertKind.GUARDRAIL_HARM)
    assert notification.title == "treatment harms 7-day unsubscribes in Onboarding"
    assert notification.payload["metric"] == "onboarding-unsubscribed"


def test_an_unharmed_guardrail_is_not_flagged(workspace):
    data = generate(units_per_variant=(4000, 4000), unsubscribe_lift=0.0)
    snapshot = _snapshot(planted_experiment(workspace, data))

    assert snapshot.health["guardrails"]["harmful"] is False
    assert "No guardrail shows harm." in snapshot.outputs["verdict"]


def test_significance_alerts_wait_for_the_minimum_days_and_units(workspace):
    data = generate(units_per_variant=(4000, 4000))
    experiment = planted_experiment(workspace, data, min_days_for_alerts=30)

    _snapshot(experiment)  # 18 days into the phase: significant, but too early to say so
    assert AlertKind.SIGNIFICANT_RESULT not in _kinds(workspace)

    experiment.min_days_for_alerts = 3
    experiment.min_units_for_alerts = 5000
    experiment.save()
    _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=1))  # too few units per variant
    assert AlertKind.SIGNIFICANT_RESULT not in _kinds(workspace)

    experiment.min_units_for_alerts = 200
    experiment.save()
    _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=2))
    _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=3))

    wins = Notification.objects.filter(kind=AlertKind.SIGNIFICANT_RESULT)
    assert [n.title for n in wins] == ["treatment is winning on 7-day activation in Onboarding"]
    assert "unlikely to be chance" in wins[0].body


def test_too_little_data_for_the_planned_mde_is_reported(workspace):
    data = generate(units_per_variant=(4000, 4000))
    experiment = planted_experiment(workspace, data, planned_mde=0.05)

    snapshot = _snapshot(experiment)

    power = snapshot.health["power"]
    (lift,) = metric_entry(snapshot.outputs, "onboarding-activated")["comparisons"]
    half_width = (lift["ci_high"] - lift["ci_low"]) / 2
    expected = half_width + special.ndtri(0.8) * lift["standard_error"]
    assert power["detectable_effect"] == pytest.approx(expected, rel=1e-9)
    assert power["detectable_effect"] > 0.05
    assert power["too_little_data"] is True
    # The banner says "keep collecting", which a decisive primary result contradicts (issue 13).
    decisive = lift["verdict"] in ("win", "loss")
    assert any(b["check"] == "power" for b in snapshot.health["banners"]) is not decisive

    experiment.planned_mde = 0.5
    experiment.save()
    assert (
        _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=1)).health["power"]["too_little_data"]
        is False
    )


def test_no_effect_with_a_narrow_interval_is_called_flat(workspace):
    data = generate(units_per_variant=(4000, 4000), activation_lift=0.0, seed=21)
    experiment = planted_experiment(workspace, data, planned_mde=0.5)

    (lift,) = metric_entry(_snapshot(experiment).outputs, "onboarding-activated")["comparisons"]

    assert lift["significant"] is False
    assert -0.5 < lift["ci_low"] < 0 < lift["ci_high"] < 0.5
    assert lift["verdict"] == "flat"
    assert (
        "perform the same"
        in _snapshot(experiment, cutoff=CUTOFF + timedelta(hours=1)).outputs["verdict"]
    )
