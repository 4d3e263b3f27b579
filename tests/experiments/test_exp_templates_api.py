"""The templates API and the plan in the experiments API: CRUD, create from a template, the
plan frozen at the start with its amendments, and bad input as a 4xx naming the field."""

from __future__ import annotations

import pytest

from experiments.models import Experiment, ExperimentTemplate
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from plg_platform.models import AuditLog
from tests.experiments.test_exp_analysis_support import CUTOFF, generate, planted_experiment

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/experiment-templates/"
EXPERIMENTS = "/api/v1/experiments/"


@pytest.fixture
def metrics(workspace, make_metric):
    for key in ("activation", "sessions", "unsubscribes"):
        make_metric(workspace, key)


def _template(**overrides):
    return {
        "key": "activation-test",
        "name": "Activation test",
        "primary_metric": "activation",
        "guardrail_metrics": ["unsubscribes"],
        "planned_mde": 0.1,
        "min_runtime_days": 14,
        "planned_units_per_variant": 2000,
        "decision_rule": {"rollback_when": {"primary_loses": False}},
        **overrides,
    }


def _experiment(**overrides):
    return {
        "key": "checklist",
        "name": "Checklist",
        "hypothesis": "an onboarding checklist",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "checklist", "weight": 0.5}],
        **overrides,
    }


