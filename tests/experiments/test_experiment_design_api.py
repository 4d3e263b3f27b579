"""Designing experiments over the API: validation by field, phases, audit, isolation."""

from __future__ import annotations

import pytest

from experiments.models import Experiment, ExperimentStatus
from plg_platform.models import AuditLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/experiments/"


@pytest.fixture
def metrics(make_metric, workspace):
    return [make_metric(workspace, key) for key in ("aha-rate", "exports", "errors")]


def _design(**overrides) -> dict:
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
        "secondary_metrics": ["exports"],
        "guardrail_metrics": ["errors"],
        **overrides,
    }


def test_create_returns_the_design_with_the_first_variant_as_control(editor, metrics):
    response = editor.client.post(URL, _design(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["hypothesis"]["statement"] == (
        "We believe adding an onboarding checklist for new workspace owners will raise the share "
        "reaching the Aha moment within 7 days because interviews show new owners do not find "
        "sharing."
    )
    assert [(v["key"], v["is_control"]) for v in body["variants"]] == [
        ("control", True),
        ("checklist", False),
    ]
    assert body["metrics"] == {
        "primary": ["aha-rate"],
        "secondary": ["exports"],
        "guardrail": ["errors"],
    }
    assert AuditLog.objects.filter(action="experiment.create").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"primary_metric": "nope"}, "primary_metric", "No metric 'nope'"),
        (
            {"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.6}]},
            "variants",
            "sum to 1",
        ),
        (
            {
                "variants": [
                    {"key": "a", "weight": 0.5, "is_control": True},
                    {"key": "b", "weight": 0.5, "is_control": True},
                ]
            },
            "variants",
            "one variant may be the control",
        ),
        ({"variants": [{"key": "a", "weight": 1.0}]}, "variants", "at least two"),
        ({"coverage": 1.5}, "coverage", ""),
        ({"targeting": {"$bogus": 1}}, "targeting", "GrowthBook condition"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"engine": "magic"}, "engine", ""),
        ({"secondary_metrics": ["aha-rate"]}, "secondary_metrics", "more than once"),
    ],
)
def test_bad_design_is_a_400_naming_the_field_and_writes_nothing(
    editor, metrics, overrides, field, fragment
):
    response = editor.client.post(URL, _design(**overrides), format="json")

    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(k == field or k.startswith(f"{field}.") for k in errors), errors
    assert fragment in " ".join(m for k in errors for m in errors[k])
    assert not Experiment.objects.exists()


def test_duplicate_key_is_a_400_naming_key(editor, metrics):
    editor.client.post(URL, _design(), format="json")

    response = editor.client.post(URL, _design(), format="json")

    assert response.status_code == 400
    assert "key" in response.json()["errors"]


def test_metric_of_another_workspace_is_unknown(editor, outsider, make_metric):
    make_metric(outsider.workspace, "aha-rate")

    response = editor.client.post(
        URL, _design(secondary_metrics=[], guardrail_metrics=[]), format="json"
    )

    assert response.status_code == 400
    assert "primary_metric" in response.json()["errors"]


def test_viewer_cannot_create(viewer, metrics):
    assert viewer.client.post(URL, _design(), format="json").status_code == 403


