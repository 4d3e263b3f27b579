"""Outcomes in a real browser, against the live server and a real Celery worker: set the KPI
settings, load sample data, recompute with the progress bar reaching 100%, read the dashboard
and the cohort heat map; set an objective and a key result on a metric and see its progress.

Screenshots land in test-artifacts/screenshots/outcomes-*.png; look at them after a change.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from metrics.public import metric_create
from outcomes.kpis.dashboard import kpi_dashboard
from outcomes.kpis.models import KpiSettings
from outcomes.kpis.refresh import kpis_refresh
from outcomes.kpis.selectors import kpi_cohort_table
from outcomes.kpis.settings import kpi_settings_update
from outcomes.okrs.models import KeyResult, Objective
from outcomes.okrs.services.check_ins import check_in_create, key_result_check_in_compute
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from outcomes.presentation import format_value
from plg_platform.clock import local_today
from plg_platform.demo.config import DemoConfig
from plg_platform.demo.writer import demo_data_write
from tests.e2e.conftest import DESKTOP, PHONE, SCREENSHOTS, sign_in

pytestmark = pytest.mark.browser

MOMENTS = [
    {"name": "Setup", "event": "workspace_setup", "window_days": 1},
    {"name": "Aha", "event": "document_created", "window_days": 7},
    {"name": "Eureka", "event": "collaborator_joined", "window_days": 14},
    {
        "name": "Habit",
        "event": "document_created",
        "window_days": 30,
        "min_count": 20,
        "min_distinct_days": 8,
    },
]
RECOMPUTE_TIMEOUT_MS = 120_000
MEASURE_TIMEOUT_S = 90


def _fits(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways ({scroll}px)"


def _fill_settings(page, shoot) -> None:
    page.goto("/kpis/settings")
    page.get_by_label("Aha event").fill("document_created")
    page.get_by_label("Core events").fill(
        "document_created, document_shared, invite_sent, feature_used"
    )
    page.get_by_label("Feature events").fill("feature_used, document_shared")
    page.get_by_label("Feature property").fill("feature")
    page.get_by_label("Never activity").fill("$exposure, notifications_unsubscribed")
    page.get_by_label("PQL event").fill("document_created")
    page.get_by_label("PQL threshold (events)").fill("10")
    page.get_by_label("PQLs are").select_option("account")
    page.get_by_label("Paid event (free to paid)").fill("upgrade")
    page.get_by_label("Revenue event", exact=True).fill("upgrade")
    page.get_by_label("The amount is").select_option("annual")
    page.get_by_label("Feature request topics").fill(
        "Offline mode: offline\nDark mode: dark\nSlack: slack"
    )
    shoot(page, "outcomes-09-kpi-settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").first).to_contain_text("KPI settings saved")


def test_kpi_settings_sample_data_recompute_and_the_dashboard(
    signed_in_page, owner, celery_worker_process, shoot
):
    page = signed_in_page
    _fill_settings(page, shoot)
    settings = KpiSettings.objects.get(workspace=owner.workspace)
    assert settings.aha_event == "document_created"
    assert settings.pql_unit == "account"
    # Success moments are set through the API (the settings form has no field for them yet).
    kpi_settings_update(workspace=owner.workspace, changes={"success_moments": MOMENTS})

    page.goto("/")
    page.get_by_role("button", name="Load sample data").click()
    expect(page.get_by_role("status").first).to_contain_text("sample users")

    page.goto("/kpis/")
    expect(page.get_by_role("heading", name="No KPI values yet")).to_be_visible()
    page.get_by_text("Recompute from events…").click()
    page.get_by_role("button", name="Recompute", exact=True).click()
    bar = page.get_by_role("progressbar")
    expect(bar).to_be_visible()
    expect(page.locator("[data-job-percent]")).to_have_text("100%", timeout=RECOMPUTE_TIMEOUT_MS)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("[data-job-message]")).to_contain_text("Finished")
    shoot(page, "outcomes-03-kpi-recompute-done")

    page.get_by_role("link", name="Show the new numbers").click()
    expect(page.get_by_role("heading", name="KPI dashboard")).to_be_visible()
    assert "job=" not in page.url
    # The page shows the last complete day: yesterday (no scheduled refresh has run).
    yesterday = local_today(owner.workspace) - timedelta(days=1)
    dashboard = kpi_dashboard(workspace=owner.workspace, on=yesterday)
    cards = {c.kpi.key: c for c in dashboard.value_creation + dashboard.value_capture}
    for key in ("mau", "dau", "activation_rate", "retention_d1"):
        expected = format_value(cards[key].value, cards[key].kpi.unit)
        assert expected != "—", key
        expect(page.locator(f'[data-kpi="{key}"]')).to_have_text(expected)
    expect(page.locator('[data-kpi="pes-score"]')).not_to_have_text("—")
    # The charts are drawn (Chart.js marks them) and each has its table.
    for name in ("active", "stickiness", "activation"):
        expect(page.locator(f"#{name}-chart")).to_have_attribute("data-rendered", "1")
    # The heat map: one row per weekly cohort, the numbers in the cells.
    heat = page.locator("table.heat")
    rows = kpi_cohort_table(
        workspace=owner.workspace,
        date_from=dashboard.as_of - timedelta(days=90),
        date_to=dashboard.as_of,
    )
    assert len(rows) >= 10
    expect(heat.locator("tbody tr")).to_have_count(len(rows))
    first_cell = heat.locator("td.heat-cell").first
    expect(first_cell).to_have_text(re.compile(r"^\d+%$"))
    # Success moments: the last 8 signup weeks, each moment's rate, its definition above.
    moments = page.locator("table.moments-table")
    expect(moments.locator("tbody tr")).to_have_count(8)
    expect(moments.locator("tbody tr").last.locator("td").nth(1)).to_have_text(
        re.compile(r"^\d+(\.\d)?% [\d,]+ of [\d,]+ users$")
    )
    expect(page.locator(".moment-definitions")).to_contain_text(
        "did document_created at least 20 times on at least 8 different days within 30 days"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for group in ("active", "activation", "voice"):
        page.locator(f"#group-{group}").screenshot(
            path=str(SCREENSHOTS / f"outcomes-10-kpi-group-{group}.png")
        )
    expect(page.locator("#pqls tbody tr").first).to_be_visible()
    expect(page.locator("#feature-requests")).to_contain_text("Offline mode")
    _fits(page, DESKTOP["width"])
    shoot(page, "outcomes-02-kpi-dashboard")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#cohorts").screenshot(path=str(SCREENSHOTS / "outcomes-04-cohort-heat-map.png"))

    # The PQL list and its CSV export.
    page.get_by_role("link", name="All PQLs").click()
    expect(page.locator("table tbody tr").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("pqls-")


def test_an_objective_and_a_key_result_on_a_metric_show_their_progress(
    signed_in_page, owner, celery_worker_process, shoot
):
    workspace = owner.workspace
    demo_data_write(workspace=workspace, config=DemoConfig(users=400, days=120, seed=11))
    metric_create(
        workspace=workspace,
        key="aha-7d",
        name="Aha within 7 days",
        spec={"type": "conversion", "event": "document_created", "window_days": 7},
    )
    page = signed_in_page
    page.goto("/okrs/")
    expect(page.get_by_role("heading", name=re.compile("No objectives in"))).to_be_visible()
    page.get_by_role("link", name="Set the first objective").click()
    page.get_by_label("Title").fill("New teams get value in their first week")
    page.get_by_label("Why it matters").fill("Teams that create a document in week one stay.")
    page.get_by_label("Team", exact=True).fill("Growth")
    page.get_by_role("button", name="Create objective").click()
    expect(page.get_by_role("heading", name="New key result")).to_be_visible()
    objective = Objective.objects.get(workspace=workspace)

    # An output is not a key result: the message appears beside the metric field.
    page.get_by_label("Title").fill("Ship offline mode")
    page.get_by_label("Target").fill("50")
    page.get_by_role("button", name="Create key result").click()
    expect(page.locator("#id_metric_error")).to_contain_text("record it as an initiative")
    expect(page.get_by_label("Metric it moves")).to_have_attribute("aria-invalid", "true")
    assert not KeyResult.objects.exists()
    shoot(page, "outcomes-06-key-result-form-error")

    page.get_by_label("Title").fill("Raise 7-day Aha of new users to 95%")
    page.get_by_label("Metric it moves").select_option("aha-7d")
    page.get_by_label("Target").fill("95")
    page.get_by_label("Start event").fill("signed_up")
    page.get_by_role("button", name="Create key result").click()
    expect(page.get_by_role("heading", name="Raise 7-day Aha of new users to 95%")).to_be_visible()
    key_result = KeyResult.objects.get(objective=objective)
    assert key_result.baseline is not None  # computed at the quarter's start
    expect(page.locator("#kr-baseline")).to_have_text(format_value(key_result.baseline, "share"))

    # The scheduled task has stored a computed check-in every few days since the quarter began
    # (the same service, at those moments), so the trend has a history.
    zone = ZoneInfo(workspace.timezone)
    day = objective.period_start + timedelta(days=3)
    while day < local_today(workspace):
        key_result_check_in_compute(
            key_result=key_result, now=datetime.combine(day, time(12), tzinfo=zone)
        )
        day += timedelta(days=6)

    page.get_by_role("button", name="Measure now").click()
    expect(page.get_by_role("status").first).to_contain_text("Measuring")
    today = local_today(workspace).strftime("%-d %b")
    deadline = monotonic() + MEASURE_TIMEOUT_S
    while f"Current, {today}" not in page.locator(".kr-big").inner_text():
        assert monotonic() < deadline, "today's computed check-in never arrived"
        sleep(1)
        page.reload()
    expect(page.locator("#kr-progress")).to_have_text(re.compile(r"^-?\d+%$"))

    page.get_by_label("Confidence").select_option("6")
    page.get_by_label("Comment").fill("Checklist experiment running; early signs good.")
    page.get_by_role("button", name="Add check-in").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in recorded")
    page.get_by_text("Link an initiative…").click()
    page.locator("#id_initiative-title").fill("Ship the onboarding checklist")
    page.locator("#id_initiative-status").select_option("in_progress")
    page.get_by_role("button", name="Link initiative").click()
    expect(page.locator("#initiatives-title + p + ul")).to_contain_text(
        "Ship the onboarding checklist"
    )
    _fits(page, DESKTOP["width"])
    shoot(page, "outcomes-05-key-result")

    page.goto("/okrs/")
    row = page.locator(f"#key-result-{key_result.pk}")
    expect(row).to_contain_text("of the way")
    expect(row.locator(".status-pill")).to_have_text(re.compile("On track|At risk|Off track"))
    expect(row).to_contain_text("Ship the onboarding checklist")
    _fits(page, DESKTOP["width"])
    shoot(page, "outcomes-01-okr-board")


def test_outcome_pages_fit_a_phone_screen(phone_page, owner, shoot):
    workspace = owner.workspace
    demo_data_write(workspace=workspace, config=DemoConfig(users=150, days=70, seed=5))
    kpi_settings_update(
        workspace=workspace,
        changes={
            "aha_event": "document_created",
            "core_events": ["document_created", "invite_sent"],
        },
    )
    kpis_refresh(workspace=workspace)
    metric_create(
        workspace=workspace,
        key="aha-7d",
        name="Aha within 7 days",
        spec={"type": "conversion", "event": "document_created", "window_days": 7},
    )
    today = local_today(workspace)
    objective = objective_create(
        workspace=workspace,
        title="New teams get value in their first week",
        period_start=today - timedelta(days=40),
        period_end=today + timedelta(days=49),
    )
    key_result = key_result_create(
        objective=objective,
        title="Raise 7-day Aha to 60%",
        metric_key="aha-7d",
        target=0.6,
        baseline=0.45,
        baseline_reason="Measured before the quarter",
    )
    check_in_create(key_result=key_result, confidence=7, value=0.5, comment="On the way")
    sign_in(phone_page, owner.email, owner.password)
    for url, name in (("/okrs/", "outcomes-07-phone-board"), ("/kpis/", "outcomes-08-phone-kpis")):
        phone_page.goto(url)
        _fits(phone_page, PHONE["width"])
        shoot(phone_page, name)
