"""Quantile metrics in a real browser: define one through the metric form (the type shows only
its fields; a bad quantile is named by its field), then read an experiment's results where a
quantile metric is the primary one.

Screenshots land in test-artifacts/screenshots/quantile-*.png; look at them after a change.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from experiments.services.analysis.run import experiment_analyze, snapshot_store
from metrics.models import Metric
from tests.experiments.test_exp_analysis_support import CUTOFF
from tests.experiments.test_exp_quantile_analysis import (
    planted_orders,
    quantile_design,
    write_orders,
)

pytestmark = pytest.mark.browser


def test_define_a_quantile_metric_through_the_form(signed_in_page, shoot):
    page = signed_in_page
    page.get_by_role("link", name="Metrics", exact=True).click()
    expect(page.get_by_role("heading", name="Metrics", exact=True)).to_be_visible()
    page.get_by_role("link", name="Define a metric").first.click()

    page.get_by_label("Name", exact=True).fill("p90 order value")
    page.get_by_label("Key", exact=True).fill("order-value-p90")
    expect(page.get_by_label("Quantile level")).to_be_hidden()
    page.get_by_label("Quantile (p50, p90, …) of a value per unit or per event").check()
    expect(page.get_by_label("Quantile level")).to_be_visible()
    expect(page.get_by_label("At least this many times")).to_be_hidden()
    page.get_by_label("Event", exact=True).fill("order")
    page.get_by_label("Numeric property", exact=True).fill("amount")
    page.get_by_label("Window (days)").fill("14")
    page.get_by_label("Quantile level").fill("1.2")
    page.get_by_label(
        "One value per unit (a sum of the property, or hours to the first event)"
    ).check()
    page.get_by_role("button", name="Save the metric").click()

    expect(page.get_by_text("Some answers need another look")).to_be_visible()
    expect(page.get_by_label("Quantile level")).to_have_attribute("aria-invalid", "true")
    assert not Metric.objects.exists()
    shoot(page, "quantile-metric-form")
    page.get_by_label("Quantile level").fill("0.9")
    page.get_by_role("button", name="Save the metric").click()

    expect(page.get_by_text("Saved the metric “p90 order value”")).to_be_visible()
    expect(page.get_by_text("p90 of Σ amount per unit: order, 14 days")).to_be_visible()
    shoot(page, "quantile-metric-list")
    assert Metric.objects.get().quantile == 0.9


def test_results_show_a_quantile_metric(signed_in_page, owner, shoot):
    experiment = quantile_design(owner.workspace, "checkout")
    write_orders(experiment, planted_orders(600))
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    page = signed_in_page
    page.goto(f"/experiments/{experiment.key}/results")
    table = page.locator("#table-checkout-order-value-p50")
    expect(table.get_by_role("columnheader", name="p50", exact=True)).to_be_visible()
    expect(page.get_by_text("the p50 of Order value per user").first).to_be_visible()
    expect(
        page.locator("#table-checkout-order-p90").get_by_role("columnheader", name="p90 per event")
    ).to_be_visible()
    shoot(page, "quantile-results")
