"""The holdouts page in a real browser: an ended holdout with its measured cumulative impact
beside the shipped experiments' shrunk sum, and a new holdout created through the form.

Screenshots land in test-artifacts/screenshots/holdouts-*.png; look at them after a change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from experiments.holdouts.services import holdout_report_create
from tests.experiments.test_holdout_impact import END, T0, _holdout, _key_result, _plant, _shipped

pytestmark = pytest.mark.browser


def test_holdout_page_shows_the_comparison_and_creates_a_holdout(
    signed_in_page, owner, make_metric, shoot
):
    workspace = owner.workspace
    metric = make_metric(workspace, "activated", window_days=7)
    _key_result(workspace, metric)
    holdout = _holdout(workspace)
    _plant(workspace, holdout)
    _shipped(workspace, make_metric, "a", concluded=T0 + timedelta(days=10), impact=0.12, se=0.04)
    _shipped(workspace, make_metric, "b", concluded=T0 + timedelta(days=20), impact=0.09, se=0.03)
    for i, (impact, se) in enumerate([(0.01, 0.02), (-0.02, 0.03), (0.0, 0.02)]):
        _shipped(
            workspace, make_metric, f"p{i}", concluded=T0 - timedelta(days=40), impact=impact, se=se
        )
    holdout_report_create(holdout=holdout, now=END + timedelta(days=1))
    page = signed_in_page

    page.get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name="Holdouts").click()
    expect(page.get_by_role("heading", name="Holdouts", exact=True)).to_be_visible()
    expect(page.get_by_text("Cumulative impact at the end of the period")).to_be_visible()
    expect(page.get_by_text("activated: everyone else is +")).to_be_visible()
    shoot(page, "holdouts-report")

    page.get_by_label("Name", exact=True).fill("Next quarter")
    page.get_by_label("Key", exact=True).fill("next-quarter")
    page.get_by_role("button", name="Create holdout").click()
    expect(page.get_by_text("Holdout created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Next quarter Running")).to_be_visible()
    shoot(page, "holdouts-created")
