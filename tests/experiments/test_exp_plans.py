"""Templates and pre-registered plans, through the services: a template's plan copied into a new
experiment, the plan frozen at the first start, amendments that need a reason and land in the
audit log, and results that decide by the frozen rule on real analyses."""

from __future__ import annotations

from dataclasses import replace

import pytest

from experiments.decision_rules import DecisionRule, PlanSpec
from experiments.models import Experiment, ExperimentPlan
from experiments.plan_selectors import experiment_plan
from experiments.result_selectors import experiment_results
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import (
    ExperimentDesign,
    VariantSpec,
    design_of,
    experiment_create,
    experiment_update,
)
from experiments.services.lifecycle import experiment_start, experiment_stop
from experiments.services.templates import (
    TemplateSpec,
    experiment_create_from_template,
    template_create,
    template_update,
)
from plg_platform.errors import ValidationFailed
from plg_platform.models import AuditLog
from tests.experiments.test_exp_analysis_support import CUTOFF, generate, planted_experiment

pytestmark = pytest.mark.django_db

RULE = DecisionRule(ship_min_chance_to_win=0.9, rollback_on_primary_loss=False)


@pytest.fixture
def metrics(workspace, make_metric):
    for key in ("activation", "sessions", "unsubscribes", "errors"):
        make_metric(workspace, key)
    return workspace


def _template(workspace, **changes):
    spec = TemplateSpec(
        key="activation-test",
        name="Activation test",
        primary_metric="activation",
        secondary_metrics=("sessions",),
        guardrail_metrics=("unsubscribes",),
        planned_mde=0.1,
        min_runtime_days=14,
        planned_units_per_variant=2000,
        engine="bayesian",
        alpha=0.1,
        sequential=True,
        sequential_tuning=8000,
        cuped=False,
        correction="bh",
        decision_rule=RULE,
    )
    return template_create(workspace=workspace, spec=replace(spec, **changes), actor=None)


BASICS = {
    "key": "checklist",
    "name": "Checklist",
    "hypothesis_change": "a checklist",
    "variants": (VariantSpec("control", 0.5, is_control=True), VariantSpec("checklist", 0.5)),
}


def _from_template(workspace, template, **design):
    return experiment_create_from_template(
        workspace=workspace, template=template, design={**BASICS, **design}, actor=None
    )


# --- Templates ----------------------------------------------------------------------------------


def test_an_experiment_from_a_template_copies_its_whole_plan(metrics):
    template = _template(metrics)

    experiment = _from_template(metrics, template)

    design = design_of(experiment)
    assert (design.primary_metric, design.secondary_metrics, design.guardrail_metrics) == (
        "activation",
        ("sessions",),
        ("unsubscribes",),
    )
    assert (design.planned_mde, design.planned_duration_days) == (0.1, 14)
    assert design.planned_sample_size_per_variant == 2000
    assert (design.engine, design.alpha, design.sequential, design.sequential_tuning) == (
        "bayesian",
        0.1,
        True,
        8000,
    )
    assert (design.cuped, design.correction) == (False, "bh")
    assert design.decision_rule == RULE
    assert ExperimentPlan.objects.get(experiment=experiment).template == template
    created = AuditLog.objects.get(action="experiment.create")
    assert created.changes["template"] == "activation-test"
    assert created.changes["decision_rule"] == RULE.to_json()