def test_lifecycle_and_illegal_transitions(editor, metrics):
    editor.client.post(URL, _design(), format="json")
    base = f"{URL}onboarding-checklist"

    assert editor.client.post(f"{base}/stop").status_code == 409
    started = editor.client.post(f"{base}/start").json()
    assert started["status"] == "running"
    assert [p["number"] for p in started["phases"]] == [1]
    no_decision = editor.client.post(f"{base}/conclude", {"rationale": "x"}, format="json")
    assert no_decision.status_code == 400
    assert "decision" in no_decision.json()["errors"]
    bad_variant = editor.client.post(
        f"{base}/conclude",
        {"decision": "ship", "variant": "nope", "rationale": "won"},
        format="json",
    )
    assert bad_variant.status_code == 400
    assert "variant" in bad_variant.json()["errors"]
    concluded = editor.client.post(
        f"{base}/conclude",
        {"decision": "ship", "variant": "checklist", "rationale": "Aha rate up, guardrails fine"},
        format="json",
    ).json()
    assert concluded["status"] == "concluded"
    assert concluded["phases"][0]["ended_at"] is not None
    assert editor.client.post(f"{base}/start").status_code == 409
    assert editor.client.post(f"{base}/archive").json()["status"] == "archived"
    actions = list(AuditLog.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["experiment.start", "experiment.conclude", "experiment.archive"]


def test_running_experiment_weights_change_needs_a_reason_and_starts_a_phase(editor, metrics):
    editor.client.post(URL, _design(), format="json")
    base = f"{URL}onboarding-checklist/"
    editor.client.post(f"{base}start")
    new_variants = [{"key": "control", "weight": 0.2}, {"key": "checklist", "weight": 0.8}]

    silent = editor.client.patch(base, {"variants": new_variants}, format="json")
    explained = editor.client.patch(
        base, {"variants": new_variants, "phase_reason": "Ramp up to 80%"}, format="json"
    )

    assert silent.status_code == 409
    assert "phase_reason" in silent.json()["errors"]
    assert explained.status_code == 200
    phases = explained.json()["phases"]
    assert [(p["number"], p["weights"]) for p in phases] == [
        (1, {"control": 0.5, "checklist": 0.5}),
        (2, {"control": 0.2, "checklist": 0.8}),
    ]
    assert phases[0]["ended_at"] is not None
    assert phases[1]["ended_at"] is None


def test_renaming_a_running_experiment_needs_no_new_phase(editor, metrics):
    editor.client.post(URL, _design(), format="json")
    base = f"{URL}onboarding-checklist/"
    editor.client.post(f"{base}start")

    body = editor.client.patch(base, {"name": "Checklist v1"}, format="json").json()

    assert body["name"] == "Checklist v1"
    assert len(body["phases"]) == 1
    change = AuditLog.objects.filter(action="experiment.update").get()
    assert change.changes == {"name": {"from": "Onboarding checklist", "to": "Checklist v1"}}


def test_foreign_experiment_is_404(editor, outsider, metrics):
    editor.client.post(URL, _design(), format="json")

    assert outsider.client.get(f"{URL}onboarding-checklist/").status_code == 404
    assert outsider.client.post(f"{URL}onboarding-checklist/start").status_code == 404
    assert Experiment.objects.get().status == ExperimentStatus.DRAFT


# --- Length limits: a pasted document is a 400 naming the field, never a row or a 500 --------
WORD = "x" * 20_000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": WORD}, "name"),
        ({"hypothesis": WORD}, "hypothesis"),
        ({"hypothesis": {"change": "a change", "audience": WORD}}, "hypothesis.audience"),
        ({"hypothesis": {"change": "a change", "evidence": WORD}}, "hypothesis.evidence"),
        ({"team": WORD}, "team"),
        ({"product_area": WORD}, "product_area"),
        ({"unit_property": WORD}, "unit_property"),
        (
            {
                "variants": [
                    {"key": "control", "weight": 0.5},
                    {"key": "b", "name": WORD, "weight": 0.5},
                ]
            },
            "variants",
        ),
        (
            {"variants": [{"key": "control", "weight": 0.5}, {"key": WORD, "weight": 0.5}]},
            "variants",
        ),
    ],
)
def test_text_longer_than_its_limit_is_a_400_naming_the_field(editor, metrics, overrides, field):
    response = editor.client.post(URL, _design(**overrides), format="json")

    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(k == field or k.startswith(f"{field}.") for k in errors), errors
    assert not Experiment.objects.exists()


def test_a_too_long_phase_reason_or_rationale_is_a_400_not_a_half_written_phase(editor, metrics):
    editor.client.post(URL, _design(), format="json")
    base = f"{URL}onboarding-checklist/"
    editor.client.post(f"{base}start")
    new_variants = [{"key": "control", "weight": 0.2}, {"key": "checklist", "weight": 0.8}]

    reason = editor.client.patch(
        base, {"variants": new_variants, "phase_reason": WORD}, format="json"
    )
    rationale = editor.client.post(
        f"{base}conclude", {"decision": "iterate", "rationale": WORD}, format="json"
    )

    assert reason.status_code == 400
    assert "phase_reason" in reason.json()["errors"]
    assert rationale.status_code == 400
    assert "rationale" in rationale.json()["errors"]
    experiment = Experiment.objects.get()
    assert experiment.status == ExperimentStatus.RUNNING
    assert experiment.phases.count() == 1
    assert sorted(experiment.variants.values_list("weight", flat=True)) == [0.5, 0.5]
