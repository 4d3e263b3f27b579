"""The calculator facade (the analyze request of DESIGN.md), its summaries and guardrails."""

import json
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.stats import (
    STATUS_MESSAGES,
    AnalysisRequest,
    AnalysisSettings,
    StatsInputError,
    SufficientStatistics,
    SummaryContext,
    VariantStatistics,
    analyze,
    analyze_batch,
    analyze_guardrails,
    describe_comparison,
)
from experiments.stats.messages import RATIO_FIELDS_ERROR, SRM_DETECTED_MESSAGE

CONTROL = VariantStatistics("control", 3407, 1396.87, 52377.9767)
TREATMENT = VariantStatistics("treatment", 3461, 2422.7, 134698.29)


def test_analyze_returns_the_documented_response_shape():
    response = analyze(AnalysisRequest(variants=(CONTROL, TREATMENT), difference="absolute"))
    body = json.loads(json.dumps(asdict(response)))
    assert set(body) == {"srm", "comparisons"}
    assert {"p_value", "flag"} <= set(body["srm"])
    comparison = body["comparisons"][0]
    expected_keys = {"variant", "effect", "ci_low", "ci_high", "p_value", "chance_to_win"}
    assert expected_keys | {"risk", "status", "message"} <= set(comparison)
    assert comparison["variant"] == "treatment"
    assert round(comparison["effect"], 5) == 0.29
    assert round(comparison["ci_low"], 5) == 0.04538
    assert round(comparison["p_value"], 5) == 0.02016
    assert comparison["chance_to_win"] is None
    assert comparison["status"] == "ok"


def test_analyze_flags_srm_with_the_kohavi_example():
    request = AnalysisRequest(
        metric_type="proportion",
        variants=(
            VariantStatistics("control", 821588, 80000),
            VariantStatistics("treatment", 815482, 81000),
        ),
    )
    srm = analyze(request).srm
    assert srm.flag is True
    assert srm.p_value == pytest.approx(1.8e-6, rel=0.02)
    assert srm.message == SRM_DETECTED_MESSAGE.format(p_value=srm.p_value)


def test_analyze_uses_configured_weights_for_srm():
    variants = (VariantStatistics("control", 1000, 100), VariantStatistics("treatment", 3000, 300))
    equal = analyze(AnalysisRequest(metric_type="proportion", variants=variants))
    weighted = analyze(AnalysisRequest(metric_type="proportion", variants=variants, weights=(1, 3)))
    assert equal.srm.flag is True
    assert weighted.srm.flag is False
    assert weighted.srm.p_value == pytest.approx(1.0)


def test_bayesian_analyze_fills_chance_to_win_and_risk_but_no_p_value():
    request = AnalysisRequest(
        metric_type="proportion",
        engine="bayesian",
        variants=(VariantStatistics("control", 100, 49), VariantStatistics("treatment", 100, 51)),
    )
    comparison = analyze(request).comparisons[0]
    assert comparison.p_value is None
    assert round(comparison.chance_to_win, 5) == 0.60918
    assert round(comparison.risk, 5) == 0.04058
    assert round(comparison.risk_control, 5) == 0.0814


def test_lower_is_better_flips_chance_to_win_and_risk():
    variants = (VariantStatistics("control", 100, 49), VariantStatistics("treatment", 100, 51))
    up = analyze(AnalysisRequest(metric_type="proportion", engine="bayesian", variants=variants))
    down = analyze(
        AnalysisRequest(
            metric_type="proportion", engine="bayesian", variants=variants, higher_is_better=False
        )
    )
    assert down.comparisons[0].chance_to_win == pytest.approx(1 - up.comparisons[0].chance_to_win)
    assert down.comparisons[0].risk == pytest.approx(up.comparisons[0].risk_control)


def test_sequential_analyze_reports_the_always_valid_interval():
    fixed = analyze(AnalysisRequest(variants=(CONTROL, TREATMENT))).comparisons[0]
    always_valid = analyze(
        AnalysisRequest(variants=(CONTROL, TREATMENT), sequential=True, sequential_tuning=1000)
    ).comparisons[0]
    assert always_valid.ci_low < fixed.ci_low
    assert always_valid.ci_high > fixed.ci_high
    assert always_valid.p_value >= fixed.p_value
    assert "always-valid" in always_valid.summary


def test_holm_correction_widens_the_interval_to_agree_with_the_adjusted_p_value():
    third = VariantStatistics("other", 3400, 1400.0, 52000.0)
    request = AnalysisRequest(variants=(CONTROL, TREATMENT, third), correction="holm")
    first = analyze(request).comparisons[0]
    assert first.p_value_unadjusted == pytest.approx(0.0619118, rel=1e-5)
    assert first.p_value == pytest.approx(2 * first.p_value_unadjusted)
    assert first.ci_level == pytest.approx(0.975)
    uncorrected = analyze(AnalysisRequest(variants=(CONTROL, TREATMENT, third))).comparisons[0]
    assert first.ci_low < uncorrected.ci_low


