"""Pages of templates and pre-registered plans: the templates list and form, a new experiment
from a template, the frozen plan and its amendments on the experiment page, an amendment
through the edit form, and the results page's decision line naming the deciding clause."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from experiments.decision_rules import DecisionRule
from experiments.models import Experiment, ExperimentPlan, ExperimentTemplate
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import VariantSpec, experiment_update
from experiments.services.lifecycle import experiment_start
from experiments.services.templates import (
    TemplateSpec,
    experiment_create_from_template,
    template_create,
)
from plg_platform.models import AuditLog
from tests.experiments.test_exp_analysis_support import CUTOFF, generate, planted_experiment

pytestmark = pytest.mark.django_db

TEMPLATES = reverse("experiments_web:templates")
NEW_TEMPLATE = reverse("experiments_web:template-create")
NEW_EXPERIMENT = reverse("experiments_web:create")


@pytest.fixture
def metrics(make_metric, workspace):
    return [make_metric(workspace, key) for key in ("aha-rate", "exports", "unsubscribes")]


def _client(actor) -> Client:
    client = Client()
    client.force_login(actor.user)
    return client


def _text(fragment: str) -> str:
    """The fragment's text, tags replaced by spaces, without the space they leave before
    punctuation."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([.,;:)])", r"\1", text)


def _by_id(page: str, element_id: str, tag: str = "(?:section|p|dd|span|ul|table)") -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</{tag}>', page, re.S)
    assert match, element_id
    return _text(match.group(1))


def _template(workspace, **changes) -> ExperimentTemplate:
    values = {
        "key": "activation-test",
        "name": "Activation test",
        "primary_metric": "aha-rate",
        "guardrail_metrics": ("unsubscribes",),
        "planned_mde": 0.1,
        "min_runtime_days": 14,
        "planned_units_per_variant": 2000,
        **changes,
    }
    return template_create(workspace=workspace, spec=TemplateSpec(**values), actor=None)


def _template_form(**overrides) -> dict:
    data = {
        "key": "activation-test",
        "name": "Activation test",
        "description": "Onboarding changes",
        "primary_metric": "aha-rate",
        "guardrail_metrics": ["unsubscribes"],
        "planned_mde": "10",
        "min_runtime_days": "14",
        "planned_units_per_variant": "2000",
        "engine": "frequentist",
        "alpha": "0.05",
        "correction": "holm",
        "cuped": "on",
        "rule_ship_guardrails": "yes",
        "rule_ship_early": "no",
        "rule_rollback_guardrail": "yes",
        "rule_rollback_primary": "no",
        "rule_min_chance_to_win": "95",
    }
    data.update(overrides)
    return data


def test_templates_page_lists_each_plan_and_rule_in_words(editor, metrics):
    _template(editor.workspace)

    page = _client(editor).get(TEMPLATES).content.decode()

    card = _by_id(page, "template-activation-test", "section")
    assert "Primary metric aha rate" in card
    assert "Guardrail metrics unsubscribes" in card
    assert "Smallest change worth detecting 10% (relative)" in card
    assert "Minimum runtime 14 days" in card
    assert "Planned units per variant 2,000" in card
    assert "Method Frequentist, α = 0.05, Holm–Bonferroni correction, CUPED on" in card
    assert (
        "Decision rule. Ship when the primary metric wins (p < 0.05) and no guardrail is "
        "harmed, once the plan is complete (14 days and 2,000 units per variant)" in card
    )
    assert f"{NEW_EXPERIMENT}?template=activation-test" in page


def test_a_template_is_created_edited_and_deleted_through_its_pages(editor, metrics):
    client = _client(editor)

    bad = client.post(NEW_TEMPLATE, _template_form(primary_metric="", alpha="0.9"))
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"primary_metric", "alpha"}
    assert not ExperimentTemplate.objects.exists()

    assert client.post(NEW_TEMPLATE, _template_form()).status_code == 302
    template = ExperimentTemplate.objects.get()
    assert template.planned_mde == pytest.approx(0.1)
    assert DecisionRule.from_json(template.decision_rule) == DecisionRule(
        rollback_on_primary_loss=False
    )

    edit = reverse("experiments_web:template-edit", args=[template.key])
    assert client.get(edit).context["form"].initial["rule_rollback_primary"] == "no"
    response = client.post(edit, _template_form(key="ignored", min_runtime_days="21"))
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.key, template.min_runtime_days) == ("activation-test", 21)

    delete = reverse("experiments_web:template-delete", args=[template.key])
    assert client.post(delete).status_code == 302
    assert not ExperimentTemplate.objects.exists()