def test_values_given_with_the_template_win_and_later_template_changes_touch_no_experiment(
    metrics,
):
    template = _template(metrics)

    experiment = _from_template(metrics, template, guardrail_metrics=("errors",), alpha=0.05)
    template_update(template=template, changes={"planned_mde": 0.2, "alpha": 0.01}, actor=None)

    design = design_of(Experiment.objects.get(pk=experiment.pk))
    assert design.guardrail_metrics == ("errors",)
    assert design.alpha == 0.05
    assert design.planned_mde == 0.1  # the template's value when it was created
    update = AuditLog.objects.get(action="experiment_template.update")
    assert update.changes == {
        "alpha": {"from": 0.1, "to": 0.01},
        "planned_mde": {"from": 0.1, "to": 0.2},
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"primary_metric": "nope"}, "primary_metric"),
        ({"guardrail_metrics": ("activation",)}, "guardrail_metrics"),
        ({"alpha": 0.5}, "alpha"),
        ({"planned_mde": 0.0}, "planned_mde"),
        ({"min_runtime_days": 0}, "min_runtime_days"),
        ({"planned_units_per_variant": 0}, "planned_units_per_variant"),
        ({"engine": "magic"}, "engine"),
        ({"correction": "bonferroni"}, "correction"),
        ({"key": "Not a slug"}, "key"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_bad_template_is_refused_naming_the_field_and_nothing_is_written(metrics, changes, field):
    with pytest.raises(ValidationFailed) as error:
        _template(metrics, **changes)
    assert error.value.field == field
    assert not AuditLog.objects.filter(action="experiment_template.create").exists()


def test_a_template_key_is_unique_in_its_workspace_only(metrics, other_workspace, make_metric):
    _template(metrics)
    with pytest.raises(ValidationFailed) as error:
        _template(metrics)
    assert error.value.field == "key"
    make_metric(other_workspace, "activation")
    assert _template(other_workspace, secondary_metrics=(), guardrail_metrics=()).pk


def test_another_workspaces_template_cannot_make_an_experiment(metrics, other_workspace):
    template = _template(metrics)
    with pytest.raises(ValidationFailed) as error:
        _from_template(other_workspace, template)
    assert error.value.field == "template"
    assert not Experiment.objects.exists()


# --- Freezing at the start ------------------------------------------------------------------------


def test_the_first_start_freezes_the_plan_and_a_resume_keeps_it(metrics):
    experiment = _from_template(metrics, _template(metrics))
    assert experiment_plan(experiment).frozen is None

    experiment_start(experiment=experiment, actor=None)

    record = ExperimentPlan.objects.get(experiment=experiment)
    assert record.frozen_at is not None
    assert record.frozen == {
        "primary_metric": {"key": "activation", "name": "activation"},
        "secondary_metrics": [{"key": "sessions", "name": "sessions"}],
        "guardrail_metrics": [{"key": "unsubscribes", "name": "unsubscribes"}],
        "planned_mde": 0.1,
        "min_runtime_days": 14,
        "planned_units_per_variant": 2000,
        "statistics": {
            "engine": "bayesian",
            "alpha": 0.1,
            "sequential": True,
            "sequential_tuning": 8000,
            "correction": "bh",
            "cuped": False,
        },
        "decision_rule": RULE.to_json(),
        "template": "activation-test",
    }
    started = AuditLog.objects.get(action="experiment.start")
    assert started.changes == {"plan": record.frozen}

    frozen_at = record.frozen_at
    experiment_stop(experiment=experiment, actor=None)
    experiment_start(experiment=experiment, actor=None)
    record.refresh_from_db()
    assert record.frozen_at == frozen_at
    assert AuditLog.objects.get(action="experiment.resume").changes == {}


def test_experiments_made_before_plans_existed_are_frozen_when_they_start(metrics):
    design = ExperimentDesign(**BASICS, primary_metric="activation", planned_mde=0.05)
    experiment = experiment_create(workspace=metrics, design=design, actor=None)
    ExperimentPlan.objects.filter(experiment=experiment).delete()  # as before the migration

    experiment_start(experiment=experiment, actor=None)

    frozen = PlanSpec.from_json(ExperimentPlan.objects.get(experiment=experiment).frozen)
    assert frozen.decision_rule == DecisionRule()
    assert frozen.planned_mde == 0.05


# --- Amendments -----------------------------------------------------------------------------------


def test_changing_a_planned_field_after_the_start_needs_a_reason_and_nothing_changes_without(
    metrics,
):
    experiment = _from_template(metrics, _template(metrics))
    experiment_start(experiment=experiment, actor=None)

    with pytest.raises(ValidationFailed) as error:
        experiment_update(experiment=experiment, changes={"planned_mde": 0.2}, actor=None)

    assert error.value.field == "reason"
    assert "planned_mde" in error.value.message
    assert Experiment.objects.get(pk=experiment.pk).planned_mde == 0.1
    assert not AuditLog.objects.filter(action__in=["experiment.update", "experiment.plan_amend"])


def test_an_amendment_is_audited_with_old_and_new_values_and_the_frozen_plan_stays(metrics, editor):
    experiment = _from_template(metrics, _template(metrics))
    experiment_start(experiment=experiment, actor=None)
    frozen = ExperimentPlan.objects.get(experiment=experiment).frozen
    new_rule = replace(RULE, rollback_on_primary_loss=True)

    experiment_update(
        experiment=experiment,
        changes={"planned_duration_days": 21, "decision_rule": new_rule, "name": "Checklist 2"},
        actor=editor.user,
        reason="Weekly seasonality is stronger than we thought",
    )

    amendment = AuditLog.objects.get(action="experiment.plan_amend")
    assert amendment.actor == editor.user
    assert amendment.changes == {
        "fields": {
            "decision_rule": {"from": RULE.to_json(), "to": new_rule.to_json()},
            "planned_duration_days": {"from": 14, "to": 21},
        },
        "reason": "Weekly seasonality is stronger than we thought",
    }
    record = ExperimentPlan.objects.get(experiment=experiment)
    assert record.frozen == frozen
    assert DecisionRule.from_json(record.decision_rule) == new_rule
    view = experiment_plan(Experiment.objects.get(pk=experiment.pk))
    assert view.frozen.min_runtime_days == 14
    assert view.current.min_runtime_days == 21
    (listed,) = view.amendments
    assert listed.actor == editor.user.email
    assert [(c.field, c.before, c.after) for c in listed.changes] == [
        ("decision_rule", RULE.to_json(), new_rule.to_json()),
        ("planned_duration_days", 14, 21),
    ]


def test_before_the_start_and_outside_the_plan_no_reason_is_needed(metrics):
    experiment = _from_template(metrics, _template(metrics))
    experiment_update(experiment=experiment, changes={"planned_mde": 0.3}, actor=None)
    experiment_start(experiment=experiment, actor=None)
    experiment_update(experiment=experiment, changes={"team": "Growth"}, actor=None)

    assert not AuditLog.objects.filter(action="experiment.plan_amend").exists()
    assert ExperimentPlan.objects.get(experiment=experiment).frozen["planned_mde"] == 0.3


def test_one_reason_serves_a_metric_change_that_is_both_a_new_phase_and_an_amendment(metrics):
    experiment = _from_template(metrics, _template(metrics))
    experiment_start(experiment=experiment, actor=None)

    experiment_update(
        experiment=experiment,
        changes={"guardrail_metrics": ("unsubscribes", "errors")},
        actor=None,
        reason="Errors spiked in the checklist",
    )

    assert experiment.phases.order_by("number").last().reason == "Errors spiked in the checklist"
    amendment = AuditLog.objects.get(action="experiment.plan_amend")
    assert amendment.changes["fields"] == {
        "guardrail_metrics": {"from": ["unsubscribes"], "to": ["unsubscribes", "errors"]}
    }


# --- Results decided by the frozen rule, on real analyses ----------------------------------------


def _analyse(experiment):
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)
    return experiment_results(experiment=Experiment.objects.get(pk=experiment.pk))