def test_templates_crud(editor, metrics):
    created = editor.client.post(TEMPLATES, _template(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["primary_metric"] == "activation"
    assert body["guardrail_metrics"] == ["unsubscribes"]
    assert body["decision_rule"] == {
        "ship_when": {
            "min_chance_to_win": 0.95,
            "no_guardrail_harmed": True,
            "before_plan_complete": False,
        },
        "rollback_when": {"guardrail_harmed": True, "primary_loses": False},
    }
    assert body["rule"].startswith("Ship when the primary metric wins (p < 0.05)")
    assert "; roll back when a guardrail is harmed;" in body["rule"]

    listed = editor.client.get(TEMPLATES).json()
    assert [t["key"] for t in listed["results"]] == ["activation-test"]

    # A PATCH of the rule changes only the keys it gives.
    patched = editor.client.patch(
        f"{TEMPLATES}activation-test/",
        {"decision_rule": {"ship_when": {"before_plan_complete": True}}, "sequential": True},
        format="json",
    ).json()
    assert patched["decision_rule"]["ship_when"]["before_plan_complete"] is True
    assert patched["decision_rule"]["rollback_when"]["primary_loses"] is False
    assert patched["sequential"] is True
    assert editor.client.get(f"{TEMPLATES}activation-test/").json() == patched

    assert editor.client.delete(f"{TEMPLATES}activation-test/").status_code == 204
    assert not ExperimentTemplate.objects.exists()
    actions = list(
        AuditLog.objects.filter(action__startswith="experiment_template")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "experiment_template.create",
        "experiment_template.update",
        "experiment_template.delete",
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "status"),
    [
        ({"primary_metric": "nope"}, "primary_metric", 400),
        ({"guardrail_metrics": ["nope"]}, "guardrail_metrics", 400),
        ({"alpha": 0.6}, "alpha", 400),
        ({"planned_mde": -0.1}, "planned_mde", 400),
        ({"min_runtime_days": 0}, "min_runtime_days", 400),
        ({"planned_units_per_variant": "many"}, "planned_units_per_variant", 400),
        ({"engine": "magic"}, "engine", 400),
        ({"decision_rule": "ship it"}, "decision_rule", 400),
        ({"decision_rule": {"ship_when": {"soon": True}}}, "decision_rule.ship_when.soon", 400),
        (
            {"decision_rule": {"ship_when": {"min_chance_to_win": 2}}},
            "decision_rule.ship_when.min_chance_to_win",
            400,
        ),
        (
            {"decision_rule": {"rollback_when": {"guardrail_harmed": "yes"}}},
            "decision_rule.rollback_when.guardrail_harmed",
            400,
        ),
        ({"colour": "red"}, "colour", 400),
    ],
)
def test_bad_template_input_is_a_400_naming_the_field(editor, metrics, overrides, field, status):
    response = editor.client.post(TEMPLATES, _template(**overrides), format="json")

    assert response.status_code == status, response.json()
    assert field in response.json()["errors"], response.json()
    assert not ExperimentTemplate.objects.exists()


def test_templates_are_per_workspace_and_need_an_editor_to_change(
    editor, viewer, outsider, metrics
):
    editor.client.post(TEMPLATES, _template(), format="json")

    assert viewer.client.get(f"{TEMPLATES}activation-test/").status_code == 200
    assert viewer.client.post(TEMPLATES, _template(key="other"), format="json").status_code == 403
    assert outsider.client.get(f"{TEMPLATES}activation-test/").status_code == 404
    assert outsider.client.get(TEMPLATES).json()["count"] == 0
    assert outsider.client.delete(f"{TEMPLATES}activation-test/").status_code == 404
    # Another workspace's template cannot make an experiment either.
    response = outsider.client.post(
        EXPERIMENTS, _experiment(template="activation-test"), format="json"
    )
    assert response.status_code == 400
    assert "template" in response.json()["errors"]
    assert ExperimentTemplate.objects.count() == 1


def test_an_experiment_created_from_a_template_shows_its_plan(editor, metrics):
    editor.client.post(TEMPLATES, _template(), format="json")

    created = editor.client.post(
        EXPERIMENTS,
        _experiment(template="activation-test", secondary_metrics=["sessions"]),
        format="json",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["metrics"] == {
        "primary": ["activation"],
        "secondary": ["sessions"],
        "guardrail": ["unsubscribes"],
    }
    assert (body["planned_mde"], body["planned_duration_days"]) == (0.1, 14)
    assert body["planned_sample_size_per_variant"] == 2000
    plan = body["plan"]
    assert plan["template"] == "activation-test"
    assert plan["frozen"] is None
    assert plan["decision_rule"]["rollback_when"]["primary_loses"] is False
    assert plan["current"]["min_runtime_days"] == 14


def test_without_a_template_the_primary_metric_is_required(editor, metrics):
    response = editor.client.post(EXPERIMENTS, _experiment(), format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["primary_metric"]
    assert not Experiment.objects.exists()


def test_after_the_start_an_amendment_needs_a_reason_and_is_listed_beside_the_frozen_plan(
    editor, metrics
):
    editor.client.post(TEMPLATES, _template(), format="json")
    editor.client.post(EXPERIMENTS, _experiment(template="activation-test"), format="json")
    base = f"{EXPERIMENTS}checklist/"
    started = editor.client.post(f"{base}start").json()
    assert started["plan"]["frozen"]["planned_units_per_variant"] == 2000
    assert started["plan"]["frozen_at"] is not None

    silent = editor.client.patch(base, {"planned_sample_size_per_variant": 3000}, format="json")
    rule = editor.client.patch(
        base, {"decision_rule": {"rollback_when": {"primary_loses": True}}}, format="json"
    )
    explained = editor.client.patch(
        base,
        {"planned_sample_size_per_variant": 3000, "reason": "Lower traffic than planned"},
        format="json",
    )
    late_template = editor.client.patch(base, {"template": "activation-test"}, format="json")

    assert silent.status_code == 400
    assert list(silent.json()["errors"]) == ["reason"]
    assert rule.status_code == 400
    assert list(rule.json()["errors"]) == ["reason"]
    assert explained.status_code == 200, explained.json()
    assert late_template.status_code == 400
    assert list(late_template.json()["errors"]) == ["template"]
    plan = explained.json()["plan"]
    assert plan["frozen"]["planned_units_per_variant"] == 2000
    assert plan["current"]["planned_units_per_variant"] == 3000
    (amendment,) = plan["amendments"]
    assert amendment["reason"] == "Lower traffic than planned"
    assert amendment["actor"] == editor.user.email
    assert amendment["changes"] == [
        {"field": "planned_sample_size_per_variant", "from": 2000, "to": 3000}
    ]


def test_a_bad_rule_on_an_experiment_is_a_400_naming_the_key(editor, metrics):
    response = editor.client.post(
        EXPERIMENTS,
        _experiment(primary_metric="activation", decision_rule={"ship_when": {"now": True}}),
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["decision_rule.ship_when.now"]
    assert not Experiment.objects.exists()


def test_results_api_shows_the_plan_and_the_deciding_clause(editor, metrics):
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(
        editor.workspace, data, planned_duration_days=14, planned_sample_size_per_variant=1400
    )
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    body = editor.client.get(f"{EXPERIMENTS}{experiment.key}/results").json()

    decision = body["decision"]
    assert (decision["action"], decision["clause"]) == ("ship", "ship")
    assert decision["clause_text"] == (
        "ship when the primary metric wins (p < 0.05) and no guardrail is harmed, once the "
        "plan is complete (14 days and 1,400 units per variant)"
    )
    assert decision["rule"] == body["plan"]["frozen"]["rule"]
    assert body["plan"]["frozen"]["planned_units_per_variant"] == 1400
    assert body["amended_decision"] is None
