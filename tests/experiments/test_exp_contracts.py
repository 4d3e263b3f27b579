"""Snapshot outputs and health as typed contracts: stored JSON loads, old snapshots included."""

from __future__ import annotations

import pytest

from experiments.contracts import AnalysisOutputs, Health

# Outputs and health as stored before experiments.contracts existed (a frequentist snapshot
# with one time-to-event metric, copied from a stored ResultSnapshot).
STORED_OUTPUTS = {
    "engine": "frequentist",
    "difference": "relative",
    "alpha": 0.05,
    "sequential": False,
    "correction": "holm",
    "control": "control",
    "variants": ["control", "treatment"],
    "metrics": [
        {
            "key": "hours-to-activation",
            "name": "Hours to activation",
            "type": "time_to_event",
            "metric_type": "mean",
            "role": "primary",
            "tags": ["activation"],
            "direction": "down",
            "segment": None,
            "variants": [
                {
                    "variant": "control",
                    "units": 4000,
                    "immature_units": 12,
                    "n": 3100,
                    "value": 30.5,
                    "never_reached_share": 0.225,
                },
                {
                    "variant": "treatment",
                    "units": 4010,
                    "immature_units": 9,
                    "n": 3300,
                    "value": 27.25,
                    "never_reached_share": 0.17705735660847881,
                },
            ],
            "comparisons": [
                {
                    "variant": "treatment",
                    "status": "ok",
                    "message": "",
                    "effect": -0.10655737704918034,
                    "ci_low": -0.15,
                    "ci_high": -0.06,
                    "ci_level": 0.95,
                    "p_value": 0.0004,
                    "p_value_unadjusted": 0.0002,
                    "chance_to_win": None,
                    "risk": None,
                    "standard_error": 0.023,
                    "absolute_effect": -3.25,
                    "absolute_ci_low": -4.6,
                    "absolute_ci_high": -1.9,
                    "control_mean": 30.5,
                    "variant_mean": 27.25,
                    "variance_reduction": None,
                    "significant": True,
                    "verdict": "win",
                    "summary": "treatment lowers hours to activation by 10.7%.",
                }
            ],
            "summary": "treatment lowers hours to activation by 10.7%.",
        }
    ],
    "segments": [],
    "skipped_metrics": [{"key": "revenue", "reason": "No events yet."}],
    "verdict": "treatment is better than control on the primary metric.",
}
STORED_HEALTH = {
    "srm": {
        "phase": 1,
        "counts": {"control": 4000, "treatment": 4010},
        "weights": {"control": 0.5, "treatment": 0.5},
        "p_value": 0.911,
        "flag": False,
        "status": "ok",
        "threshold": 0.001,
    },
    "srm_phases": [
        {
            "phase": 1,
            "counts": {"control": 4000, "treatment": 4010},
            "weights": {"control": 0.5, "treatment": 0.5},
            "p_value": 0.911,
            "flag": False,
            "status": "ok",
            "threshold": 0.001,
        }
    ],
    "multiple_exposures": {
        "phase": 1,
        "units": 8030,
        "excluded_units": 20,
        "share": 0.0024906600249066002,
        "threshold": 0.01,
        "warn": False,
    },
    "guardrails": {"harmful": False, "results": []},
    "power": {
        "metric": "hours-to-activation",
        "planned_mde": 0.05,
        "detectable_effect": 0.0654,
        "units_per_variant": 3100,
        "planned_sample_size_per_variant": 5000,
        "progress": 0.62,
        "too_little_data": True,
    },
    "banners": [{"check": "power", "level": "info", "message": "Keep collecting data."}],
}


def test_a_stored_snapshot_round_trips_unchanged():
    assert AnalysisOutputs.from_json(STORED_OUTPUTS).to_json() == STORED_OUTPUTS
    assert Health.from_json(STORED_HEALTH).to_json() == STORED_HEALTH


def test_stored_outputs_read_by_attribute():
    outputs = AnalysisOutputs.from_json(STORED_OUTPUTS)

    primary = outputs.primary
    assert primary is not None
    assert primary.higher_is_better is False
    assert primary.smallest_n == 3100
    assert primary.variants[1].never_reached_share == pytest.approx(0.17705735660847881)
    (comparison,) = primary.comparisons
    assert comparison.effect == pytest.approx(-0.10655737704918034)
    assert comparison.verdict == "win"
    assert comparison.significant is True
    assert outputs.skipped_metrics[0].reason == "No events yet."


def test_a_snapshot_stored_before_newer_fields_still_loads():
    """Older snapshots lack keys added since (verdict, significant, absolute effects, the
    never-reached share, power and guardrail checks): they load with "unknown" values."""
    old_comparison = {
        "variant": "treatment",
        "status": "ok",
        "effect": 0.04,
        "ci_low": 0.01,
        "ci_high": 0.07,
        "p_value": 0.01,
        "summary": "better",
    }
    old_metric = {
        "key": "activated",
        "name": "Activated",
        "role": "primary",
        "variants": [
            {"variant": "control", "units": 10, "n": 10, "value": 0.3},
            {"variant": "treatment", "units": 11, "n": 11, "value": 0.31},
        ],
        "comparisons": [old_comparison],
    }
    outputs = AnalysisOutputs.from_json({"metrics": [old_metric]})
    health = Health.from_json({"srm": {"phase": 1, "counts": {"control": 10}, "flag": True}})

    (comparison,) = outputs.metrics[0].comparisons
    assert comparison.effect == 0.04
    assert comparison.absolute_effect is None
    assert comparison.verdict == "inconclusive"
    assert comparison.significant is False
    assert outputs.metrics[0].variants[0].tracks_reaching is False
    assert outputs.verdict == ""
    assert health.srm_flag is True
    assert health.guardrails is None
    assert health.power is None
    assert "never_reached_share" not in outputs.to_json()["metrics"][0]["variants"][0]
