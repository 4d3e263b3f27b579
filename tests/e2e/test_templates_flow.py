"""Templates and pre-registered decisions in a real browser: a template made on its page, a new
experiment started from it, and the results page's decision line naming the frozen rule's
clause, beside the frozen plan and its amendment on the experiment page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from experiments.models import Experiment, ExperimentPlan
from experiments.plan_selectors import template_get
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import VariantSpec, experiment_update
from experiments.services.lifecycle import experiment_start
from experiments.services.templates import experiment_create_from_template
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    T0,
    generate,
    metrics_create,
    write,
)

pytestmark = [pytest.mark.browser]


def test_a_template_page_a_new_experiment_from_it_and_the_decision_by_its_rule(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    keys = metrics_create(owner.workspace)

    # 1. A template, made on its page.
    page.goto("/experiment-templates/new")
    page.get_by_label("Name", exact=True).fill("Activation test")
    page.get_by_label("Key", exact=True).fill("activation-test")
    page.get_by_label("When to use it").fill("Onboarding and first-session changes.")
    page.get_by_label("Primary metric", exact=True).select_option(keys["activated"])
    page.locator("fieldset", has_text="Guardrail metrics").get_by_label(
        "7-day unsubscribes (" + keys["unsubscribed"] + ")"
    ).check()
    page.get_by_label("Smallest change worth detecting (%)").fill("20")
    page.get_by_label("Minimum runtime (days)").fill("14")
    page.get_by_label("Planned units per variant").fill("1400")
    page.get_by_label("When the primary metric loses").select_option("no")
    page.get_by_role("button", name="Save template").click()

    card = page.locator("#template-activation-test")
    expect(card).to_contain_text("Minimum runtime14 days")
    expect(card).to_contain_text(
        "Ship when the primary metric wins (p < 0.05) and no guardrail is harmed, once the plan "
        "is complete (14 days and 1,400 units per variant); roll back when a guardrail is harmed;"
    )
    shoot(page, "40-experiment-templates")

    # 2. "New experiment from this template" fills the design form.
    card.get_by_role("link", name="New experiment from this template").click()
    expect(page.locator("#from-template")).to_contain_text("From the template “Activation test”")
    expect(page.get_by_label("Primary metric", exact=True)).to_have_value(keys["activated"])
    expect(page.get_by_label("When the primary metric loses")).to_have_value("no")
    page.locator("#decision-rule").scroll_into_view_if_needed()
    shoot(page, "43-new-experiment-from-template")

    # 3. An experiment from the template, started, with the planted data analysed.
    template = template_get(workspace=owner.workspace, key="activation-test")
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = experiment_create_from_template(
        workspace=owner.workspace,
        template=template,
        design={
            "key": "checklist",
            "name": "Onboarding checklist",
            "hypothesis_change": "an onboarding checklist",
            "variants": (
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("treatment", 0.5, name="Checklist"),
            ),
        },
        actor=None,
    )
    experiment_start(experiment=experiment, actor=None)
    experiment.phases.update(started_at=T0)
    ExperimentPlan.objects.filter(experiment=experiment).update(frozen_at=T0)
    write(experiment, data)
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)
    experiment_update(
        experiment=Experiment.objects.get(pk=experiment.pk),
        changes={"planned_sample_size_per_variant": 3000},
        actor=None,
        reason="Traffic doubled after the launch",
    )

    page.goto("/experiments/checklist/results")
    expect(page.locator("#decision-action")).to_have_text("Ship")
    expect(page.locator("#decision-reason")).to_contain_text(
        "The plan is complete: 18 of 14 planned days, 1,500 of 1,400 planned units per variant."
    )
    expect(page.locator("#decision-clause")).to_contain_text(
        "Decided by the pre-registered rule: ship when the primary metric wins (p < 0.05) and no "
        "guardrail is harmed, once the plan is complete (14 days and 1,400 units per variant)."
    )
    expect(page.locator("#amended-decision")).to_contain_text(
        "The amended plan would say Keep running"
    )
    shoot(page, "41-results-decision-by-frozen-rule")

    page.locator("#decision-clause").get_by_role("link").click()
    plan = page.locator("#preregistered-plan")
    expect(plan).to_contain_text("from the template “Activation test”")
    expect(plan.locator("#amendments")).to_contain_text("Traffic doubled after the launch")
    expect(plan.locator("#amendments")).to_contain_text("Planned units per variant: 1,400 → 3,000")
    shoot(page, "42-experiment-frozen-plan")
