"""What a running experiment linked to a key result would add if shipped: the provider learnings
registers with outcomes, its lift, shrinkage (default prior, then the meta-analysis prior
computed here by hand: DerSimonian–Laird), reach from exposures over the key result's own
population, and the treated share, all by hand; and the outlook that uses it."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from experiments.models import Experiment, Exposure, ResultSnapshot
from experiments.services.lifecycle import experiment_start
from learnings.contributions import (
    DEFAULT_PRIOR_SD,
    REACH_OTHER_UNIT,
    key_result_expected_contributions,
)
from learnings.models import Learning
from learnings.shrinkage import normal_posterior
from outcomes.okrs.contracts import contributions_providers
from outcomes.okrs.models import CheckIn, ValueSource
from outcomes.okrs.outlook import key_result_outlook
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from plg_platform.clock import epoch_us
from plg_platform.services.ingestion import IngestResult, event_rows_store

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 5)
HOUR_US = 3_600_000_000
T0 = epoch_us(datetime(2026, 11, 2, tzinfo=UTC))
EXPOSED = 30  # exposed units, first seen in the exposure span
NOT_EXPOSED = 20  # also first seen in the span
# Effect and 95% interval of the variant on the key result's metric.
EFFECT, CI_LOW, CI_HIGH = 0.10, 0.02, 0.18
SE = (CI_HIGH - CI_LOW) / (2 * 1.959963984540054)


@pytest.fixture
def key_result(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    objective = objective_create(workspace=workspace, title="New teams stick", quarter="2026-Q4")
    key_result = key_result_create(
        objective=objective,
        title="Raise the Aha rate",
        metric_key="aha-rate",
        target=0.36,
        baseline=0.31,
        baseline_reason="Last quarter's report",
    )
    for week, value in enumerate([0.31, 0.312, 0.309, 0.315, 0.311, 0.316, 0.313, 0.318]):
        CheckIn.objects.create(
            key_result=key_result,
            date=date(2026, 10, 15) + timedelta(days=7 * week),
            source=ValueSource.COMPUTED,
            value=value,
        )
    return key_result


def _snapshot(experiment: Experiment, *, direction: str = "up") -> None:
    ResultSnapshot.objects.create(
        experiment=experiment,
        phase=experiment.phases.get(),
        data_cutoff=timezone.now(),
        engine_version="test",
        settings={"engine": "frequentist", "difference": "relative"},
        inputs={},
        outputs={
            "metrics": [
                {
                    "key": "aha-rate",
                    "name": "aha rate",
                    "role": "primary",
                    "direction": direction,
                    "segment": None,
                    "comparisons": [
                        {
                            "variant": "checklist",
                            "effect": EFFECT,
                            "ci_low": CI_LOW,
                            "ci_high": CI_HIGH,
                            "p_value": 0.01,
                            "significant": True,
                            "verdict": "win",
                        },
                        {
                            "variant": "video",
                            "effect": 0.01,
                            "ci_low": -0.07,
                            "ci_high": 0.09,
                            "p_value": 0.8,
                            "significant": False,
                            "verdict": "inconclusive",
                        },
                    ],
                }
            ]
        },
        health={},
        run_seconds=0.01,
    )


@pytest.fixture
def experiment(editor, key_result):
    response = editor.client.post(
        "/api/v1/experiments/",
        {
            "key": "onboarding-checklist",
            "name": "Onboarding checklist",
            "hypothesis": "adding an onboarding checklist",
            "variants": [
                {"key": "control", "weight": 0.5},
                {"key": "checklist", "weight": 0.3},
                {"key": "video", "weight": 0.2},
            ],
            "coverage": 0.8,
            "primary_metric": "aha-rate",
            "key_results": [key_result.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    experiment = experiment_start(experiment=Experiment.objects.get(), actor=None)
    phase = experiment.phases.get()
    # 50 units first seen hourly from T0 to T0 + 49 h; 30 of them exposed, the first and the
    # last among them (so the exposure span is T0 … T0 + 49 h).
    rows = []
    for i in range(EXPOSED + NOT_EXPOSED):
        rows.append(("signed_up", f"u{i}", T0 + i * HOUR_US, f"s{i}", {}))
    rows += [("signed_up", f"early{i}", T0 - (i + 1) * HOUR_US, f"e{i}", {}) for i in range(7)]
    # Units first seen after the span are not in the population of the span either.
    rows += [("signed_up", f"late{i}", T0 + (60 + i) * HOUR_US, f"l{i}", {}) for i in range(5)]
    event_rows_store(workspace=key_result.workspace, rows=rows, result=IngestResult())
    exposed = [i for i in range(EXPOSED + NOT_EXPOSED) if i % 5 in (0, 1, 4)]
    assert len(exposed) == EXPOSED
    Exposure.objects.bulk_create(
        Exposure(
            workspace=key_result.workspace,
            experiment=experiment,
            phase=phase,
            unit_id=f"u{i}",
            variant=("control", "checklist", "video")[i % 3],
            exposed_at_us=T0 + i * HOUR_US,
        )
        for i in exposed
    )
    # A unit seen in two variants is left out of the count.
    Exposure.objects.create(
        workspace=key_result.workspace,
        experiment=experiment,
        phase=phase,
        unit_id="u42",
        variant="control",
        exposed_at_us=T0 + 42 * HOUR_US,
        excluded=True,
    )
    _snapshot(experiment)
    return experiment


def test_the_provider_is_registered_by_learnings():
    assert key_result_expected_contributions in contributions_providers


def test_contribution_with_the_default_prior_by_hand(key_result, experiment):
    (c,) = key_result_expected_contributions(key_result, TODAY)

    assert (c.experiment_key, c.variant) == ("onboarding-checklist", "checklist")
    assert c.lift == pytest.approx(EFFECT)
    assert c.lift_se == pytest.approx(SE)
    # Normal–normal with prior N(0, 0.05²): weight on the prior s²/(s² + τ²).
    weight = SE**2 / (SE**2 + DEFAULT_PRIOR_SD**2)
    assert c.shrunk_lift == pytest.approx((1 - weight) * EFFECT)
    assert c.shrunk_lift_sd == pytest.approx(math.sqrt((1 - weight) * SE**2))
    assert "sceptical default prior" in c.prior
    assert "this workspace has 0" in c.prior
    # 30 exposed at 80% coverage → 37.5 would have been; of 50 units first seen in the span.
    assert c.reach == pytest.approx(30 / 0.8 / 50)
    assert c.reach_note == "30 units exposed at 80% coverage, of 50 starting then"
    assert c.treated_share == pytest.approx(0.8 * 0.3)
    assert c.ships_on == TODAY
    assert c.would_ship


def _learning(workspace, title: str, impact: float, se: float) -> Learning:
    return Learning.objects.create(
        workspace=workspace,
        source="experiment",
        title=title,
        outcome="win" if impact > 0 else "loss",
        impact=impact,
        impact_se=se,
        learned_on=date(2026, 9, 1),
        quarter="2026-Q3",
    )


def test_contribution_with_the_meta_analysis_prior_by_hand(key_result, experiment, workspace):
    past = [(0.08, 0.02), (-0.01, 0.015), (0.03, 0.01), (0.00, 0.02), (0.05, 0.03)]
    for i, (impact, se) in enumerate(past):
        _learning(workspace, f"Past {i}", impact, se)

    (c,) = key_result_expected_contributions(key_result, TODAY)

    # DerSimonian–Laird by hand.
    y = np.array([p[0] for p in past])
    v = np.array([p[1] ** 2 for p in past])
    w = 1 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    mu = np.sum(y / (v + tau2)) / np.sum(1 / (v + tau2))
    assert tau2 > 0
    b = SE**2 / (SE**2 + tau2)
    assert c.shrunk_lift == pytest.approx(b * mu + (1 - b) * EFFECT)
    assert c.shrunk_lift_sd == pytest.approx(math.sqrt(SE**2 * tau2 / (SE**2 + tau2)))
    assert f"meta-analysis prior of 5 concluded experiments (mean {mu:+.1%}" in c.prior


def test_a_lift_on_a_lower_is_better_metric_is_shrunk_in_the_good_direction(key_result, experiment):
    ResultSnapshot.objects.all().delete()
    _snapshot(experiment, direction="down")

    (c,) = key_result_expected_contributions(key_result, TODAY)

    # The best variant on a lower-is-better metric is the one that lowers it most: "video"'s
    # +1% is less bad than "checklist"'s +10%.
    assert c.variant == "video"
    se = 0.16 / (2 * 1.959963984540054)
    mean, sd = normal_posterior(-0.01, se, 0.0, DEFAULT_PRIOR_SD**2)
    assert c.shrunk_lift == pytest.approx(-mean)
    assert c.shrunk_lift_sd == pytest.approx(sd)
    assert not c.would_ship  # raising a lower-is-better metric: not shipped


def test_experiments_not_running_or_not_measuring_the_metric_add_nothing(
    key_result, experiment, make_metric, workspace
):
    experiment.status = "stopped"
    experiment.save(update_fields=["status"])
    assert key_result_expected_contributions(key_result, TODAY) == []

    experiment.status = "running"
    experiment.save(update_fields=["status"])
    snapshot = ResultSnapshot.objects.get()
    snapshot.outputs["metrics"][0]["key"] = "another-metric"
    snapshot.save(update_fields=["outputs"])
    assert key_result_expected_contributions(key_result, TODAY) == []


def test_an_experiment_randomised_by_account_is_assumed_to_reach_everyone(key_result, experiment):
    experiment.unit_property = "account_id"
    experiment.save(update_fields=["unit_property"])

    (c,) = key_result_expected_contributions(key_result, TODAY)

    assert c.reach == 1.0
    assert c.reach_note == REACH_OTHER_UNIT.format(unit="account_id")


def test_another_workspaces_experiment_is_never_counted(key_result, experiment, other_workspace):
    Experiment.objects.filter(pk=experiment.pk).update(workspace=other_workspace)
    assert key_result_expected_contributions(key_result, TODAY) == []


def test_the_outlook_counts_the_registered_contribution(key_result, experiment):
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    (projected,) = outlook.contributions
    c = projected.contribution
    assert c.experiment_key == "onboarding-checklist"
    factor = outlook.forecast.mean * c.reach * (20 / 28) * (1 - c.treated_share)
    assert projected.mean == pytest.approx(factor * c.shrunk_lift)
    assert outlook.added_mean == pytest.approx(projected.mean)
    assert "one running experiment adds about +" in outlook.why