def test_viewers_see_templates_but_cannot_change_them(viewer, metrics):
    _template(viewer.workspace)
    client = _client(viewer)

    page = client.get(TEMPLATES).content.decode()

    assert "Activation test" in page
    assert NEW_TEMPLATE not in page
    assert client.get(NEW_TEMPLATE).status_code == 403
    delete = reverse("experiments_web:template-delete", args=["activation-test"])
    assert client.post(delete).status_code == 403
    assert ExperimentTemplate.objects.exists()


def test_a_new_experiment_from_a_template_is_prefilled_and_copies_the_plan(editor, metrics):
    _template(editor.workspace, decision_rule=DecisionRule(rollback_on_primary_loss=False))
    client = _client(editor)

    page = client.get(f"{NEW_EXPERIMENT}?template=activation-test")
    initial = page.context["form"].initial
    assert initial["template"] == "activation-test"
    assert initial["primary_metric"] == "aha-rate"
    assert initial["guardrail_metrics"] == ["unsubscribes"]
    assert initial["planned_mde"] == 10
    assert initial["rule_rollback_primary"] == "no"
    assert "From the template “Activation test”." in page.content.decode()
    assert client.get(f"{NEW_EXPERIMENT}?template=nope").status_code == 404

    form = {
        "template": "activation-test",
        "name": "Checklist",
        "key": "checklist",
        "hypothesis_change": "an onboarding checklist",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
        "variants-0-key": "control",
        "variants-0-weight": "50",
        "variants-1-key": "checklist",
        "variants-1-weight": "50",
        "coverage": "100",
        "primary_metric": "aha-rate",
        "guardrail_metrics": ["unsubscribes"],
        "planned_mde": "10",
        "engine": "frequentist",
        "correction": "holm",
        "alpha": "0.05",
        "rule_ship_guardrails": "yes",
        "rule_ship_early": "no",
        "rule_rollback_guardrail": "yes",
        "rule_rollback_primary": "no",
    }
    assert client.post(NEW_EXPERIMENT, form).status_code == 302

    experiment = Experiment.objects.get(key="checklist")
    # No baseline was given, so the template's runtime and units stay.
    assert (experiment.planned_duration_days, experiment.planned_sample_size_per_variant) == (
        14,
        2000,
    )
    plan = ExperimentPlan.objects.get(experiment=experiment)
    assert plan.template.key == "activation-test"
    assert DecisionRule.from_json(plan.decision_rule).rollback_on_primary_loss is False


def _started_from_template(workspace) -> Experiment:
    experiment = experiment_create_from_template(
        workspace=workspace,
        template=_template(workspace),
        design={
            "key": "checklist",
            "name": "Checklist",
            "hypothesis_change": "an onboarding checklist",
            "variants": (
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("checklist", 0.5),
            ),
        },
        actor=None,
    )
    return experiment_start(experiment=experiment, actor=None)


def test_the_experiment_page_shows_the_frozen_plan_and_its_amendments(editor, metrics):
    experiment = _started_from_template(editor.workspace)
    experiment_update(
        experiment=experiment,
        changes={"planned_mde": 0.2},
        actor=editor.user,
        reason="A 10% change is not worth the wait",
    )

    page = _client(editor).get(reverse("experiments_web:detail", args=["checklist"]))
    text = page.content.decode()

    note = _by_id(text, "plan-frozen-note")
    assert note.startswith("Frozen when the experiment started,")
    assert "from the template “Activation test”" in note
    frozen = _by_id(text, "preregistered-plan", "section")
    assert "Smallest change worth detecting 10% (relative)" in frozen  # as frozen
    assert _by_id(text, "frozen-rule").startswith("Decision rule. Ship when the primary metric")
    amendments = _by_id(text, "amendments", "table")
    assert "Smallest change worth detecting: 10% → 20%" in amendments
    assert "A 10% change is not worth the wait" in amendments
    assert editor.user.email in amendments