@pytest.fixture(scope="module")
def winning():
    return generate(units_per_variant=(1500, 1500), activation_lift=0.3)


def test_a_real_win_ships_once_runtime_and_units_are_reached(workspace, winning):
    experiment = planted_experiment(
        workspace, winning, planned_duration_days=14, planned_sample_size_per_variant=1400
    )

    results = _analyse(experiment)

    primary = next(m for m in results.metrics if m.role == "primary")
    (comparison,) = primary.comparisons
    # The phase started at T0 and the cut-off is 18 days later; every unit has matured.
    matured = [int(winning.mask(v).sum()) for v in winning.variants]
    assert [v.units for v in primary.variants] == matured == [1500, 1500]
    assert comparison.p_value < 0.05
    assert comparison.effect > 0
    decision = results.decision
    assert (decision.action, decision.clause) == ("ship", "ship")
    assert decision.reason.endswith(
        "The plan is complete: 18 of 14 planned days, 1,500 of 1,400 planned units per variant."
    )
    assert f"{comparison.effect * 100:+.1f}%" in decision.reason


def test_a_real_win_short_of_the_planned_units_keeps_running(workspace, winning):
    experiment = planted_experiment(
        workspace, winning, planned_duration_days=14, planned_sample_size_per_variant=4000
    )

    decision = _analyse(experiment).decision

    assert (decision.action, decision.clause) == ("keep_running", "wait_for_plan")
    assert decision.reason.endswith(
        "but the plan ships only once it is complete: 18 of 14 planned days, 1,500 of 4,000 "
        "planned units per variant."
    )


def test_a_planted_guardrail_harm_rolls_back(workspace):
    data = generate(units_per_variant=(3000, 3000), activation_lift=0.3, unsubscribe_lift=1.0)
    experiment = planted_experiment(
        workspace, data, planned_duration_days=14, planned_sample_size_per_variant=1000
    )

    results = _analyse(experiment)

    (harm,) = results.health.guardrails.results
    assert harm.harmful
    assert (results.decision.action, results.decision.clause) == (
        "roll_back",
        "rollback_guardrail",
    )
    assert results.decision.reason.startswith("Treatment harms the guardrail 7-day unsubscribes")


def test_an_amended_plan_does_not_move_the_decision_but_is_shown_beside_it(workspace, winning):
    experiment = planted_experiment(
        workspace, winning, planned_duration_days=14, planned_sample_size_per_variant=1400
    )
    experiment_update(
        experiment=experiment,
        changes={"planned_sample_size_per_variant": 5000},
        actor=None,
        reason="Wait for the quarter's traffic",
    )

    results = _analyse(experiment)

    assert results.decision.clause == "ship"  # the frozen plan's 1,400 units are reached
    assert results.amended_decision is not None
    assert results.amended_decision.clause == "wait_for_plan"
    assert "1,500 of 5,000 planned units" in results.amended_decision.reason
    assert len(results.plan.amendments) == 1
