"""Experiments name the key results they serve; a key result lists its linked experiments
(status, outcome, estimated impact) through the provider the experiments app registers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from experiments.models import Experiment, ExperimentStatus, ResultSnapshot
from experiments.services.lifecycle import experiment_start
from outcomes.okrs.selectors import key_result_detail
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from plg_platform.models import AuditLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/experiments/"
KEY_RESULTS = "/api/v1/key-results/"


@pytest.fixture
def metrics(make_metric, workspace):
    return [make_metric(workspace, key) for key in ("aha-rate", "retention-7d")]


def _key_result(workspace, metric_key: str, title: str):
    objective = objective_create(workspace=workspace, title="New teams stick", quarter="2026-Q2")
    return key_result_create(
        objective=objective,
        title=title,
        metric_key=metric_key,
        target=0.36,
        baseline=0.31,
        baseline_reason="Last quarter's report",
    )


@pytest.fixture
def key_result(workspace, metrics):
    return _key_result(workspace, "aha-rate", "Raise the Aha rate from 31% to 36%")


@pytest.fixture
def other_key_result(workspace, metrics):
    return _key_result(workspace, "retention-7d", "Raise 7-day retention")


@pytest.fixture
def foreign_key_result(other_workspace, make_metric):
    make_metric(other_workspace, "aha-rate")
    return _key_result(other_workspace, "aha-rate", "Someone else's key result")


def _design(**overrides) -> dict:
    return {
        "key": "onboarding-checklist",
        "name": "Onboarding checklist",
        "hypothesis": "adding an onboarding checklist",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "checklist", "weight": 0.5}],
        "primary_metric": "aha-rate",
        **overrides,
    }


def test_create_with_key_results_stores_and_echoes_them(editor, key_result, other_key_result):
    response = editor.client.post(
        URL,
        _design(key_results=[other_key_result.pk, key_result.pk, key_result.pk]),
        format="json",
    )

    assert response.status_code == 201, response.json()
    expected = sorted(
        [
            {"id": key_result.pk, "title": key_result.title},
            {"id": other_key_result.pk, "title": other_key_result.title},
        ],
        key=lambda kr: kr["id"],
    )
    assert response.json()["key_results"] == expected
    experiment = Experiment.objects.get(key="onboarding-checklist")
    assert set(experiment.key_results.values_list("pk", flat=True)) == {
        key_result.pk,
        other_key_result.pk,
    }
    assert editor.client.get(f"{URL}onboarding-checklist/").json()["key_results"] == expected
    audit = AuditLog.objects.get(action="experiment.create")
    assert audit.changes["key_results"] == sorted([key_result.pk, other_key_result.pk])


def test_without_key_results_the_list_is_empty(editor, metrics):
    response = editor.client.post(URL, _design(), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["key_results"] == []


@pytest.mark.parametrize("which", ["foreign", "unknown"])
def test_a_key_result_of_another_workspace_is_a_400_naming_the_field(
    editor, key_result, foreign_key_result, which
):
    bad_id = foreign_key_result.pk if which == "foreign" else foreign_key_result.pk + 1000
    response = editor.client.post(URL, _design(key_results=[key_result.pk, bad_id]), format="json")

    assert response.status_code == 400, response.json()
    assert "key_results" in response.json()["errors"]
    assert not Experiment.objects.exists()
    assert not AuditLog.objects.filter(action="experiment.create").exists()


def test_changing_key_results_of_a_running_experiment_starts_no_phase(
    editor, key_result, other_key_result
):
    editor.client.post(URL, _design(key_results=[key_result.pk]), format="json")
    experiment = Experiment.objects.get()
    experiment_start(experiment=experiment, actor=None)
    assert experiment.phases.count() == 1

    response = editor.client.patch(
        f"{URL}{experiment.key}/", {"key_results": [other_key_result.pk]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert [kr["id"] for kr in response.json()["key_results"]] == [other_key_result.pk]
    assert experiment.phases.count() == 1
    audit = AuditLog.objects.get(action="experiment.update")
    assert audit.changes == {"key_results": {"from": [key_result.pk], "to": [other_key_result.pk]}}


def test_patch_with_a_foreign_key_result_writes_nothing(editor, key_result, foreign_key_result):
    editor.client.post(URL, _design(key_results=[key_result.pk]), format="json")

    response = editor.client.patch(
        f"{URL}onboarding-checklist/", {"key_results": [foreign_key_result.pk]}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert "key_results" in response.json()["errors"]
    experiment = Experiment.objects.get()
    assert list(experiment.key_results.values_list("pk", flat=True)) == [key_result.pk]


def test_the_key_result_lists_its_linked_experiments(editor, key_result, other_key_result):
    editor.client.post(URL, _design(key_results=[key_result.pk]), format="json")
    editor.client.post(
        URL, _design(key="unrelated", name="Unrelated", key_results=[]), format="json"
    )

    response = editor.client.get(f"{KEY_RESULTS}{key_result.pk}/")

    assert response.status_code == 200, response.json()
    assert response.json()["experiments"] == [
        {
            "key": "onboarding-checklist",
            "name": "Onboarding checklist",
            "status": "draft",
            "outcome": "draft",
            "estimated_impact": None,
            "impact_description": "",
        }
    ]
    assert editor.client.get(f"{KEY_RESULTS}{other_key_result.pk}/").json()["experiments"] == []


def test_a_running_experiment_shows_its_latest_estimated_impact(editor, key_result):
    editor.client.post(URL, _design(key_results=[key_result.pk]), format="json")
    experiment = experiment_start(experiment=Experiment.objects.get(), actor=None)
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
                    "direction": "up",
                    "segment": None,
                    "comparisons": [
                        {
                            "variant": "checklist",
                            "effect": 0.05,
                            "ci_low": 0.01,
                            "ci_high": 0.09,
                            "p_value": 0.01,
                            "significant": True,
                            "verdict": "win",
                        }
                    ],
                }
            ]
        },
        health={},
        run_seconds=0.01,
    )

    (linked,) = key_result_detail(key_result=key_result).experiments

    assert (linked.key, linked.status, linked.outcome) == (
        "onboarding-checklist",
        ExperimentStatus.RUNNING,
        "running",
    )
    assert linked.estimated_impact == pytest.approx(0.05)
    assert "+5.0% on aha rate" in linked.impact_description


def test_another_workspace_cannot_see_the_link(editor, outsider, key_result):
    editor.client.post(URL, _design(key_results=[key_result.pk]), format="json")

    assert outsider.client.get(f"{KEY_RESULTS}{key_result.pk}/").status_code == 404