def test_a_draft_says_its_plan_freezes_at_the_start(editor, metrics):
    experiment_create_from_template(
        workspace=editor.workspace,
        template=_template(editor.workspace),
        design={
            "key": "checklist",
            "name": "Checklist",
            "hypothesis_change": "a checklist",
            "variants": (VariantSpec("control", 0.5, is_control=True), VariantSpec("b", 0.5)),
        },
        actor=None,
    )
    client = _client(editor)

    page = client.get(reverse("experiments_web:detail", args=["checklist"])).content.decode()
    start = client.get(reverse("experiments_web:start", args=["checklist"])).content.decode()

    assert _by_id(page, "plan-frozen-note").startswith("Starting the experiment freezes this plan")
    assert "The plan below is frozen." in _by_id(start, "freezes-plan", "li")
    assert _by_id(start, "start-rule").startswith("Decision rule. Ship when the primary metric")


def test_changing_the_plan_of_a_started_experiment_in_the_form_needs_a_reason(editor, metrics):
    experiment = _started_from_template(editor.workspace)
    client = _client(editor)
    url = reverse("experiments_web:edit", args=[experiment.key])
    form = client.get(url).context["form"]
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields and not form.fields[name].disabled
    }
    data.update(
        {
            "variants-TOTAL_FORMS": "2",
            "variants-INITIAL_FORMS": "0",
            "variants-MIN_NUM_FORMS": "2",
            "variants-MAX_NUM_FORMS": "10",
            "variants-0-key": "control",
            "variants-0-weight": "50",
            "variants-1-key": "checklist",
            "variants-1-weight": "50",
            "sequential": "",
            "rule_rollback_primary": "no",
        }
    )
    data = {k: v for k, v in data.items() if v != ""}

    silent = client.post(url, data)
    explained = client.post(url, {**data, "phase_reason": "Losses are fine while we learn"})

    assert silent.status_code == 200
    assert "phase_reason" in silent.context["form"].errors
    assert "amendment" in silent.context["form"].errors["phase_reason"][0]
    assert explained.status_code == 302
    amendment = AuditLog.objects.get(action="experiment.plan_amend")
    assert list(amendment.changes["fields"]) == ["decision_rule"]
    assert amendment.changes["reason"] == "Losses are fine while we learn"


def test_the_results_decision_line_says_which_clause_of_the_frozen_rule_decided(editor):
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(
        editor.workspace, data, planned_duration_days=14, planned_sample_size_per_variant=1400
    )
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot = snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)
    primary = next(m for m in snapshot.outputs["metrics"] if m["role"] == "primary")
    (comparison,) = primary["comparisons"]

    page = _client(editor).get(reverse("results_web:page", args=[experiment.key]))
    text = page.content.decode()

    assert _by_id(text, "decision-action", "span") == "Ship"
    effect = f"{comparison['effect'] * 100:+.1f}%"
    reason = _by_id(text, "decision-reason", "p")
    assert reason.startswith(f"The primary metric, 7-day activation, won for Treatment: {effect}")
    assert reason.endswith(
        "no guardrail was harmed. The plan is complete: 18 of 14 planned days, 1,500 of 1,400 "
        "planned units per variant."
    )
    assert _by_id(text, "decision-clause", "p") == (
        "Decided by the pre-registered rule: ship when the primary metric wins (p < 0.05) and no "
        "guardrail is harmed, once the plan is complete (14 days and 1,400 units per variant). "
        "The plan frozen at the start."
    )

    experiment_update(
        experiment=experiment,
        changes={"planned_sample_size_per_variant": 3000},
        actor=None,
        reason="Wait for more traffic",
    )
    text = _client(editor).get(reverse("results_web:page", args=[experiment.key])).content
    text = text.decode()
    assert _by_id(text, "decision-action", "span") == "Ship"
    assert "(1 amendment since)" in _by_id(text, "decision-clause", "p")
    assert _by_id(text, "amended-decision", "p").startswith(
        "The amended plan would say Keep running:"
    )
