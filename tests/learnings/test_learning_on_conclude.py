"""Concluding an experiment leaves its learning, whichever way it is concluded."""

from __future__ import annotations

import pytest

from learnings.models import Learning

pytestmark = pytest.mark.django_db

URL = "/api/v1/experiments/"


def _design() -> dict:
    return {
        "key": "onboarding-checklist",
        "name": "Onboarding checklist",
        "hypothesis": {
            "change": "adding an onboarding checklist",
            "audience": "new workspace owners",
            "outcome": "raise the share reaching the Aha moment within 7 days",
            "evidence": "interviews show new owners do not find sharing",
        },
        "variants": [{"key": "control", "weight": 0.5}, {"key": "checklist", "weight": 0.5}],
        "coverage": 1.0,
        "primary_metric": "aha-rate",
    }


def test_concluding_over_the_api_records_the_learning_once(
    editor, make_metric, workspace, django_capture_on_commit_callbacks
):
    make_metric(workspace, "aha-rate")
    editor.client.post(URL, _design(), format="json")
    base = f"{URL}onboarding-checklist"
    editor.client.post(f"{base}/start")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.client.post(
            f"{base}/conclude",
            {"decision": "ship", "variant": "checklist", "rationale": "Aha rate up"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    learning = Learning.objects.get(workspace=workspace)
    assert learning.experiment.key == "onboarding-checklist"
    assert learning.decision == "ship"
    assert learning.decision_variant == "checklist"
    assert learning.rationale == "Aha rate up"
    assert "onboarding checklist" in learning.hypothesis
    assert learning.author == editor.user


def test_a_rejected_conclusion_records_nothing(
    editor, make_metric, workspace, django_capture_on_commit_callbacks
):
    make_metric(workspace, "aha-rate")
    editor.client.post(URL, _design(), format="json")
    editor.client.post(f"{URL}onboarding-checklist/start")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.client.post(
            f"{URL}onboarding-checklist/conclude", {"rationale": "x"}, format="json"
        )
    assert response.status_code == 400
    assert not Learning.objects.exists()
