"""The results page in a real browser: "Refresh now" runs an analysis on a REAL Celery worker,
the progress bar fills up to 100% and the new results (table, forest plot, lift over time)
replace the old ones without a reload."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from experiments.models import ResultSnapshot
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.lifecycle import experiment_conclude
from experiments.stats.summaries import format_p_value
from plg_platform.services.ingestion import from_epoch_us
from tests.e2e.conftest import sign_in
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    DAY_US,
    T0,
    generate,
    planted_experiment,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
]

ANALYSIS_TIMEOUT_MS = 90_000


def test_refresh_on_a_real_worker_fills_the_bar_and_shows_the_new_results(
    celery_worker_process, signed_in_page, owner, shoot
):
    page = signed_in_page
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(owner.workspace, data, segments=("country",))
    # An earlier analysis, so the page starts with results and lift over time has two points.
    computed = experiment_analyze(
        experiment=experiment, cutoff=CUTOFF - timedelta(days=4), sync_exposures=False
    )
    first = snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    page.goto(f"/experiments/{experiment.key}/results")
    expect(page.locator("#results-body")).to_have_attribute("data-snapshot", str(first.pk))
    page.get_by_role("button", name="Refresh now").click()

    bar = page.locator("#refresh-bar")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=ANALYSIS_TIMEOUT_MS)
    expect(page.locator("#refresh-percent")).to_have_text("100%")
    latest = ResultSnapshot.objects.filter(experiment=experiment).latest("id")
    assert latest.pk != first.pk, celery_worker_process.log()
    assert latest.job_id is not None  # written by the worker's job, not by this test
    expect(page.locator("#results-body")).to_have_attribute("data-snapshot", str(latest.pk))
    expect(page.get_by_role("button", name="Refresh now")).to_be_enabled()

    primary = next(m for m in latest.outputs["metrics"] if m["role"] == "primary")
    table = page.locator(f"#table-{primary['key']}")
    expect(table).to_be_visible()
    treatment = table.locator('tr[data-variant="treatment"]')
    expect(treatment.locator('[data-col="units"]')).to_have_text(
        str(primary["variants"][1]["units"])
    )
    expect(treatment.locator('[data-col="p"]')).to_have_text(
        format_p_value(primary["comparisons"][0]["p_value"])
    )
    expect(page.locator("#overall-verdict")).to_have_text(latest.outputs["verdict"])
    # Every chart drew (Chart.js marks its canvases), forest plots and lift over time alike.
    canvases = page.locator("#results-body canvas[data-chart]")
    expect(canvases.first).to_have_attribute("data-rendered", "1")
    rendered = canvases.evaluate_all("(all) => all.filter((c) => c.dataset.rendered).length")
    assert rendered == canvases.count() == 6  # three metrics × (forest + lift over time)
    history = page.locator(f"#history-{primary['key']}")
    page.get_by_text("Lift over time as a table").first.click()
    # One row per day of first exposure (cumulative lift), not one per analysis run.
    days = len({p["day"] for p in latest.outputs["cumulative"]})
    assert days == 10
    expect(history.locator("tbody tr")).to_have_count(days)
    segment = page.locator("#segment-country")
    segment.locator("summary").click()
    expect(segment.locator("tbody tr").first).to_be_visible()
    expect(page.locator("#engine")).to_contain_text(re.compile(r"Frequentist, version \S+"))

    path = shoot(page, "22-experiment-results")
    assert path.exists()


def test_results_fit_a_phone_with_charts_and_tables(phone_page, owner, shoot):
    page = phone_page
    sign_in(page, owner.email, owner.password)
    experiment = planted_experiment(
        owner.workspace, generate(units_per_variant=(800, 800)), segments=("country",)
    )
    for cutoff in (CUTOFF - timedelta(days=4), CUTOFF):
        computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
        snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)

    page.goto(f"/experiments/{experiment.key}/results")

    expect(page.locator("#results-body canvas[data-chart]").first).to_have_attribute(
        "data-rendered", "1"
    )
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the results page scrolls sideways by {overflow}px on a phone"
    shoot(page, "23-phone-experiment-results")


def _analyse(experiment, cutoff):
    computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
    return snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)


def test_a_clear_win_reads_ship_with_every_health_check_and_finished_reads_finished(
    signed_in_page, owner, shoot
):
    """One decision line that agrees with the banners, SRM and the other checks always listed,
    variants by name with the correction behind each interval level; once concluded, no
    "Refresh now" and no "not enough evidence yet"."""
    page = signed_in_page
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(owner.workspace, data, planned_mde=0.05)
    snapshot = _analyse(experiment, CUTOFF)
    primary = next(m for m in snapshot.outputs["metrics"] if m["role"] == "primary")
    (comparison,) = primary["comparisons"]

    page.goto(f"/experiments/{experiment.key}/results")

    expect(page.locator("#decision-action")).to_have_text("Ship")
    reason = page.locator("#decision-reason")
    expect(reason).to_contain_text(f"{comparison['effect'] * 100:+.1f}%")
    expect(reason).to_contain_text(format_p_value(comparison["p_value"]))
    expect(page.locator(".banner[data-check='power']")).to_have_count(0)
    checks = page.locator("#health-checks li")
    expect(checks).to_have_count(4)
    expect(page.locator("#health-checks li[data-check='srm']")).to_contain_text(
        f"p = {snapshot.health['srm']['p_value']:.3g}"
    )
    expect(page.locator("#units-exposed")).to_have_text("3000")
    table = page.locator(f"#table-{primary['key']}")
    expect(table.locator("tbody th").first).to_have_text("Control")
    expect(page.locator("#levels-note")).to_contain_text("Holm")
    expect(page.get_by_role("button", name="Refresh now")).to_be_visible()
    shoot(page, "24-results-decision-ship")

    experiment_conclude(
        experiment=experiment, decision="ship", variant="treatment", rationale="Win.", actor=None
    )
    page.reload()
    expect(page.locator("#decision-action")).to_have_text("Ship")
    expect(page.get_by_role("button", name="Refresh now")).to_have_count(0)
    expect(page.locator("#results-body")).not_to_contain_text("not enough evidence yet")
    shoot(page, "25-results-concluded")


def test_a_young_experiment_says_how_many_units_count_and_when_the_first_result_is_ready(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    data = generate(units_per_variant=(400, 400))
    experiment = planted_experiment(owner.workspace, data)
    cutoff = T0 + timedelta(days=2)
    _analyse(experiment, cutoff)

    page.goto(f"/experiments/{experiment.key}/results")

    first_result = from_epoch_us(int(data.exposed_us.min()) + 7 * DAY_US)
    expect(page.locator("#units-exposed")).to_have_text("800")
    expect(page.locator("#units-matured")).to_contain_text("0")
    expect(page.locator("#first-result")).to_contain_text(
        f"ready on {first_result:%Y-%m-%d %H:%M} UTC"
    )
    expect(page.locator("#decision-action")).to_have_text("Keep running")
    shoot(page, "26-results-young-experiment")
