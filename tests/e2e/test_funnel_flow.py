"""Funnels in a real browser: define one through the form (an error first, shown on its row),
read its steps by weekly signup cohort, and see an experiment's funnel step by step on the
results page (bars drawn by the vendored Chart.js, nothing from a CDN).

Screenshots land in test-artifacts/screenshots/funnel-*.png; look at them after a change.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from experiments.services.analysis.run import experiment_analyze, snapshot_store
from metrics.public import Metric
from plg_platform.services.ingestion import events_ingest
from tests.e2e.conftest import SCREENSHOT_TIMEOUT_MS, SCREENSHOTS
from tests.experiments.test_exp_analysis_support import CUTOFF
from tests.experiments.test_exp_funnels import _experiment, _plant

pytestmark = pytest.mark.browser


def _recent_signups(workspace) -> None:
    """Users over the last five weeks going part of the way: signup, pro document, invite."""
    rng = random.Random(3)
    now = datetime.now(tz=UTC)
    events = []
    for u in range(160):
        unit = f"web{u}"
        at = now - timedelta(days=rng.uniform(1, 35))
        events.append({"event": "signup", "distinct_id": unit, "timestamp": at})
        for name, rate in (("document_created", 0.6), ("invite_sent", 0.45)):
            if rng.random() > rate:
                break
            at += timedelta(hours=rng.uniform(0.5, 60))
            if at >= now:
                break
            events.append(
                {"event": name, "distinct_id": unit, "timestamp": at, "properties": {"plan": "pro"}}
            )
    raw = [{**e, "timestamp": e["timestamp"].isoformat()} for e in events]
    assert events_ingest(workspace=workspace, raw_events=raw).rejected == []


def _fill(page, *, second_event: str) -> None:
    page.get_by_label("Name", exact=True).fill("Onboarding")
    page.get_by_label("Key", exact=True).fill("onboarding")
    page.get_by_label("Step 1: event").fill("signup")
    page.get_by_label("Step 2: event").fill(second_event)
    page.get_by_label("Step 2: label").fill("Created a pro document")
    page.get_by_label("Step 2: only events where").fill("plan = pro")
    page.get_by_label("Step 3: event").fill("invite_sent")


def test_define_a_funnel_and_read_it_by_cohort_and_in_an_experiment(signed_in_page, owner, shoot):
    page = signed_in_page
    _recent_signups(owner.workspace)
    experiment = _experiment(owner.workspace, _plant())
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.5)

    page.get_by_role("link", name="Metrics", exact=True).click()
    expect(page.get_by_role("heading", name="Metrics", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Activation funnel")).to_be_visible()
    shoot(page, "funnel-metrics-list")
    page.get_by_role("link", name="New funnel").click()

    # A row with a label but no event: the 400 page shows the error on that row. (A second
    # tab of the same session: the page fixture counts the 400 response as a console error.)
    form = page.context.new_page()
    form.goto(page.url)
    _fill(form, second_event="")
    form.get_by_role("button", name="Save the funnel").click()
    expect(
        form.get_by_text("Give this step an event name, or clear the row.").first
    ).to_be_visible()
    assert not Metric.objects.filter(key="onboarding").exists()
    shoot(form, "funnel-form-error")
    form.close()

    _fill(page, second_event="document_created")
    page.get_by_role("button", name="Save the funnel").click()
    expect(page.get_by_role("heading", name="Onboarding")).to_be_visible()
    expect(page.get_by_text("Saved the funnel")).to_be_visible()
    expect(page.locator("#cohort-table")).to_be_visible()
    expect(page.locator("canvas[data-chart='bars'][data-rendered='1']")).to_be_visible()
    shoot(page, "funnel-metric-cohorts")

    page.goto(f"/experiments/{experiment.key}/results")
    block = page.locator("#funnel-activation-funnel")
    expect(block.get_by_role("heading", name="Step by step")).to_be_visible()
    expect(block.locator("canvas[data-rendered='1']")).to_be_visible()
    expect(block.get_by_role("rowheader", name="2. Pro document (doc)")).to_be_visible()
    shoot(page, "funnel-results")
    page.locator("#metric-activation-funnel").screenshot(
        path=str(SCREENSHOTS / "funnel-results-block.png"), timeout=SCREENSHOT_TIMEOUT_MS
    )
