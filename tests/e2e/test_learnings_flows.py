"""End to end in a real browser: conclude an experiment in its dialog, find its learning with a
stemmed search, open it and override an effect with a reason; the "tried before?" panel while
drafting a similar experiment; the meta-analysis chart. Screenshots of each page are saved."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from experiments.models import ExperimentStatus, ResultSnapshot
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from experiments.stats import ENGINE_VERSION
from learnings.models import EffectOverride, Learning
from learnings.services.effects import REASON_REQUIRED
from metrics.public import metric_create
from tests.e2e.conftest import SCREENSHOTS, sign_in
from tests.learnings.test_learning_support import (
    MetricResult,
    at,
    concluded_experiment,
    snapshot_outputs,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

METRICS = {
    "aha-7d": ("Aha: first document in 7 days", ()),
    "unsub-7d": ("Unsubscribed in 7 days", ()),
    "week2-return": ("Returned in week 2", ("retention",)),
}


def _analysed_running_experiment(workspace):
    """An experiment designed and started through the services, with one analysis stored."""
    for key, (name, tags) in METRICS.items():
        metric_create(
            workspace=workspace,
            key=key,
            name=name,
            spec={"type": "conversion", "event": key, "window_days": 7, "tags": list(tags)},
        )
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key="onboarding-checklist",
            name="Onboarding checklist",
            hypothesis_change="adding an onboarding checklist",
            hypothesis_audience="new workspace owners",
            hypothesis_outcome="raise the share reaching the Aha moment in 7 days",
            hypothesis_evidence="interviews show owners do not find sharing",
            variants=(
                VariantSpec("control", 0.5, name="Control", is_control=True),
                VariantSpec("checklist", 0.5, name="Checklist"),
            ),
            primary_metric="aha-7d",
            secondary_metrics=("week2-return",),
            guardrail_metrics=("unsub-7d",),
            product_area="Onboarding",
            funnel_stage="activation",
            team="Growth",
        ),
        actor=None,
    )
    experiment_start(experiment=experiment, actor=None)
    outputs = snapshot_outputs(
        [
            MetricResult("aha-7d", "primary", (10000, 1000), (10000, 1150)),
            MetricResult(
                "unsub-7d", "guardrail", (10000, 200), (10000, 205), higher_is_better=False
            ),
            MetricResult(
                "week2-return", "secondary", (10000, 3000), (10000, 3250), tags=("retention",)
            ),
        ]
    )
    for metric in outputs["metrics"]:
        metric["name"] = METRICS[metric["key"]][0]
        for comparison in metric["comparisons"]:
            comparison["variant"] = "checklist"
            comparison["summary"] = (
                comparison["summary"]
                .replace("treatment", "Checklist")
                .replace(metric["key"], metric["name"].lower())
            )
    ResultSnapshot.objects.create(
        experiment=experiment,
        phase=experiment.phases.get(),
        data_cutoff=timezone.now(),
        engine_version=ENGINE_VERSION,
        settings={"engine": "frequentist", "difference": "relative"},
        inputs={},
        outputs=outputs,
        health={"srm": {"flag": False}},
        run_seconds=0.01,
    )
    return experiment


def test_conclude_in_the_dialog_then_find_open_and_override_the_learning(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    experiment = _analysed_running_experiment(owner.workspace)

    page.goto(f"/experiments/{experiment.key}/")
    page.get_by_role("link", name="Conclude…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Conclude “Onboarding checklist”")
    # The variant to ship shows only for "ship"; the rationale is required.
    dialog.get_by_label("Roll back").check()
    expect(dialog.get_by_label("Variant to ship")).to_be_hidden()
    dialog.get_by_role("button", name="Conclude").click()
    expect(dialog.locator("#id_rationale_error")).to_contain_text("needs a rationale")
    assert experiment.__class__.objects.get(pk=experiment.pk).status == ExperimentStatus.RUNNING

    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="Conclude…").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator(".errorlist")).to_have_count(0)  # a fresh form
    dialog.get_by_label("Ship a variant").check()
    expect(dialog.get_by_label("Variant to ship")).to_have_value("checklist")
    dialog.get_by_label("Rationale").fill(
        "Aha rate up 15% with no harm to unsubscribes; week-2 return up too."
    )
    page.screenshot(path=str(SCREENSHOTS / "15-conclude-dialog.png"))  # the viewport, as seen
    dialog.get_by_role("button", name="Conclude").click()
    expect(dialog.get_by_role("status")).to_contain_text("is concluded")
    learning = Learning.objects.get(experiment=experiment)
    expect(dialog.locator("#recorded-learning")).to_have_attribute(
        "href", f"/learnings/{learning.pk}/"
    )
    page.screenshot(path=str(SCREENSHOTS / "16-conclude-done.png"))
    assert learning.outcome == "win"
    assert learning.retention_effect == "positive"
    dialog.get_by_role("link", name="Back to the experiment").click()
    expect(page.locator("#status")).to_have_text("Concluded")
    expect(page.get_by_role("link", name="Its learning in the library")).to_be_visible()

    # Find it through search with a stemmed word.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Learnings").click()
    page.get_by_role("searchbox", name="Search learnings").fill("onboard")
    page.get_by_role("button", name="Search").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"^1 learning for “onboard”"))
    ).to_be_visible()
    hit = page.locator("ol.hits li").first
    expect(hit.locator("mark").first).to_have_text(re.compile("onboarding", re.I))
    shoot(page, "13-learnings-search")

    hit.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Onboarding checklist")
    expect(page.locator("#results-table")).to_contain_text("Aha: first document in 7 days")
    expect(page.locator("#results-plot")).to_have_attribute("data-rendered", "1")
    expect(page.locator("#effect-retention")).to_contain_text("Returned in week 2")

    # Override the (unmeasured) effect on acquisition: a reason is required.
    panel = page.locator("#effect-acquisition")
    panel.get_by_text("Override this tag").click()
    panel.get_by_label("Effect").select_option("positive")
    panel.get_by_role("button", name="Save override").click()
    panel = page.locator("#effect-acquisition")
    expect(panel.locator("#id_acquisition-reason_error")).to_have_text(REASON_REQUIRED)
    expect(panel.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    assert not EffectOverride.objects.exists()
    panel.get_by_label("Reason").fill("Sign-ups from shared checklists rose in the same weeks")
    panel.get_by_role("button", name="Save override").click()
    expect(page.get_by_role("status")).to_contain_text("Effect tag changed")
    expect(page.locator("#effect-acquisition")).to_contain_text("overridden")
    expect(page.locator("#effect-acquisition")).to_contain_text("Sign-ups from shared checklists")
    learning.refresh_from_db()
    assert learning.acquisition_effect == "positive"
    shoot(page, "14-learning-page")


def test_tried_before_panel_shows_the_learning_while_drafting(
    signed_in_page, owner, shoot, make_metric
):
    page = signed_in_page
    concluded_experiment(
        owner.workspace,
        make_metric,
        key="onboarding-checklist",
        name="Onboarding checklist",
        change="adding an onboarding checklist for new workspace owners",
        product_area="Onboarding",
        results=[MetricResult("aha", "primary", (10000, 1000), (10000, 1150))],
    )
    concluded_experiment(
        owner.workspace,
        make_metric,
        key="annual-pricing",
        name="Annual pricing toggle",
        change="showing annual prices first on the pricing page",
        product_area="Billing",
        results=[MetricResult("paid", "primary", (5000, 250), (5000, 260))],
    )
    learning = Learning.objects.get(experiment__key="onboarding-checklist")

    page.goto("/experiments/new")
    panel = page.locator("#tried-before")
    expect(panel).to_contain_text("as you write the hypothesis")
    page.get_by_label("Product area").fill("Onboarding")
    page.get_by_label("We believe").press_sequentially("a checklist during onboarding", delay=20)
    page.get_by_label("for", exact=True).fill("new owners")
    link = panel.get_by_role("link", name=re.compile("Onboarding checklist"))
    expect(link).to_have_attribute("href", f"/learnings/{learning.pk}/")
    expect(panel).to_contain_text("same area")
    expect(panel).not_to_contain_text("Annual pricing toggle")
    panel.scroll_into_view_if_needed()
    shoot(page, "17-tried-before-panel")


def test_meta_analysis_chart_renders(signed_in_page, owner, shoot, make_metric):
    page = signed_in_page
    arms = [
        ("checklist", "Onboarding", (10000, 1000), (10000, 1150), "ship", "Growth"),
        ("tooltip-tour", "Onboarding", (10000, 1000), (10000, 1040), "ship", "Growth"),
        ("share-button", "Editor › Sharing", (8000, 800), (8000, 880), "ship", "Collab"),
        ("dark-mode", "Editor", (8000, 800), (8000, 770), "rollback", "Collab"),
        ("pricing-copy", "Billing", (5000, 500), (5000, 520), "iterate", "Monetisation"),
        ("annual-first", "Billing", (5000, 500), (5000, 560), "ship", "Monetisation"),
    ]
    for key, area, control, treatment, decision, team in arms:
        concluded_experiment(
            owner.workspace,
            make_metric,
            key=key,
            product_area=area,
            team=team,
            results=[MetricResult("aha", "primary", control, treatment)],
            decision=decision,
            concluded_at=at(2026, 2, 10),
        )
    page.goto("/learnings/")
    page.get_by_role("link", name="Meta-analysis").first.click()
    expect(page.get_by_role("heading", name=re.compile("^Method: Empirical Bayes"))).to_be_visible()
    expect(page.locator("canvas#win-chart")).to_have_attribute("data-rendered", "1")
    expect(page.locator("canvas#impact-chart")).to_have_attribute("data-rendered", "1")
    rows = page.locator("#meta-table tbody tr")
    expect(rows).to_have_count(5)  # four areas and the total
    expect(rows.last).to_contain_text("All experiments")
    shoot(page, "18-meta-analysis")

    page.get_by_label("Group by").select_option("team")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Win rate by team")).to_be_visible()
    expect(page.locator("canvas#win-chart")).to_have_attribute("data-rendered", "1")

    page.get_by_role("link", name="Product areas").click()
    expect(page.get_by_role("row", name=re.compile("Sharing"))).to_be_visible()
    shoot(page, "19-product-areas")


def test_learnings_search_fits_a_phone(phone_page, owner, shoot, make_metric):
    concluded_experiment(
        owner.workspace,
        make_metric,
        key="onboarding-checklist",
        name="Onboarding checklist",
        product_area="Onboarding",
        results=[MetricResult("aha", "primary", (10000, 1000), (10000, 1150))],
    )
    page = phone_page
    sign_in(page, owner.email, owner.password)
    learning = Learning.objects.get()
    for path, name in (
        ("/learnings/?q=onboarding", "20-phone-learnings-search"),
        (f"/learnings/{learning.pk}/", "21-phone-learning-page"),
    ):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        shoot(page, name)


# --- Issue 13: wording, the insight, forgiving search, too-few meta-analysis ----------------


def test_the_conclude_dialog_asks_what_we_learned_prefilled_with_the_verdict(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    experiment = _analysed_running_experiment(owner.workspace)
    verdict = ResultSnapshot.objects.get(experiment=experiment).outputs["metrics"][0][
        "comparisons"
    ][0]["summary"]
    page.goto(f"/experiments/{experiment.key}/")
    page.get_by_role("link", name="Conclude…").click()
    dialog = page.get_by_role("dialog")
    learned = dialog.get_by_label("What we learned")
    expect(learned).to_have_value(verdict)
    dialog.get_by_label("Ship a variant").check()
    dialog.get_by_label("Rationale").fill("Aha up 15%, unsubscribes flat.")
    insight = "Owners need a first step, not a tour: the checklist's first item did the work."
    learned.fill(insight)
    dialog.locator("#id_learned").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "22-conclude-what-we-learned.png"))
    dialog.get_by_role("button", name="Conclude").click()
    expect(dialog.locator("#recorded-insight")).to_have_text(insight)
    dialog.get_by_role("link", name="Open the learning").click()
    expect(page.locator("main")).to_contain_text(insight)
    assert Learning.objects.get(experiment=experiment).learned == insight
    shoot(page, "23-learning-with-insight")


def test_demo_hypothesis_reads_each_connecting_word_once(signed_in_page, owner, shoot):
    from learnings.demo import CHECKLIST_DESIGN

    page = signed_in_page
    for key in (
        CHECKLIST_DESIGN.primary_metric,
        *CHECKLIST_DESIGN.secondary_metrics,
        *CHECKLIST_DESIGN.guardrail_metrics,
    ):
        metric_create(
            workspace=owner.workspace,
            key=key,
            name=key,
            spec={"type": "conversion", "event": key, "window_days": 7},
        )
    experiment_create(workspace=owner.workspace, design=CHECKLIST_DESIGN, actor=None)
    page.goto(f"/experiments/{CHECKLIST_DESIGN.key}/")
    text = page.locator("main").inner_text()
    assert (
        "We believe showing new users a three-step onboarding checklist after signing up "
        "for every new user in their first week will raise 7-day Aha" in text
    )
    assert not re.search(r"\b(for|will|because)\s+\1\b", text, re.I), text
    shoot(page, "24-demo-hypothesis")


def _library(workspace):
    from tests.learnings.test_learning_support import manual_learning

    manual_learning(
        workspace,
        "Shorter signup form",
        learned="Cutting the signup form from six fields to three raised completed signups.",
        area="Acquisition › Signup",
    )
    manual_learning(
        workspace,
        "Social sign-up buttons",
        learned="Google sign-up buttons doubled mobile registrations.",
        area="Acquisition › Signup",
    )
    manual_learning(
        workspace,
        "Annual plan discount",
        learned="Showing the annual price per month moved upgrades to the annual plan.",
        area="Billing",
    )


def _search(page, words: str) -> None:
    page.get_by_role("searchbox", name="Search learnings").fill(words)
    page.get_by_role("button", name="Search").click()


def test_search_forgives_hyphens_synonyms_questions_and_typos(signed_in_page, owner, shoot):
    page = signed_in_page
    _library(owner.workspace)
    page.goto("/learnings/")

    _search(page, "sign-up")
    expect(
        page.get_by_role("heading", name=re.compile("^2 learnings for “sign-up”"))
    ).to_be_visible()

    _search(page, "yearly")
    expect(page.get_by_role("heading", name=re.compile("^1 learning for “yearly”"))).to_be_visible()
    expect(page.locator("#expansions")).to_contain_text("annual (for “yearly”)")
    expect(page.locator("ol.hits mark").first).to_have_text(re.compile("annual", re.I))
    shoot(page, "25-search-synonym")

    _search(page, "does a shorter signup form help")
    expect(page.locator("#any-word")).to_contain_text("No learning has all of these words")
    expect(page.locator("ol.hits li").first).to_contain_text("Shorter signup form")
    shoot(page, "26-search-any-word")

    _search(page, "anual discont")
    expect(page.locator("#did-you-mean")).to_contain_text("Did you mean annual discount?")
    expect(page.locator("#no-filters")).to_contain_text("with none found")
    expect(page.locator("#nothing-found")).to_contain_text("among the 3 learnings")
    expect(page.locator("main")).not_to_contain_text("Filters appear once the library has")
    shoot(page, "27-search-did-you-mean")
    page.locator("#did-you-mean").get_by_role("link").click()
    expect(
        page.get_by_role("heading", name=re.compile("^1 learning for “annual discount”"))
    ).to_be_visible()

    # Editors extend the synonyms; the search follows.
    page.get_by_role("link", name="Search synonyms").click()
    box = page.get_by_label("Synonym groups")
    expect(box).to_have_value(re.compile("^annual, yearly$", re.M))
    box.fill(box.input_value() + "\nsignup form, registration form, sign up flow")
    page.get_by_role("button", name="Save synonyms").click()
    expect(page.get_by_role("status")).to_contain_text("Synonyms saved")
    shoot(page, "28-search-synonyms")
    page.goto("/learnings/")
    _search(page, '"sign up flow"')
    expect(page.locator("ol.hits li").first).to_contain_text("Shorter signup form")


def test_meta_analysis_of_one_experiment_says_what_it_needs(
    signed_in_page, owner, shoot, make_metric
):
    page = signed_in_page
    concluded_experiment(
        owner.workspace,
        make_metric,
        key="checklist",
        name="Onboarding checklist",
        product_area="Onboarding",
        results=[MetricResult("aha", "primary", (10000, 1000), (10000, 1010))],
        decision="rollback",
        concluded_at=at(2026, 2, 10),
    )
    page.goto("/learnings/meta-analysis")
    expect(page.locator("#too-few")).to_contain_text(
        "1 concluded experiment so far: too few for a win rate to mean something"
    )
    expect(page.locator("#too-few")).to_contain_text("0%–79%")
    expect(page.locator("#too-few")).to_contain_text("about 12 experiments")
    expect(page.locator("canvas")).to_have_count(0)
    expect(page.locator("#few-table")).to_contain_text("Onboarding checklist")
    shoot(page, "29-meta-analysis-one-experiment")
