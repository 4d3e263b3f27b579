"""A funnel metric in an experiment: the analysis counts each variant's units at every step as
planted, compares the whole funnel as a proportion (the usual statistics, checked against
Welch on the units' 0/1 values) and each step's conversions against statsmodels, and the
results API and page show the steps with their changes.

The planted data: every unit exposed over ten days; signup, then a pro document, then an
invite, each with its own probability (the treatment lifts the document step by 20%), all
within five days of exposure. Units that miss a step may still do its event *before* the step
it follows, which must not count; others do the last step after the window, which must not
count either.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from scipy import stats
from statsmodels.stats import proportion as sm_proportion

from experiments.models import Exposure, Phase
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from metrics.public import metric_create
from plg_platform.models import Event
from plg_platform.services.ingestion import to_epoch_us
from tests.experiments.test_exp_analysis_support import CUTOFF, DAY_US, EXPOSURE_SPREAD_DAYS, T0

pytestmark = pytest.mark.django_db

STEPS = ("signup", "doc", "invite")
RATES = {"control": (0.8, 0.4, 0.5), "treatment": (0.8, 0.48, 0.5)}
UNITS = 2500  # per variant
HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class Planted:
    units: list[str]
    variants: list[str]
    exposed: np.ndarray
    reached: np.ndarray  # steps reached in order within the window, per unit
    events: list[tuple[str, str, int, str]]  # unit, event, time, properties (JSON)


def _plant(seed: int = 5) -> Planted:
    rng = np.random.default_rng(seed)
    units, variants, events = [], [], []
    exposed = to_epoch_us(T0) + (rng.random(2 * UNITS) * EXPOSURE_SPREAD_DAYS * DAY_US).astype(
        np.int64
    )
    reached = np.zeros(2 * UNITS, dtype=int)
    for i in range(2 * UNITS):
        variant = "control" if i < UNITS else "treatment"
        unit = f"u{i}"
        units.append(unit)
        variants.append(variant)
        t = int(exposed[i])
        for k, rate in enumerate(RATES[variant]):
            if rng.random() >= rate:
                if rng.random() < 0.3 and k > 0:  # the missed step's event, too early
                    early = t - 1 - int(rng.random() * HOUR_US)
                    events.append((unit, STEPS[k], max(early, int(exposed[i])), '{"plan": "pro"}'))
                break
            t += int(rng.random() * 36 * HOUR_US)
            props = '{"plan": "pro"}' if STEPS[k] == "doc" else "{}"
            events.append((unit, STEPS[k], t, props))
            if STEPS[k] == "doc" and rng.random() < 0.2:  # a free document does not count
                events.append((unit, "doc", t - 1, '{"plan": "free"}'))
            reached[i] = k + 1
        else:
            continue
        if reached[i] == 2 and rng.random() < 0.3:  # the invite after the window: too late
            events.append((unit, "invite", int(exposed[i]) + 7 * DAY_US, "{}"))
    return Planted(units, variants, exposed, reached, events)


@pytest.fixture(scope="module")
def planted() -> Planted:
    return _plant()


def _experiment(workspace, data: Planted):
    metric_create(
        workspace=workspace,
        key="activation-funnel",
        name="Activation funnel",
        spec={
            "type": "funnel",
            "window_days": 7,
            "steps": [
                {"event": "signup"},
                {
                    "event": "doc",
                    "name": "Pro document",
                    "filters": [{"property": "plan", "op": "eq", "value": "pro"}],
                },
                {"event": "invite"},
            ],
        },
    )
    metric_create(
        workspace=workspace,
        key="signed-up",
        name="Signed up",
        spec={"type": "conversion", "event": "signup", "window_days": 7},
    )
    design = ExperimentDesign(
        key="onboarding-funnel",
        name="Onboarding funnel",
        hypothesis_change="a guided first document",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("treatment", 0.5)),
        primary_metric="activation-funnel",
        guardrail_metrics=("signed-up",),
        correction="none",
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    Phase.objects.filter(experiment=experiment).update(started_at=T0)
    phase = experiment.phases.get()
    Exposure.objects.bulk_create(
        [
            Exposure(
                workspace_id=workspace.id,
                experiment=experiment,
                phase=phase,
                unit_id=unit,
                variant=variant,
                exposed_at_us=int(data.exposed[i]),
            )
            for i, (unit, variant) in enumerate(zip(data.units, data.variants, strict=True))
        ],
        batch_size=2000,
    )
    received = timezone.now() - timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Event._meta.db_table} "  # noqa: S608 - our own table name
            "(workspace_id, event, distinct_id, timestamp_us, properties, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(workspace.id, e, u, t, p, received) for u, e, t, p in data.events],
        )
    return experiment


def _metric(outputs: dict, key: str) -> dict:
    return next(m for m in outputs["metrics"] if m["key"] == key)


def test_the_funnel_counts_each_step_as_planted_and_compares_the_whole_funnel(workspace, planted):
    experiment = _experiment(workspace, planted)

    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    funnel = _metric(computed.outputs.to_json(), "activation-funnel")

    assert funnel["type"] == "funnel"
    assert funnel["metric_type"] == "proportion"
    variants = {v["variant"]: v for v in funnel["variants"]}
    reached = {
        name: planted.reached[np.array(planted.variants) == name]
        for name in ("control", "treatment")
    }
    for name, steps in reached.items():
        v = variants[name]
        assert v["units"] == UNITS
        assert [s["units"] for s in v["steps"]] == [int((steps >= k).sum()) for k in (1, 2, 3)]
        assert [s["name"] for s in v["steps"]] == ["signup", "Pro document", "invite"]
        assert v["steps"][1]["conversion"] == pytest.approx((steps >= 2).sum() / (steps >= 1).sum())
        assert v["steps"][2]["overall"] == pytest.approx((steps >= 3).mean())
        assert v["value"] == pytest.approx((steps >= 3).mean(), rel=1e-12)
    # The whole funnel is compared as a proportion: Welch on the units' 0/1 values, with
    # p(1 − p) variances.
    c, t = ((reached[n] >= 3).astype(float) for n in ("control", "treatment"))
    (comparison,) = funnel["comparisons"]
    assert comparison["effect"] == pytest.approx(t.mean() / c.mean() - 1, rel=1e-9)
    assert comparison["absolute_effect"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    se = np.sqrt(c.mean() * (1 - c.mean()) / c.size + t.mean() * (1 - t.mean()) / t.size)
    half = comparison["absolute_ci_high"] - comparison["absolute_effect"]
    assert half == pytest.approx(stats.t.ppf(0.975, df=_welch_df(c, t)) * se, rel=1e-6)
    # The planted lift of the whole funnel (+20% on one step) lies inside the interval.
    assert comparison["ci_low"] < 0.2 < comparison["ci_high"]
    # Each step of the treatment against the control: the change in the conversion from the
    # step before (and from every unit) is statsmodels' Wald difference of two proportions on
    # the planted counts, the step before's units as the denominator (the delta method of the
    # ratio reduces to it); the control's steps carry none.
    assert all("conversion_change" not in s for s in variants["control"]["steps"])
    counts = {n: [int((reached[n] >= k).sum()) for k in (0, 1, 2, 3)] for n in reached}
    for k, step in enumerate(variants["treatment"]["steps"], start=1):
        t_k, t_before = counts["treatment"][k], counts["treatment"][k - 1]
        c_k, c_before = counts["control"][k], counts["control"][k - 1]
        for change, (tn, cn) in (
            (step["conversion_change"], (t_before, c_before)),
            (step["overall_change"], (UNITS, UNITS)),
        ):
            low, high = sm_proportion.confint_proportions_2indep(
                t_k, tn, c_k, cn, method="wald", compare="diff"
            )
            test = sm_proportion.test_proportions_2indep(
                t_k, tn, c_k, cn, method="wald", compare="diff"
            )
            assert change["difference"] == pytest.approx(t_k / tn - c_k / cn, rel=1e-9)
            assert (change["ci_low"], change["ci_high"]) == pytest.approx((low, high), rel=1e-9)
            assert change["p_value"] == pytest.approx(test.pvalue, rel=1e-9)
            assert change["ci_level"] == 0.95
    # The planted change: +8 points on the document step (0.4 → 0.48), none on the others.
    changes = [s["conversion_change"] for s in variants["treatment"]["steps"]]
    assert changes[1]["ci_low"] < 0.08 < changes[1]["ci_high"]
    assert changes[1]["p_value"] < 0.05
    for change in (changes[0], changes[2]):
        assert change["ci_low"] < 0 < change["ci_high"]
    # The stored inputs keep the steps beside the sums.
    stored = [r for r in computed.inputs["statistics"] if r["metric"] == "activation-funnel"]
    assert {tuple(r["steps"]) for r in stored} == {
        tuple(int((reached[n] >= k).sum()) for k in (1, 2, 3)) for n in reached
    }


def _welch_df(c: np.ndarray, t: np.ndarray) -> float:
    vc, vt = c.mean() * (1 - c.mean()) / c.size, t.mean() * (1 - t.mean()) / t.size
    return (vc + vt) ** 2 / (vc**2 / (c.size - 1) + vt**2 / (t.size - 1))


def test_the_results_api_and_page_show_the_steps(editor, planted):
    experiment = _experiment(editor.workspace, planted)
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/results").json()
    funnel = next(m for m in body["metrics"] if m["key"] == "activation-funnel")
    control = funnel["variants"][0]
    assert [s["event"] for s in control["steps"]] == list(STEPS)
    assert set(control["steps"][0]) == {"name", "event", "units", "conversion", "overall"}
    signed_up = next(m for m in body["metrics"] if m["key"] == "signed-up")
    assert "steps" not in signed_up["variants"][0]

    client = Client()
    client.force_login(editor.user)
    page = client.get(reverse("results_web:page", kwargs={"key": experiment.key}))
    text = page.content.decode()
    assert page.status_code == 200
    table = text.split('id="funnel-table-activation-funnel"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-step="(\d)">(.*?)</tr>', table, flags=re.S)
    assert [number for number, _ in rows] == ["1", "2", "3"]
    second = html.unescape(re.sub(r"<[^>]+>", " ", rows[1][1]))
    step = control["steps"][1]
    assert f"{step['units']}" in second
    assert f"{step['conversion'] * 100:.1f}% of the step before" in second
    # The treatment's cell gives the change of the conversion with its interval, in points.
    change = funnel["variants"][1]["steps"][1]["conversion_change"]
    assert set(funnel["variants"][1]["steps"][1]) >= {"conversion_change", "overall_change"}

    def points(value: float) -> str:
        return f"{value * 100:+.1f}".replace("-", "−")

    cells = re.findall(r'<td class="num" data-col="step">(.*?)</td>', rows[1][1], flags=re.S)
    shown = html.unescape(re.sub(r"<[^>]+>", " ", cells[1]))
    assert (
        f"{points(change['difference'])} pp ({points(change['ci_low'])} to "
        f"{points(change['ci_high'])})"
    ) in shown
    assert "<strong>" in cells[1]  # the interval excludes 0
    assert 'data-col="change"' not in cells[0]  # none for the control
    assert 'data-chart="bars"' in text.split('id="funnel-activation-funnel"', 1)[1]
    assert 'id="funnel-signed-up"' not in text