def test_ratio_request_needs_its_denominator_fields():
    with pytest.raises(StatsInputError) as raised:
        AnalysisRequest(metric_type="ratio", variants=(CONTROL, TREATMENT))
    assert raised.value.field == "variants[0].denominator_sum"
    assert raised.value.message == RATIO_FIELDS_ERROR


def test_ratio_request_is_analyzed_by_the_delta_method():
    variants = (
        VariantStatistics(
            "control", 1966, 94605.79858780127, 10463129.505392816, 936, 936, 94605.79858780127
        ),
        VariantStatistics(
            "treatment", 2034, 99673.9364269569, 11298745.182728939, 947, 947, 99673.9364269569
        ),
    )
    comparison = analyze(AnalysisRequest(metric_type="ratio", variants=variants)).comparisons[0]
    assert round(comparison.effect, 4) == 0.0413
    assert round(comparison.p_value, 5) == 0.00328


def test_degenerate_request_returns_statuses_with_null_numbers():
    request = AnalysisRequest(
        metric_type="proportion",
        variants=(VariantStatistics("control", 0, 0), VariantStatistics("treatment", 0, 0)),
    )
    response = analyze(request)
    body = json.loads(json.dumps(asdict(response), allow_nan=False))
    assert body["srm"]["p_value"] is None
    assert body["srm"]["flag"] is False
    assert body["comparisons"][0]["status"] == "insufficient_data"
    assert body["comparisons"][0]["effect"] is None


def test_frequentist_summary_reads_like_the_issue_example():
    context = SummaryContext(metric_name="revenue per user")
    text = describe_comparison(
        context,
        variant="Treatment",
        status="ok",
        effect=0.031,
        ci_low=0.008,
        ci_high=0.054,
        ci_level=0.95,
        p_value=0.008,
    )
    assert text == (
        "Treatment increased revenue per user by 3.1% (95% CI 0.8% to 5.4%); "
        "this is unlikely to be chance (p = 0.008). That is an improvement."
    )


def test_non_significant_summary_says_it_could_be_chance():
    text = describe_comparison(
        SummaryContext(metric_name="sign-ups", metric_type="proportion", difference="absolute"),
        variant="B",
        status="ok",
        effect=-0.004,
        ci_low=-0.01,
        ci_high=0.002,
        ci_level=0.95,
        p_value=0.21,
    )
    assert text == (
        "B decreased sign-ups by 0.4 percentage points (95% CI -1 pp to 0.2 pp); "
        "the interval includes no change, so this could be chance (p = 0.21)."
    )


def test_bayesian_summary_never_speaks_of_p_values_or_significance():
    text = describe_comparison(
        SummaryContext(metric_name="revenue", engine="bayesian"),
        variant="B",
        status="ok",
        effect=0.031,
        ci_low=0.008,
        ci_high=0.054,
        ci_level=0.95,
        chance_to_win=0.993,
        risk=0.0004,
    )
    assert "p =" not in text
    assert "p <" not in text
    assert "significan" not in text
    assert "chance" not in text
    assert "probability that B is better than control is 99.3%" in text
    assert "expected loss is 0.04%" in text


def test_frequentist_summary_never_calls_a_p_value_a_probability_of_winning():
    text = analyze(AnalysisRequest(variants=(CONTROL, TREATMENT))).comparisons[0].summary
    assert "probability" not in text
    assert "better than" not in text


def test_lower_is_better_summary_calls_a_significant_increase_a_regression():
    text = describe_comparison(
        SummaryContext(metric_name="page load time", higher_is_better=False),
        variant="B",
        status="ok",
        effect=0.05,
        ci_low=0.01,
        ci_high=0.09,
        ci_level=0.95,
        p_value=0.01,
    )
    assert text.endswith("Lower is better for this metric, so that is a regression.")


def test_summary_of_a_degenerate_comparison_explains_why():
    text = describe_comparison(
        SummaryContext(metric_name="revenue"),
        variant="B",
        status="insufficient_data",
        effect=None,
        ci_low=None,
        ci_high=None,
        ci_level=None,
    )
    assert text.startswith("B vs control on revenue: no result yet.")


def test_guardrail_flags_harm_in_the_bad_direction_only():
    # Treatment's rate is 1.5 points lower: harmful when higher is better, fine when lower is.
    stats = SufficientStatistics(
        n=[[10000, 10000]] * 2, sum=[[2000, 1850]] * 2, sum_squares=[[2000, 1850]] * 2
    )
    result = analyze_guardrails(
        stats,
        metric_type="proportion",
        higher_is_better=[True, False],
        settings=AnalysisSettings(difference="absolute"),
    )
    assert result.harmful[:, 0].tolist() == [True, False]
    assert result.harm[0, 0] == pytest.approx(0.015)
    assert result.harm[1, 0] == pytest.approx(-0.015)
    two_sided = analyze_batch(
        stats, metric_type="proportion", settings=AnalysisSettings(difference="absolute")
    )
    assert result.p_value[0, 0] == pytest.approx(two_sided.p_value[0, 0] / 2, rel=1e-9)
    assert result.harm_lower_bound[0, 0] > 0


