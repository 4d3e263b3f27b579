"""Will we hit the key result? In a real browser: the OKR board shows the forecast's status, the
odds and the why; the key result's page draws the forecast chart (weekly values, the forecast
inside its interval band, the target) and lists what the running experiment would add.

Screenshots land in test-artifacts/screenshots/forecast-*.png; look at them after a change.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Min
from django.utils import timezone
from playwright.sync_api import expect

from experiments.models import Exposure, ResultSnapshot
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from metrics.public import metric_create
from outcomes.okrs.outlook import key_result_outlook
from outcomes.okrs.services.check_ins import key_result_check_in_compute
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from outcomes.okrs.views.objectives import board_url
from plg_platform.clock import epoch_us, local_today
from plg_platform.demo.config import DemoConfig
from plg_platform.demo.writer import demo_data_write
from plg_platform.models import Event
from tests.e2e.conftest import DESKTOP, SCREENSHOTS

pytestmark = pytest.mark.browser


def _running_experiment(workspace, key_result, since: datetime, until: datetime) -> None:
    """The checklist test, started ``since``, every new user exposed, with one analysis."""
    design = ExperimentDesign(
        key="onboarding-checklist",
        name="Onboarding checklist",
        hypothesis_change="showing new users a three-step onboarding checklist",
        variants=(
            VariantSpec("control", 0.5, "Control", is_control=True),
            VariantSpec("checklist", 0.5, "Checklist"),
        ),
        primary_metric="aha-7d",
        key_results=(key_result.pk,),
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    phase = experiment.phases.get()
    first_seen = (
        Event.objects.filter(workspace=workspace, event="signed_up")
        .values("distinct_id")
        .annotate(first=Min("timestamp_us"))
        .filter(first__gte=epoch_us(since), first__lt=epoch_us(until))
    )
    Exposure.objects.bulk_create(
        Exposure(
            workspace=workspace,
            experiment=experiment,
            phase=phase,
            unit_id=row["distinct_id"],
            variant=("control", "checklist")[i % 2],
            exposed_at_us=row["first"] + 1_000_000,
        )
        for i, row in enumerate(first_seen)
    )
    ResultSnapshot.objects.create(
        experiment=experiment,
        phase=phase,
        data_cutoff=timezone.now(),
        engine_version="test",
        settings={"engine": "frequentist", "difference": "relative"},
        inputs={},
        outputs={
            "metrics": [
                {
                    "key": "aha-7d",
                    "name": "Aha within 7 days",
                    "role": "primary",
                    "direction": "up",
                    "segment": None,
                    "comparisons": [
                        {
                            "variant": "checklist",
                            "effect": 0.14,
                            "ci_low": 0.04,
                            "ci_high": 0.24,
                            "p_value": 0.006,
                            "significant": True,
                            "verdict": "win",
                        }
                    ],
                }
            ]
        },
        health={},
        run_seconds=0.01,
    )


def test_the_board_and_the_key_result_page_show_the_forecast(signed_in_page, owner, shoot):
    workspace = owner.workspace
    demo_data_write(workspace=workspace, config=DemoConfig(users=1500, days=150, seed=42))
    metric_create(
        workspace=workspace,
        key="aha-7d",
        name="Aha within 7 days",
        spec={"type": "conversion", "event": "document_created", "window_days": 7},
    )
    today = local_today(workspace)
    objective = objective_create(
        workspace=workspace,
        title="New users reach their first document faster",
        team="Growth",
        period_start=today - timedelta(days=70),
        period_end=today + timedelta(days=25),
    )
    key_result = key_result_create(
        objective=objective,
        title="Raise 7-day Aha of new users by 10%",
        metric_key="aha-7d",
        target=0.5,
        start_event="signed_up",
        baseline=0.45,
        baseline_reason="Last quarter's report",
    )
    # The scheduled task's computed check-ins, once a week since the period began.
    zone = ZoneInfo(workspace.timezone)
    day = objective.period_start
    while day <= today:
        key_result_check_in_compute(
            key_result=key_result, now=datetime.combine(day, time(12), tzinfo=zone)
        )
        day += timedelta(days=7)
    now = timezone.now()
    _running_experiment(workspace, key_result, now - timedelta(days=40), now - timedelta(days=2))
    outlook = key_result_outlook(key_result=key_result, today=today)
    assert outlook.ok, outlook.message
    (contribution,) = outlook.contributions
    assert contribution.counted

    page = signed_in_page
    page.goto(board_url(objective))
    row = page.locator(f"#key-result-{key_result.pk}")
    label = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track"}
    expect(row.locator(".status-pill")).to_have_text(re.compile(label[outlook.status]))
    expect(row.locator(".kr-odds")).to_have_text(re.compile(r"^(\d+%|under 1%|over 99%) chance$"))
    expect(row.locator(".kr-why")).to_contain_text(outlook.why)
    expect(row.locator(".kr-why")).to_contain_text("one running experiment adds about +")
    expect(page.locator(".status-legend")).to_contain_text("chance of reaching the target")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shoot(page, "forecast-01-okr-board")

    page.get_by_role("link", name=key_result.title).click()
    expect(page.get_by_role("heading", name="Will we hit it?")).to_be_visible()
    expect(page.locator("#outlook-why")).to_have_text(outlook.why)
    expect(page.locator("#forecast-chart")).to_have_attribute("data-rendered", "1")
    table = page.locator("#contributions-table")
    expect(table).to_contain_text("Onboarding checklist")
    expect(table).to_contain_text("+14.0%")
    expect(page.get_by_text("Tried on this key result's own history")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shoot(page, "forecast-02-key-result")
    page.locator("#outlook").screenshot(path=str(SCREENSHOTS / "forecast-03-will-we-hit-it.png"))
