"""The statistics calculator's quantile input: per variant n, the sample quantile and its band's
order statistics, compared as docs/statistics.md ("Quantile metrics") says, checked against the
formula written out here with scipy; small samples are a 200 with a status, bad input a 400
naming the field, and the schema documents the fields."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

pytestmark = pytest.mark.django_db

ANALYZE = "/api/v1/stats/analyze"
Z = 1.959963984540054
LEVEL = 0.9


def _summary(key: str, values: np.ndarray, level: float = LEVEL) -> dict:
    """What a team would send: n, numpy's linear quantile and the band at n* = n."""
    n = values.size
    half = Z * np.sqrt(level * (1 - level) / n)
    quantile, lower, upper = np.quantile(values, [level, level - half, level + half])
    return {"key": key, "n": n, "quantile": quantile, "lower": lower, "upper": upper}


def _variance(v: dict) -> float:
    """Var(ξ̂) = (n*/n)·((n − 1)/n)·((U − L)/(2z))², n* = n unless given."""
    n, n_star = v["n"], v.get("n_star", v["n"])
    return (n_star / n) * ((n - 1) / n) * ((v["upper"] - v["lower"]) / (2 * Z)) ** 2


@pytest.fixture(scope="module")
def arms() -> list[dict]:
    rng = np.random.default_rng(20261205)
    return [
        _summary("control", rng.lognormal(0.0, 1.0, 1500)),
        _summary("treatment", rng.lognormal(0.15, 1.0, 1400)),
    ]


def _post(actor, payload: dict):
    return actor.client.post(ANALYZE, payload, format="json")


def test_the_difference_in_quantiles_is_the_order_statistic_formula(viewer, arms):
    response = _post(
        viewer,
        {
            "metric_type": "quantile",
            "quantile_level": LEVEL,
            "difference": "absolute",
            "variants": arms,
        },
    )

    assert response.status_code == 200, response.json()
    (comparison,) = response.json()["comparisons"]
    control, treatment = arms
    va, vb = _variance(control), _variance(treatment)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (control["n"] - 1) + vb**2 / (treatment["n"] - 1))
    effect = treatment["quantile"] - control["quantile"]
    t = stats.t.ppf(0.975, df)
    assert comparison["status"] == "ok"
    assert comparison["effect"] == pytest.approx(effect, rel=1e-9)
    assert comparison["ci_low"] == pytest.approx(effect - t * se, rel=1e-9)
    assert comparison["ci_high"] == pytest.approx(effect + t * se, rel=1e-9)
    assert comparison["p_value"] == pytest.approx(2 * stats.t.sf(abs(effect) / se, df), rel=1e-6)
    assert comparison["control_mean"] == pytest.approx(control["quantile"], rel=1e-12)
    assert comparison["variant_mean"] == pytest.approx(treatment["quantile"], rel=1e-12)


def test_relative_lift_and_a_smaller_band_sample(viewer, arms):
    control, treatment = ({**v, "n_star": 1024} for v in arms)
    # The band of n* = 1024 values is √(n/n*) wider than at n; the variance scales it back.
    body = _post(
        viewer,
        {"metric_type": "quantile", "quantile_level": LEVEL, "variants": [control, treatment]},
    ).json()
    (comparison,) = body["comparisons"]
    ratio = treatment["quantile"] / control["quantile"]
    va, vb = _variance(control), _variance(treatment)
    se = np.sqrt(vb / control["quantile"] ** 2 + ratio**2 * va / control["quantile"] ** 2)
    assert comparison["effect"] == pytest.approx(ratio - 1, rel=1e-9)
    half = (comparison["ci_high"] - comparison["ci_low"]) / 2
    assert half == pytest.approx(1.96 * se, rel=0.01)  # Welch's t with ~2,800 df ≈ z
    assert body["srm"]["status"] == "ok"


def test_too_few_values_is_a_status_not_an_error(viewer, arms):
    rng = np.random.default_rng(3)
    small = _summary("treatment", rng.lognormal(0, 1, 60))
    body = _post(
        viewer,
        {"metric_type": "quantile", "quantile_level": LEVEL, "variants": [arms[0], small]},
    ).json()
    (comparison,) = body["comparisons"]
    assert comparison["status"] == "quantile_too_few_units"
    assert comparison["effect"] is None
    assert comparison["ci_low"] is None
    assert "100" in comparison["message"]


def _variants(**changes) -> list[dict]:
    base = {"key": "control", "n": 500, "quantile": 10.0, "lower": 9.0, "upper": 11.5}
    treatment = {**base, "key": "treatment", **changes}
    return [base, {k: v for k, v in treatment.items() if v is not None}]


QUANTILE = {"metric_type": "quantile", "quantile_level": 0.5}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"metric_type": "quantile", "variants": _variants()}, "quantile_level"),
        ({**QUANTILE, "quantile_level": 1.2, "variants": _variants()}, "quantile_level"),
        ({**QUANTILE, "quantile_level": 0, "variants": _variants()}, "quantile_level"),
        ({**QUANTILE, "variants": _variants(upper=None)}, "variants.1.upper"),
        ({**QUANTILE, "variants": _variants(quantile=None)}, "variants.1.quantile"),
        ({**QUANTILE, "variants": _variants(quantile="fast")}, "variants.1.quantile"),
        ({**QUANTILE, "variants": _variants(lower=12.0)}, "variants.1.lower"),
        ({**QUANTILE, "variants": _variants(upper=9.5)}, "variants.1.lower"),
        ({**QUANTILE, "variants": _variants(n_star=600)}, "variants.1.n_star"),
        ({**QUANTILE, "variants": _variants(n_star=0)}, "variants.1.n_star"),
        ({**QUANTILE, "variants": _variants(sum=5000)}, "variants.1.sum"),
        (
            {"metric_type": "mean", "quantile_level": 0.5, "variants": _variants()},
            "quantile_level",
        ),
        (
            {
                "metric_type": "mean",
                "variants": [
                    {"key": "c", "n": 10, "sum": 5, "sum_squares": 9},
                    {"key": "t", "n": 10, "sum": 5, "sum_squares": 9, "quantile": 1},
                ],
            },
            "variants.1.quantile",
        ),
        (
            {
                "metric_type": "proportion",
                "variants": [{"key": "c", "n": 10}, {"key": "t", "n": 9}],
            },
            "variants.0.sum",
        ),
    ],
)
def test_bad_quantile_input_is_a_400_naming_the_field(viewer, payload, field):
    response = _post(viewer, payload)

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()


def test_the_quantile_input_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    def component(reference: str) -> dict:
        return components[reference.rsplit("/", 1)[-1]]

    body = schema["paths"][ANALYZE]["post"]["requestBody"]["content"]["application/json"]
    request = component(body["schema"]["$ref"])["properties"]
    assert "quantile_level" in request
    assert "quantile" in component(request["metric_type"]["$ref"])["enum"]
    variant = component(request["variants"]["items"]["$ref"])
    assert {"quantile", "lower", "upper", "n_star"} <= set(variant["properties"])
    assert "sum" not in variant.get("required", [])
    assert "1.96" in variant["properties"]["lower"]["description"]
