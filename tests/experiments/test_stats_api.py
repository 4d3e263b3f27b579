"""The statistics calculator over HTTP, checked against scipy and the published vectors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from scipy import stats

pytestmark = pytest.mark.django_db

ANALYZE = "/api/v1/stats/analyze"
POWER = "/api/v1/stats/power"

# GrowthBook gbstats' published means example (absolute: 0.29, CI (0.04538, 0.53462), p 0.02016).
CONTROL = {"key": "control", "n": 3407, "sum": 1396.87, "sum_squares": 52377.9767}
TREATMENT = {"key": "treatment", "n": 3461, "sum": 2422.7, "sum_squares": 134698.29}


def test_absolute_mean_difference_matches_gbstats_and_scipy(viewer):
    body = viewer.client.post(
        ANALYZE,
        {"metric_type": "mean", "difference": "absolute", "variants": [CONTROL, TREATMENT]},
        format="json",
    ).json()

    comparison = body["comparisons"][0]
    assert comparison["variant"] == "treatment"
    assert round(comparison["effect"], 5) == 0.29
    assert round(comparison["ci_low"], 5) == 0.04538
    assert round(comparison["ci_high"], 5) == 0.53462
    assert round(comparison["p_value"], 5) == 0.02016
    mean_c, mean_t = 1396.87 / 3407, 2422.7 / 3461
    var_c = (52377.9767 - 3407 * mean_c**2) / 3406
    var_t = (134698.29 - 3461 * mean_t**2) / 3460
    reference = stats.ttest_ind_from_stats(
        mean_t, var_t**0.5, 3461, mean_c, var_c**0.5, 3407, equal_var=False
    )
    assert comparison["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert comparison["status"] == "ok"
    assert comparison["summary"]


def test_relative_lift_matches_gbstats(viewer):
    body = viewer.client.post(
        ANALYZE, {"metric_type": "mean", "variants": [CONTROL, TREATMENT]}, format="json"
    ).json()

    comparison = body["comparisons"][0]
    assert round(comparison["effect"], 5) == 0.70732
    assert (round(comparison["ci_low"], 5), round(comparison["ci_high"], 5)) == (-0.03526, 1.44989)
    assert round(comparison["p_value"], 5) == 0.06191


def test_srm_flags_the_kohavi_example(viewer):
    body = viewer.client.post(
        ANALYZE,
        {
            "metric_type": "proportion",
            "variants": [
                {"key": "control", "n": 821588, "sum": 80000},
                {"key": "treatment", "n": 815482, "sum": 80000},
            ],
        },
        format="json",
    ).json()

    assert body["srm"]["flag"] is True
    assert body["srm"]["p_value"] == pytest.approx(1.8e-6, rel=0.05)


def test_bayesian_fills_chance_to_win_and_risk_not_p(viewer):
    body = viewer.client.post(
        ANALYZE,
        {"metric_type": "proportion", "engine": "bayesian", "variants": [
            {"key": "control", "n": 1000, "sum": 100}, {"key": "b", "n": 1000, "sum": 130}
        ]},
        format="json",
    ).json()

    comparison = body["comparisons"][0]
    assert comparison["p_value"] is None
    assert 0.9 < comparison["chance_to_win"] < 1
    assert comparison["risk"] >= 0
    assert "p-value" not in comparison["summary"].lower()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"metric_type": "median", "variants": [CONTROL, TREATMENT]}, "metric_type"),
        ({"metric_type": "mean", "variants": [CONTROL]}, "variants"),
        ({"metric_type": "mean", "variants": [CONTROL, {"key": "t", "n": "many", "sum": 1}]}, "variants.1.n"),
        ({"metric_type": "ratio", "variants": [CONTROL, TREATMENT]}, "variants.0.denominator_sum"),
        ({"metric_type": "mean", "variants": [CONTROL, TREATMENT], "weights": [1]}, "weights"),
        ({"metric_type": "mean", "variants": [CONTROL, TREATMENT], "bogus": 1}, "bogus"),
    ],
)
def test_bad_calculator_input_is_a_400_naming_the_field(viewer, payload, field):
    response = viewer.client.post(ANALYZE, payload, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()


def test_power_gives_sample_size_and_duration(viewer):
    body = viewer.client.post(
        POWER,
        {"baseline_rate": 0.1, "mde": 0.1, "alpha": 0.05, "power": 0.8, "daily_traffic": 1000},
        format="json",
    ).json()

    # Two-sided z approximation: n = (z_a/2 + z_b)^2 * 2 p(1-p) / delta^2 for delta = 0.01.
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    expected = z**2 * 2 * 0.1 * 0.9 / 0.01**2
    assert body["sample_size_per_variant"] == pytest.approx(expected, rel=0.02)
    assert body["duration_days"] == pytest.approx(2 * expected / 1000, abs=1.5)


def test_power_needs_mde_or_size(viewer):
    response = viewer.client.post(POWER, {"baseline_rate": 0.1}, format="json")

    assert response.status_code == 400
    assert "mde" in response.json()["errors"]


def test_calculator_needs_a_token():
    assert APIClient().post(ANALYZE, {}, format="json").status_code in (401, 403)
