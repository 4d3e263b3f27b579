"""End to end in a real browser: sign in, onboarding, the calculator, designing and starting an
experiment. Each main page is saved as a screenshot to look at."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from experiments.models import Experiment, ExperimentStatus
from experiments.stats import AnalysisRequest, PowerRequest, analyze, plan
from experiments.traffic import DAILY_ACTIVES, SIGNUPS, daily_traffic_read
from outcomes.kpis.refresh import kpis_refresh
from plg_platform.models import Event
from tests.e2e.conftest import sign_in
from tests.outcomes.support import NOW, configure, generate, store

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_lands_on_onboarding_and_the_snippet_key_accepts_events(page, owner, shoot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    shoot(page, "01-sign-in")

    page.get_by_label("E-mail").fill(owner.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")

    sign_in(page, owner.email, owner.password)
    expect(page.get_by_role("heading", name="No events yet")).to_be_visible()
    expect(page.get_by_role("heading", name="First steps")).to_be_visible()
    expect(page.locator("#snippet-curl")).to_contain_text("YOUR_INGESTION_KEY")

    page.get_by_role("button", name="Create keys for these snippets").click()
    curl = page.locator("#snippet-curl").inner_text()
    key = re.search(r"Bearer (\S+)\"", curl).group(1)
    assert key != "YOUR_INGESTION_KEY"
    expect(page.locator("#snippet-growthbook")).not_to_contain_text("YOUR_SDK_CLIENT_KEY")
    shoot(page, "02-home-onboarding")

    response = page.request.post(
        "/api/v1/events/batch",
        headers={"Authorization": f"Bearer {key}"},
        data={
            "events": [
                {
                    "event": "signed_up",
                    "distinct_id": "user-1",
                    "timestamp": "2026-01-05T10:00:00Z",
                    "insert_id": "first-event-1",
                }
            ]
        },
    )
    assert response.status == 200, response.text()
    assert response.json()["accepted"] == 1
    assert Event.objects.filter(workspace=owner.workspace).count() == 1

    page.reload()
    expect(page.get_by_role("heading", name="No events yet")).to_have_count(0)
    expect(page.locator(".checklist li").first).to_contain_text("(done)")
    # The key was shown once: a reload shows the placeholder again.
    expect(page.locator("#snippet-curl")).to_contain_text("YOUR_INGESTION_KEY")


def test_sample_data_fills_an_empty_workspace(signed_in_page, owner, shoot):
    page = signed_in_page
    page.get_by_role("button", name="Load sample data").click()
    expect(page.get_by_role("status")).to_contain_text("sample users")
    assert Event.objects.filter(workspace=owner.workspace).count() > 10_000
    expect(page.get_by_text("Active users, last 7 days")).to_be_visible()
    shoot(page, "03-home-with-data")


def test_calculator_shows_the_verdict_table_and_forest_plot(signed_in_page, shoot):
    page = signed_in_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calculator").click()
    page.get_by_label("Metric name").fill("sign-up rate")
    page.get_by_label("Conversions, row 1 (control)").fill("1000")
    page.get_by_label("Units, row 2").fill("10000")
    page.get_by_label("Conversions, row 2").fill("1100")
    page.get_by_role("button", name="Add a variant").click()
    page.get_by_label("Variant, row 3").fill("bold-cta")
    page.get_by_label("Units, row 3").fill("10000")
    page.get_by_label("Conversions, row 3").fill("960")
    page.get_by_role("button", name="Analyse", exact=True).click()

    expected = analyze(
        AnalysisRequest(
            variants=(
                {"key": "control", "n": 10000, "sum": 1000},
                {"key": "treatment", "n": 10000, "sum": 1100},
                {"key": "bold-cta", "n": 10000, "sum": 960},
            ),
            metric_type="proportion",
            metric_name="sign-up rate",
        )
    )
    result = page.locator("#result")
    for comparison in expected.comparisons:
        expect(result).to_contain_text(comparison.summary)
    rows = page.locator("#result-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("+10.0%")
    expect(rows.nth(1)).to_contain_text("better")
    expect(page.locator("canvas#forest-plot")).to_have_attribute("data-rendered", "1")
    shoot(page, "04-calculator-result")

    page.get_by_label("Bayesian: chance to win and expected loss").check()
    page.get_by_role("button", name="Analyse", exact=True).click()
    expect(page.locator("#result-table thead")).to_contain_text("Chance to win")
    expect(page.locator("canvas#forest-plot")).to_have_attribute("data-rendered", "1")


def test_power_calculator_plans_the_sample_size_and_duration(signed_in_page, shoot):
    page = signed_in_page
    page.goto("/calculator/")
    page.get_by_role("link", name="Plan: sample size, MDE, duration").click()
    page.get_by_label("Baseline conversion rate (%)").fill("10")
    page.get_by_label("Smallest change worth detecting").fill("5")
    page.get_by_label("Units entering the experiment per day").fill("2000")
    page.get_by_role("button", name="Calculate").click()

    expected = plan(PowerRequest(baseline_rate=0.10, mde=0.05, daily_traffic=2000))
    expect(page.locator("#plan-per-variant")).to_have_text(f"{expected.sample_size_per_variant:,}")
    expect(page.locator("#result")).to_contain_text(f"{expected.duration_days} days")
    shoot(page, "05-calculator-sample-size")

    # Without JavaScript's help a mean metric's fields show, and a missing one is named.
    page.get_by_label("Mean per unit").check()
    expect(page.get_by_label("Baseline conversion rate (%)")).to_be_hidden()
    page.get_by_label("Baseline mean").fill("3.5")
    page.get_by_role("button", name="Calculate").click()
    expect(page.locator("#id_baseline_mean_error")).to_contain_text("standard deviation")


def _create_metric(page, token: str, key: str, name: str, **spec) -> None:
    response = page.request.post(
        "/api/v1/metrics/",
        headers={"Authorization": f"Bearer {token}"},
        data={"key": key, "name": name, "type": "conversion", "window_days": 7, **spec},
    )
    assert response.status == 201, response.text()


def test_design_an_experiment_in_pages_and_start_it(signed_in_page, owner, shoot):
    page = signed_in_page
    _create_metric(page, owner.api_token, "aha-7d", "Aha: first document in 7 days", event="doc")
    _create_metric(page, owner.api_token, "unsub-7d", "Unsubscribed in 7 days", event="unsub")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("heading", name="No experiments yet")).to_be_visible()
    page.get_by_role("link", name="New experiment").click()

    page.get_by_label("Name", exact=True).fill("Onboarding checklist")
    page.get_by_label("Key", exact=True).fill("onboarding-checklist")
    page.get_by_label("We believe").fill("adding an onboarding checklist")
    page.get_by_label("for", exact=True).fill("new workspace owners")
    page.get_by_label("will", exact=True).fill("raise the share reaching the Aha moment")
    page.get_by_label("because").fill("interviews show owners do not find sharing")
    expect(page.locator("[data-hypothesis-preview]")).to_have_text(
        "We believe adding an onboarding checklist for new workspace owners will raise the share "
        "reaching the Aha moment because interviews show owners do not find sharing."
    )
    page.get_by_label("Key, variant 2").fill("checklist")
    page.get_by_label("Name, variant 2").fill("Checklist")
    page.get_by_label("Primary metric", exact=True).select_option("aha-7d")
    page.locator("fieldset", has_text="Guardrail metrics").get_by_label(
        "Unsubscribed in 7 days"
    ).check()
    page.get_by_label("Baseline of the primary metric (%)").fill("20")
    page.get_by_label("Smallest change worth detecting (%)").fill("10")
    page.get_by_label("Eligible units a day").fill("1500")
    # The live estimate (htmx) updates as the plan changes.
    expected = plan(PowerRequest(baseline_rate=0.2, mde=0.1, daily_traffic=1500))
    expect(page.locator("#preview-per-variant")).to_have_text(
        f"{expected.sample_size_per_variant:,}"
    )
    shoot(page, "06-experiment-form")

    page.get_by_role("button", name="Save draft").last.click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    expect(page.locator("#status")).to_have_text("Draft")
    experiment = Experiment.objects.get(workspace=owner.workspace, key="onboarding-checklist")
    assert experiment.hypothesis == (
        "We believe adding an onboarding checklist for new workspace owners will raise the share "
        "reaching the Aha moment because interviews show owners do not find sharing."
    )
    assert experiment.planned_sample_size_per_variant == expected.sample_size_per_variant
    assert experiment.planned_duration_days == expected.duration_days

    expect(page.locator("#snippet-sdk")).to_have_count(0)
    page.get_by_role("link", name="Start…").click()
    # A confirmation step says what starting does before anything changes.
    expect(page.get_by_role("heading", name="Start “Onboarding checklist”?")).to_be_visible()
    expect(page.locator("#start-effects")).to_contain_text("Assignment begins.")
    expect(page.locator("#start-effects")).to_contain_text("variants and traffic shares are frozen")
    shoot(page, "07a-experiment-start-confirmation")
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT
    page.get_by_role("button", name="Yes, start it").click()
    expect(page.locator("#status")).to_have_text("Running")
    # After the start: how to use it, with this experiment's key.
    expect(page.locator("#snippet-sdk")).to_contain_text('gb.eval_feature("onboarding-checklist")')
    expect(page.locator("#snippet-sdk")).to_contain_text(f"{page.url.split('/experiments')[0]}")
    expect(page.locator("#snippet-assignment")).to_contain_text(
        "/api/v1/experiments/onboarding-checklist/assignment?unit_id=user-1"
    )
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING
    assert experiment.phases.count() == 1
    shoot(page, "07-experiment-running")

    api = page.request.get(
        "/api/v1/experiments/onboarding-checklist/",
        headers={"Authorization": f"Bearer {owner.api_token}"},
    )
    assert api.json()["status"] == "running"

    page.get_by_role("link", name="← Experiments").click()
    row = page.locator("tbody tr", has_text="Onboarding checklist")
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text("Aha: first document in 7 days")
    shoot(page, "08-experiment-list")


def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(signed_in_page, owner, shoot):
    page = signed_in_page
    _create_metric(page, owner.api_token, "aha-7d", "Aha rate", event="doc")
    page.goto("/experiments/new")
    page.get_by_label("Name", exact=True).fill("Weights off")
    page.get_by_label("Key", exact=True).fill("weights-off")
    page.get_by_label("We believe").fill("a change")
    page.get_by_label("Key, variant 2").fill("b")
    page.get_by_label("Traffic share (%), variant 2").fill("40")
    page.get_by_label("Primary metric", exact=True).select_option("aha-7d")
    page.get_by_label("Name", exact=True).press("Enter")  # Enter saves, it does not add a row

    expect(page.get_by_role("alert")).to_contain_text("need another look")
    expect(page.locator("#variants_error")).to_contain_text("add up to 100% (they add up to 90%)")
    assert not Experiment.objects.filter(key="weights-off").exists()
    shoot(page, "11-experiment-form-errors")


def test_pages_fit_a_phone_screen(phone_page, owner, shoot):
    page = phone_page
    sign_in(page, owner.email, owner.password)
    pages = (
        ("/", "09-phone-home"),
        ("/calculator/", "10-phone-calculator"),
        ("/experiments/new", "12-phone-experiment-form"),
    )
    for path, name in pages:
        page.goto(path)
        if path == "/calculator/":
            page.get_by_role("button", name="Analyse", exact=True).click()
            expect(page.locator("canvas#forest-plot")).to_have_attribute("data-rendered", "1")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        shoot(page, name)


def test_keyboard_users_can_skip_to_the_content(signed_in_page):
    page = signed_in_page
    page.goto("/calculator/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_a_very_long_word_never_widens_a_page(signed_in_page, owner, shoot):
    page = signed_in_page
    _create_metric(page, owner.api_token, "aha-7d", "Aha rate", event="doc")
    page.goto("/experiments/new")
    # A pasted 20,000-character word: the form keeps its width while it is typed and after
    # the save is refused for its length.
    assert page.get_by_label("We believe").get_attribute("maxlength") == "1000"
    # maxlength stops typing and pasting; a script or an old page can still send more.
    page.get_by_label("We believe").evaluate("(box, text) => { box.value = text; }", "w" * 20_000)
    page.get_by_label("Name", exact=True).fill("Long words")
    page.get_by_label("Key", exact=True).fill("long-words")
    page.get_by_label("Primary metric", exact=True).select_option("aha-7d")
    assert _overflow(page) <= 0, f"the form is {_overflow(page)}px wider than the window"
    page.get_by_role("button", name="Save draft").last.click()
    expect(page.get_by_role("alert")).to_contain_text("at most 1000 characters (it has 20000)")
    assert _overflow(page) <= 0, f"the refused form is {_overflow(page)}px too wide"
    assert not Experiment.objects.filter(workspace=owner.workspace).exists()
    shoot(page, "13-long-word-refused")

    # The longest words the limits allow, saved and shown on every page of the experiment.
    page.get_by_label("Name", exact=True).fill("n" * 200)
    page.get_by_label("We believe").fill("w" * 1000)
    page.get_by_label("because").fill("e" * 1000)
    page.get_by_label("Key, variant 2").fill("k" * 100)
    page.get_by_label("Name, variant 2").fill("v" * 200)
    page.get_by_label("Primary metric", exact=True).select_option("aha-7d")
    page.get_by_role("button", name="Save draft").last.click()
    expect(page.locator("#status")).to_have_text("Draft")
    for path, name in (
        ("/experiments/long-words/", "14-long-word-detail"),
        ("/experiments/long-words/edit", "15-long-word-form"),
        ("/experiments/", "16-long-word-list"),
    ):
        page.goto(path)
        assert _overflow(page) <= 0, f"{path} is {_overflow(page)}px wider than the window"
        shoot(page, name)


def test_the_plan_says_where_its_traffic_comes_from_and_warns_when_it_is_long(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    store(owner.workspace, generate(seed=11))
    configure(owner.workspace)
    kpis_refresh(workspace=owner.workspace, now=NOW)
    actives = daily_traffic_read(workspace=owner.workspace, source=DAILY_ACTIVES).rounded
    signups = daily_traffic_read(workspace=owner.workspace, source=SIGNUPS).rounded
    _create_metric(page, owner.api_token, "aha-7d", "Aha rate", event="doc")

    page.goto("/experiments/new")
    expect(page.locator("#traffic-source")).to_contain_text(
        f"pre-filled with daily active users: {actives:g}, the average of the KPI from 28 Mar "
        "to 24 Apr 2026"
    )
    expect(page.get_by_label("Eligible units a day")).to_have_value(f"{actives:g}")
    page.goto("/experiments/new?funnel_stage=activation")
    expect(page.locator("#traffic-source")).to_contain_text("pre-filled with new signups a day")
    expect(page.get_by_label("Eligible units a day")).to_have_value(f"{signups:g}")

    page.get_by_label("Baseline of the primary metric (%)").fill("10")
    page.get_by_label("Smallest change worth detecting (%)").fill("5")
    page.get_by_label("Eligible units a day").fill("300")
    page.get_by_label("Eligible units a day").press("Tab")  # "change" fires on leaving the box
    expected = plan(PowerRequest(baseline_rate=0.1, mde=0.05, daily_traffic=300))
    assert expected.duration_days > 56
    expect(page.locator("#long-run")).to_contain_text(
        f"{expected.duration_days:,} days is more than 8 weeks"
    )
    larger = plan(PowerRequest(baseline_rate=0.1, mde=0.10, daily_traffic=300)).duration_days
    expect(page.locator("#long-run")).to_contain_text(f"(10% instead of 5%): {larger:,} days")
    shoot(page, "17-plan-too-long")

    # Saved with an MDE but no baseline: the page says why there is no size.
    page.get_by_label("Baseline of the primary metric (%)").fill("")
    page.get_by_label("Name", exact=True).fill("No baseline")
    page.get_by_label("Key", exact=True).fill("no-baseline")
    page.get_by_label("We believe").fill("a change")
    page.get_by_label("Key, variant 2").fill("b")
    page.get_by_label("Primary metric", exact=True).select_option("aha-7d")
    page.get_by_role("button", name="Save draft").last.click()
    expect(page.locator("#plan-units")).to_contain_text("Not computed: the plan has no baseline")
    shoot(page, "18-plan-without-baseline")
