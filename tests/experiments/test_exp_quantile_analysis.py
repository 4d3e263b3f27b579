"""Quantile metrics in an experiment's analysis: primary, secondary and guardrail; per segment;
refused with a message when the sample is small; in the results API and on the results page.

Orders are written straight into the event table with a planted +25% on every order's amount;
the analysis's quantiles, differences and intervals are checked against numpy on the same
arrays and an independent statement of GrowthBook's variance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.db import connection
from scipy import stats

from experiments.models import Exposure, Phase
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from experiments.stats import STATUS_MESSAGES
from metrics.public import metric_create
from plg_platform.models import Event
from plg_platform.services.ingestion import persons_identify, to_epoch_us
from tests.experiments.test_exp_analysis_support import CUTOFF, DAY_US, T0, metric_entry

pytestmark = pytest.mark.django_db

LIFT = 1.25  # every treatment order is 25% larger: every quantile of it too
WINDOW_DAYS = 7
Z = stats.norm.ppf(0.975)
GRID = np.array([round(100 * 2 ** (k / 2)) for k in range(41)])


def planted_orders(units_per_variant: int, seed: int = 3):
    """Per unit: variant (0/1), first exposure, country, and its orders (time, amount); some
    orders fall after the window (they must not count) and some units order nothing."""
    rng = np.random.default_rng(seed)
    units = []
    for variant in (0, 1):
        for i in range(units_per_variant):
            exposed = to_epoch_us(T0) + int(rng.random() * 10 * DAY_US)
            orders = []
            for _ in range(rng.poisson(1.6)):
                at = exposed + int(rng.random() * (WINDOW_DAYS * DAY_US - 1))
                orders.append(
                    (at, round(float(rng.lognormal(3.0, 0.8)) * (LIFT if variant else 1), 6))
                )
            if rng.random() < 0.2:
                orders.append((exposed + WINDOW_DAYS * DAY_US + 5, 10_000.0))  # after the window
            country = "US" if rng.random() < 0.6 else "DE"
            units.append((f"v{variant}u{i}", variant, exposed, country, orders))
    return units


def quantile_design(workspace, key: str, *, segments=()) -> None:
    specs = {
        "order-value-p50": (
            "Order value per user",
            {
                "type": "quantile",
                "event": "order",
                "property": "amount",
                "quantile": 0.5,
                "quantile_of": "unit",
            },
            "increase",
        ),
        "order-p90": (
            "Order amount",
            {
                "type": "quantile",
                "event": "order",
                "property": "amount",
                "quantile": 0.9,
                "quantile_of": "event",
            },
            "increase",
        ),
        "first-order-p75": (
            "Hours to first order",
            {"type": "quantile", "event": "order", "quantile": 0.75, "quantile_of": "unit"},
            "decrease",
        ),
    }
    for suffix, (name, spec, direction) in specs.items():
        metric_create(
            workspace=workspace,
            key=f"{key}-{suffix}",
            name=name,
            spec={**spec, "window_days": WINDOW_DAYS},
            direction=direction,
        )
    design = ExperimentDesign(
        key=key,
        name="Checkout",
        hypothesis_change="a one-page checkout",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("treatment", 0.5)),
        primary_metric=f"{key}-order-value-p50",
        secondary_metrics=(f"{key}-order-p90",),
        guardrail_metrics=(f"{key}-first-order-p75",),
        segments=tuple(segments),
        correction="none",
    )
    return experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )


def write_orders(experiment, units) -> None:
    Phase.objects.filter(experiment=experiment).update(started_at=T0)
    phase = experiment.phases.get()
    Exposure.objects.bulk_create(
        Exposure(
            workspace_id=experiment.workspace_id,
            experiment=experiment,
            phase=phase,
            unit_id=unit,
            variant=("control", "treatment")[variant],
            exposed_at_us=exposed,
        )
        for unit, variant, exposed, _, _ in units
    )
    rows = [
        (experiment.workspace_id, "order", unit, at, json.dumps({"amount": amount}), T0)
        for unit, _, _, _, orders in units
        for at, amount in orders
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Event._meta.db_table} "  # noqa: S608 - our own table name
            "(workspace_id, event, distinct_id, timestamp_us, properties, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    persons_identify(
        workspace=experiment.workspace,
        traits=((unit, {"country": country}) for unit, _, _, country, _ in units),
    )


def in_window(units, variant, *, country=None):
    """Per unit of the variant (and country): its orders inside the window."""
    out = []
    for _, v, exposed, c, orders in units:
        if v == variant and (country is None or c == country):
            out.append(
                [(at - exposed, a) for at, a in orders if at < exposed + WINDOW_DAYS * DAY_US]
            )
    return out


def reference_arm(values: np.ndarray, level: float) -> tuple[float, float]:
    """(quantile, Var) by GrowthBook's formula on numpy's order statistics (unit-level)."""
    n = values.size
    n_star = GRID[GRID <= n].max()
    half = Z * np.sqrt(level * (1 - level) / n_star)
    q, low, high = np.quantile(values, [level, level - half, level + half])
    return q, (n_star / n) * ((n - 1) / n) * ((high - low) / (2 * Z)) ** 2


@pytest.fixture(scope="module")
def orders():
    return planted_orders(1500)


def test_quantile_metrics_are_analysed_as_primary_secondary_and_guardrail(workspace, orders):
    experiment = quantile_design(workspace, "checkout", segments=("country",))
    write_orders(experiment, orders)

    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    outputs = computed.outputs.to_json()

    primary = metric_entry(outputs, "checkout-order-value-p50")
    assert (primary["role"], primary["quantile"], primary["quantile_of"]) == (
        "primary",
        0.5,
        "unit",
    )
    arms = []
    for variant, result in enumerate(primary["variants"]):
        sums = np.array(
            [sum(a for _, a in orders) for orders in in_window(orders, variant) if orders]
        )
        assert result["units"] == 1500
        assert result["n"] == sums.size  # units without an order have no value
        assert result["value"] == pytest.approx(np.quantile(sums, 0.5), rel=1e-12)
        arms.append(reference_arm(sums, 0.5))
    (c,) = primary["comparisons"]
    (q_a, v_a), (q_b, v_b) = arms
    assert c["status"] == "ok"
    assert c["absolute_effect"] == pytest.approx(q_b - q_a, rel=1e-9)
    assert c["effect"] == pytest.approx(q_b / q_a - 1, rel=1e-9)
    n_a, n_b = (v["n"] for v in primary["variants"])
    df = (v_a + v_b) ** 2 / (v_a**2 / (n_a - 1) + v_b**2 / (n_b - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(v_a + v_b)
    assert c["absolute_ci_low"] == pytest.approx(q_b - q_a - half, rel=1e-9)
    assert c["absolute_ci_high"] == pytest.approx(q_b - q_a + half, rel=1e-9)
    assert c["ci_low"] < LIFT - 1 < c["ci_high"]  # the planted +25%, in the interval
    assert c["significant"] is True
    assert c["verdict"] == "win"
    assert "the p50 of Order value per user" in c["summary"]

    secondary = metric_entry(outputs, "checkout-order-p90")
    for variant, result in enumerate(secondary["variants"]):
        amounts = [a for orders in in_window(orders, variant) for _, a in orders]
        assert result["n"] == len(amounts)
        assert result["value"] == pytest.approx(np.quantile(amounts, 0.9), rel=1e-12)
    assert secondary["comparisons"][0]["status"] == "ok"
    assert (
        0.0 < secondary["comparisons"][0]["ci_low"] < 0.1 < secondary["comparisons"][0]["ci_high"]
    )

    guardrail = metric_entry(outputs, "checkout-first-order-p75")
    hours = [
        np.array([min(t for t, _ in orders) / 3.6e9 for orders in in_window(orders, v) if orders])
        for v in (0, 1)
    ]
    assert [r["value"] for r in guardrail["variants"]] == pytest.approx(
        [np.quantile(h, 0.75) for h in hours], rel=1e-9
    )
    assert "never reached it" in guardrail["summary"]
    assert "not in the p75" in guardrail["summary"]
    (health,) = [
        g for g in computed.health.guardrails.results if g.metric == "checkout-first-order-p75"
    ]
    assert health.status == "ok"
    assert health.harmful is False

    # Per country: each segment's quantiles are its own (no pooled "(other)" row).
    us = metric_entry(outputs, "checkout-order-value-p50", {"property": "country", "value": "US"})
    sums_us = [sum(a for _, a in o) for o in in_window(orders, 1, country="US") if o]
    assert us["variants"][1]["value"] == pytest.approx(np.quantile(sums_us, 0.5), rel=1e-12)
    # Quantiles have no lift by day.
    assert not [p for p in computed.outputs.cumulative if p.metric.startswith("checkout-order")]


def test_a_small_sample_is_refused_with_a_message(workspace):
    experiment = quantile_design(workspace, "tiny")
    write_orders(experiment, planted_orders(60, seed=5))

    outputs = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False).outputs
    primary = metric_entry(outputs, "tiny-order-value-p50")
    (c,) = primary["comparisons"]
    assert c["status"] == "quantile_too_few_units"
    assert c["message"] == STATUS_MESSAGES["quantile_too_few_units"]
    assert c["effect"] is None
    assert c["ci_low"] is None
    assert c["p_value"] is None
    assert "no result" in c["summary"]
    assert "wait for more data" in c["summary"]
    assert primary["variants"][0]["value"] is not None  # the quantile itself is still shown


def test_results_api_and_page_show_the_quantile(editor, orders):
    experiment = quantile_design(editor.workspace, "checkout-api")
    write_orders(experiment, orders[:400] + orders[1500:1900])
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/results").json()
    primary = next(m for m in body["metrics"] if m["key"] == "checkout-api-order-value-p50")
    assert (primary["quantile"], primary["quantile_of"], primary["type"]) == (
        0.5,
        "unit",
        "quantile",
    )
    other = next(m for m in body["metrics"] if m["key"] == "checkout-api-order-p90")
    assert other["quantile_of"] == "event"

    editor.client.force_login(editor.user)
    page = editor.client.get(f"/experiments/{experiment.key}/results").content.decode()
    assert ">p50</th>" in page
    assert ">p90 per event</th>" in page
    assert "the p50 of Order value per user" in page


# --- warehouse-native: the quantile statement runs in the source ------------------------------
def test_a_quantile_metric_is_computed_inside_an_event_source(workspace, tmp_path, settings):
    from collections import defaultdict
    from datetime import timedelta

    from tests.experiments.test_warehouse_native import _population, _run, _source
    from tests.metrics.warehouse import CUTOFF as SOURCE_CUTOFF
    from tests.metrics.warehouse import EXPERIMENT_ID, generate
    from tests.metrics.warehouse import T0 as SOURCE_T0

    settings.METRICS_SOURCE_ROOT = tmp_path
    data = generate(seed=2024, units=400)
    source = _source(workspace, tmp_path, data, "duckdb")
    metric_create(
        workspace=workspace,
        key="revenue-p50",
        name="Revenue per user",
        spec={
            "type": "quantile",
            "event": "purchase",
            "property": "revenue",
            "window_days": 14,
            "quantile": 0.5,
            "quantile_of": "unit",
        },
    )
    design = ExperimentDesign(
        key="wh",
        name="Checkout",
        hypothesis_change="a one-page checkout",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("treatment", 0.5)),
        primary_metric="revenue-p50",
        source=source.pk,
        source_experiment_id=EXPERIMENT_ID,
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    Phase.objects.filter(experiment=experiment).update(started_at=SOURCE_T0)

    snapshot = _run(experiment)

    window = timedelta(days=14)
    events = defaultdict(list)
    for e in data.events:
        events[str(e.account_user)].append(e)
    sums: dict[str, list[float]] = {"control": [], "treatment": []}
    units = {"control": 0, "treatment": 0}
    for unit, (variant, start) in _population(data).items():
        if start + window > SOURCE_CUTOFF:
            continue  # not matured
        units[variant] += 1
        revenue = [
            e.revenue
            for e in events[unit]
            if e.event_name == "purchase"
            and start <= e.occurred_at < start + window
            and e.revenue is not None
        ]
        if revenue:
            sums[variant].append(sum(revenue))
    stored = {
        row["variant"]: row
        for row in snapshot.inputs["statistics"]
        if row["metric"] == "revenue-p50"
    }
    outputs = metric_entry(snapshot.outputs, "revenue-p50")
    for variant in ("control", "treatment"):
        assert stored[variant]["units"] == units[variant]
        assert stored[variant]["quantile"]["n"] == len(sums[variant])
        assert stored[variant]["quantile"]["estimate"] == pytest.approx(
            np.quantile(sums[variant], 0.5), rel=1e-12
        )
    assert [v["value"] for v in outputs["variants"]] == pytest.approx(
        [np.quantile(sums[v], 0.5) for v in ("control", "treatment")], rel=1e-12
    )