def test_guardrail_margin_tolerates_small_harm():
    stats = SufficientStatistics(n=[10000, 10000], sum=[2000, 1850], sum_squares=[2000, 1850])
    settings = AnalysisSettings(difference="absolute")
    strict = analyze_guardrails(stats, metric_type="proportion", settings=settings)
    tolerant = analyze_guardrails(stats, metric_type="proportion", settings=settings, margin=0.02)
    assert bool(strict.harmful[0]) is True
    assert bool(tolerant.harmful[0]) is False


def test_sequential_guardrail_is_more_conservative_than_fixed():
    stats = SufficientStatistics(n=[10000, 10000], sum=[2000, 1900], sum_squares=[2000, 1900])
    fixed = analyze_guardrails(
        stats, metric_type="proportion", settings=AnalysisSettings(difference="absolute")
    )
    sequential = analyze_guardrails(
        stats,
        metric_type="proportion",
        settings=AnalysisSettings(difference="absolute", sequential=True),
    )
    assert sequential.p_value[0] > fixed.p_value[0]
    assert sequential.harm_lower_bound[0] < fixed.harm_lower_bound[0]
    assert np.isfinite(sequential.p_value[0])


def test_request_accepts_variants_as_json_mappings():
    request = AnalysisRequest(
        metric_type="proportion",
        variants=[
            {"key": "control", "n": 1000, "sum": 120, "sum_squares": 120},
            {"key": "treatment", "n": 1000, "sum": 150, "sum_squares": 150},
        ],
    )
    assert request.variants[1] == VariantStatistics("treatment", 1000, 150, 150)
    assert analyze(request).comparisons[0].status == "ok"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"weights": (1, 2, 3)}, "weights"),
        ({"weights": (1, 0)}, "weights"),
        ({"srm_threshold": 0}, "srm_threshold"),
        ({"metric_type": "median"}, "metric_type"),
        ({"engine": "magic"}, "engine"),
        ({"prior_variance": -1, "proper_prior": True}, "prior_variance"),
    ],
)
def test_invalid_requests_raise_an_error_naming_the_field(kwargs, field):
    with pytest.raises(StatsInputError) as raised:
        AnalysisRequest(variants=(CONTROL, TREATMENT), **kwargs)
    assert raised.value.field == field


_finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 2.0, 1e308, -1e308, 5e-324]),
)
_count = st.one_of(st.floats(0, 1e308), st.sampled_from([0.0, 1.0, 2.0, 3.0, 1e308]))
_json_variant = st.fixed_dictionaries(
    {
        "key": st.just("v"),
        "n": _count,
        "sum": _finite,
        "sum_squares": _finite,
        "denominator_sum": _finite,
        "denominator_sum_squares": _finite,
        "sum_product": _finite,
    }
)
_json_options = st.fixed_dictionaries(
    {
        "metric_type": st.sampled_from(["proportion", "mean", "ratio"]),
        "engine": st.sampled_from(["frequentist", "bayesian"]),
        "difference": st.sampled_from(["absolute", "relative"]),
        "alternative": st.sampled_from(["two_sided", "greater", "less"]),
        "sequential": st.booleans(),
        "sequential_tuning": st.sampled_from([1.0, 5000.0, 1e300, 1e-300]),
        "correction": st.sampled_from(["none", "holm", "bh"]),
        "alpha": st.sampled_from([1e-300, 0.05, 0.5, 0.999999]),
        "higher_is_better": st.booleans(),
    }
)


@pytest.mark.filterwarnings("error")  # an overflow warning is a bug too: results must be clean
@settings(max_examples=300, deadline=None, derandomize=True)
@given(variants=st.lists(_json_variant, min_size=2, max_size=4), options=_json_options)
def test_any_finite_request_gives_strict_json_without_warnings(variants, options):
    """Whatever finite numbers the API lets through, the response is valid JSON (no NaN or
    infinity), every non-ok comparison explains itself, and every ok one has its numbers."""
    request = AnalysisRequest(variants=tuple(variants), **options)
    body = json.loads(json.dumps(asdict(analyze(request)), allow_nan=False))
    assert body["srm"]["message"]
    for comparison in body["comparisons"]:
        assert comparison["summary"]
        if comparison["status"] == "ok":
            assert comparison["effect"] is not None
            assert comparison["ci_low"] is not None or comparison["ci_high"] is not None
            filled = "p_value" if options["engine"] == "frequentist" else "chance_to_win"
            assert 0 <= comparison[filled] <= 1
        else:
            assert comparison["message"] == STATUS_MESSAGES[comparison["status"]]
