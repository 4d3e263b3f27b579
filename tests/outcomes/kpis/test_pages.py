"""The KPI pages with Django's test client: the dashboard shows the cache's numbers (checked
against the selectors and, for MAU, a brute-force count over the events) without touching the
events table; viewers read, editors change the settings and start a recompute; bad input is
shown beside its field with nothing written."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics.public import MetricType
from outcomes.kpis.cards import heat_style
from outcomes.kpis.dashboard import kpi_dashboard
from outcomes.kpis.forms import BAD_MOMENT_LINE, BAD_TOPIC_LINE, KpiSettingsForm
from outcomes.kpis.models import KpiSettings, KpiValue
from outcomes.kpis.recompute import RANGE_REVERSED, RECOMPUTE_JOB_KIND
from outcomes.kpis.refresh import kpis_refresh
from outcomes.kpis.selectors import kpi_cohort_table
from outcomes.kpis.settings import BAD_MOMENTS, MAX_MOMENTS, NOT_ACTIVITY, kpi_settings_update
from outcomes.presentation import format_value
from plg_platform.celery import app as celery_app
from plg_platform.clock import local_today
from plg_platform.demo.config import DemoConfig
from plg_platform.demo.writer import demo_data_write
from plg_platform.models import AuditLog, BackgroundJob, Event, JobStatus

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("outcomes_web:kpis")
SETTINGS = reverse("outcomes_web:kpi-settings")
RECOMPUTE = reverse("outcomes_web:kpi-recompute")
PQLS = reverse("outcomes_web:pqls")
INKWELL = {
    "aha_event": "document_created",
    "core_events": ["document_created", "document_shared", "invite_sent", "feature_used"],
    "feature_events": ["feature_used", "document_shared"],
    "feature_property": "feature",
    "paid_event": "upgrade",
    "revenue_event": "upgrade",
    "revenue_period": "annual",
    "pql_event": "document_created",
    "pql_min_count": 5,
    "pql_unit": "account",
    "excluded_activity_events": ["$exposure", "notifications_unsubscribed"],
    "success_moments": [
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
    ],
}


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def inkwell(workspace):
    """120 users of the demo product over 70 days ending now, Inkwell's settings, computed."""
    demo_data_write(workspace=workspace, config=DemoConfig(users=120, days=70, seed=7))
    kpi_settings_update(workspace=workspace, changes=INKWELL)
    kpis_refresh(workspace=workspace)
    return workspace


def _settings_form(**overrides) -> dict:
    form = KpiSettingsForm(initial=KpiSettingsForm.initial_from(KpiSettings()))
    data = {name: form[name].initial for name in form.fields}
    data.update(overrides)
    return {k: "" if v is None else v for k, v in data.items()}


def _card_value(html: str, key: str) -> str:
    match = re.search(rf'data-kpi="{key}">([^<]*)<', html)
    assert match, key
    return match.group(1)


# --- the numbers ------------------------------------------------------------------------------
def test_dashboard_shows_the_cached_values_and_never_reads_events(client, viewer, inkwell):
    client.force_login(viewer.user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(DASHBOARD)
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if Event._meta.db_table in q["sql"]]
    html = response.content.decode()
    to = response.context["to"]
    assert to == local_today(inkwell) - timedelta(days=1)
    dashboard = kpi_dashboard(workspace=inkwell, on=to)
    for card in dashboard.value_creation + dashboard.value_capture:
        if card.configured and card.kpi.key in ("dau", "mau", "activation_rate", "nps", "mrr"):
            assert _card_value(html, card.kpi.key) == format_value(card.value, card.kpi.unit)
    assert _card_value(html, "mau") != "—"
    # Each KPI's definition is beside its number.
    assert "Distinct users active in the 30 local days ending on the day." in html
    # Value creation and value capture are apart, creation first.
    assert html.index("Value creation") < html.index('id="kpi-dau"') < html.index("Value capture")
    assert html.index("Value capture") < html.index('id="kpi-mrr"')


def test_mau_on_the_page_equals_a_brute_force_count_over_the_events(client, viewer, inkwell):
    client.force_login(viewer.user)
    response = client.get(DASHBOARD)
    to = response.context["to"]
    zone = ZoneInfo(inkwell.timezone)
    first = to - timedelta(days=29)
    active = set()
    excluded = set(INKWELL["excluded_activity_events"])
    for distinct_id, event, us in Event.objects.filter(workspace=inkwell).values_list(
        "distinct_id", "event", "timestamp_us"
    ):
        day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).astimezone(zone)
        if event not in excluded and first <= day.date() <= to:
            active.add(distinct_id)
    assert active
    assert _card_value(response.content.decode(), "mau") == f"{len(active):,}"


def test_cohort_heat_map_is_a_table_with_the_numbers_of_the_cache(client, viewer, inkwell):
    client.force_login(viewer.user)
    response = client.get(DASHBOARD, {"days": "90"})
    html = response.content.decode()
    to = response.context["to"]
    rows = kpi_cohort_table(workspace=inkwell, date_from=to - timedelta(days=90), date_to=to)
    assert rows
    table = html[
        html.index('<table class="heat"') : html.index(
            "</table>", html.index('<table class="heat"')
        )
    ]
    assert '<th scope="col">Signup week</th>' in table
    expected = [
        f"{cell.value * 100:.0f}%" for row in rows for cell in row.cells if cell.value is not None
    ]
    shown = re.findall(r'class="num heat-cell"[^>]*>([^<]+)</td>', table)
    assert shown == expected
    assert "background:rgb(" in table


def test_every_chart_has_a_table_with_the_same_numbers(client, viewer, inkwell):
    client.force_login(viewer.user)
    html = client.get(DASHBOARD).content.decode()
    for name in ("active", "stickiness", "activation", "mrr"):
        assert f'id="{name}-chart"' in html
        assert f'id="{name}-table"' in html
    assert html.count('role="img"') == html.count('data-outcomes-chart="')


def test_segment_and_period_filters_read_that_slice(client, viewer, workspace):
    KpiValue.objects.create(
        workspace=workspace,
        kpi="mau",
        date=datetime(2026, 3, 1, tzinfo=UTC).date(),
        segment="plan=pro",
        value=7,
        numerator=7,
        denominator=1,
        computed_at=datetime.now(UTC),
    )
    KpiValue.objects.create(
        workspace=workspace,
        kpi="mau",
        date=datetime(2026, 3, 1, tzinfo=UTC).date(),
        segment="",
        value=40,
        numerator=40,
        denominator=1,
        computed_at=datetime.now(UTC),
    )
    client.force_login(viewer.user)
    pro = client.get(DASHBOARD, {"segment": "plan=pro", "days": "30", "to": "2026-03-01"})
    assert _card_value(pro.content.decode(), "mau") == "7"
    everyone = client.get(DASHBOARD, {"segment": "", "days": "30", "to": "2026-03-01"})
    assert _card_value(everyone.content.decode(), "mau") == "40"
    bad = client.get(DASHBOARD, {"segment": "plan=nope"})
    assert "Select a valid choice" in bad.content.decode()
    assert bad.context["segment"] == ""


def test_kpis_without_their_settings_say_what_they_need(client, viewer, workspace):
    client.force_login(viewer.user)
    html = client.get(DASHBOARD).content.decode()
    card = html[html.index('id="kpi-activation_rate"') :]
    assert "Not set up" in card[:600]
    assert "Needs an Aha event" in card[:600]
    assert "No KPI values yet" in html


def test_heat_map_text_is_readable_on_every_shade():
    def luminance(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    for step in range(11):
        style = heat_style(step / 10, 1.0)
        r, g, b = (int(v) for v in re.search(r"rgb\((\d+),(\d+),(\d+)\)", style).groups())
        light = 0.2126 * luminance(r) + 0.7152 * luminance(g) + 0.0722 * luminance(b)
        ink = 1.0 if "#fff" in style else 0.0
        contrast = (max(light, ink) + 0.05) / (min(light, ink) + 0.05)
        assert contrast >= 4.5, (step, style)


# --- who may do what ------------------------------------------------------------------------
def test_viewers_read_settings_but_cannot_change_them_or_recompute(client, viewer, workspace):
    client.force_login(viewer.user)
    settings_page = client.get(SETTINGS).content.decode()
    assert "Save settings" not in settings_page
    assert 'name="aha_event"' in settings_page
    assert "disabled" in settings_page
    dashboard = client.get(DASHBOARD).content.decode()
    assert RECOMPUTE not in dashboard
    assert client.post(SETTINGS, _settings_form(aha_event="document_created")).status_code == 403
    assert client.post(RECOMPUTE, {"recompute-date_from": "2026-01-01"}).status_code == 403
    assert not KpiSettings.objects.filter(
        workspace=workspace, aha_event="document_created"
    ).exists()
    assert not BackgroundJob.objects.exists()


def test_an_editor_saves_the_settings_through_the_service(client, editor, workspace):
    client.force_login(editor.user)
    data = _settings_form(
        aha_event="document_created",
        core_events="document_created, document_shared,invite_sent",
        segment_properties="plan",
        pql_min_count="2000",
        feedback_topics="Offline mode: offline, sync\nDark mode: dark",
        success_moments="Aha: document_created within 7 days\n"
        "Habit: document_created 3 times on 2 days within 14 days",
    )
    response = client.post(SETTINGS, data)
    assert response.status_code == 302
    settings = KpiSettings.objects.get(workspace=workspace)
    assert settings.aha_event == "document_created"
    assert settings.core_events == ["document_created", "document_shared", "invite_sent"]
    assert settings.segment_properties == ["plan"]
    assert settings.pql_min_count == 2000
    assert settings.feedback_topics == [
        {"topic": "Offline mode", "keywords": ["offline", "sync"]},
        {"topic": "Dark mode", "keywords": ["dark"]},
    ]
    assert settings.success_moments == [
        {
            "name": "Aha",
            "event": "document_created",
            "window_days": 7,
            "min_count": 1,
            "min_distinct_days": 1,
        },
        {
            "name": "Habit",
            "event": "document_created",
            "window_days": 14,
            "min_count": 3,
            "min_distinct_days": 2,
        },
    ]
    assert AuditLog.objects.filter(action="kpi_settings.update", actor=editor.user).exists()
    again = client.get(SETTINGS).content.decode()
    assert "document_created, document_shared, invite_sent</textarea>" in again
    assert (
        "Aha: document_created within 7 days\n"
        "Habit: document_created 3 times on 2 days within 14 days</textarea>"
    ) in again


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"core_events": "document_created, $exposure"},
            "core_events",
            NOT_ACTIVITY.format(event="$exposure"),
        ),
        ({"pql_min_count": "0"}, "pql_min_count", "greater than or equal to 1"),
        ({"feature_property": "not a property!"}, "feature_property", "Property names use"),
        (
            {"feedback_topics": "Offline mode offline"},
            "feedback_topics",
            BAD_TOPIC_LINE.format(line=1),
        ),
        ({"segment_properties": "a, b, c, d"}, "segment_properties", "At most 3"),
        (
            {"success_moments": "Aha: document_created\nHabit: x within 7 days"},
            "success_moments",
            BAD_MOMENT_LINE.format(line=1),
        ),
        (
            {"success_moments": "Habit: doc 3 times on 9 days within 7 days"},
            "success_moments",
            BAD_MOMENTS.format(max=MAX_MOMENTS),
        ),
    ],
)
def test_bad_settings_are_shown_beside_their_field_and_nothing_is_written(
    client, editor, workspace, overrides, field, message
):
    client.force_login(editor.user)
    response = client.post(SETTINGS, _settings_form(aha_event="signed_in", **overrides))
    assert response.status_code == 400
    assert any(message in e for e in response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not KpiSettings.objects.filter(workspace=workspace, aha_event="signed_in").exists()


# --- recompute ------------------------------------------------------------------------------
def test_recompute_starts_the_job_and_the_page_follows_its_progress(
    client, editor, inkwell, eager, django_capture_on_commit_callbacks
):
    KpiValue.objects.filter(workspace=inkwell).delete()
    client.force_login(editor.user)
    today = local_today(inkwell)
    first = today - timedelta(days=69)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            RECOMPUTE + "?days=90",
            {"recompute-date_from": first.isoformat(), "recompute-date_to": today.isoformat()},
        )
    job = BackgroundJob.objects.get(workspace=inkwell, kind=RECOMPUTE_JOB_KIND)
    assert response.status_code == 302
    assert response["Location"] == f"{DASHBOARD}?days=90&job={job.pk}#recompute"
    assert (job.status, job.progress) == (JobStatus.SUCCEEDED, 1.0)
    assert KpiValue.objects.filter(workspace=inkwell, kpi="mau").exists()
    page = client.get(response["Location"]).content.decode()
    assert f'data-job-url="{reverse("kpi-job", kwargs={"job_id": job.pk})}"' in page
    assert 'aria-valuenow="100"' in page
    assert "Show the new numbers" in page
    # The endpoint the page polls answers the signed-in session.
    status = client.get(reverse("kpi-job", kwargs={"job_id": job.pk})).json()
    assert (status["status"], status["progress"]) == ("succeeded", 1.0)


def test_a_running_recompute_shows_on_the_dashboard_and_a_second_one_is_refused(
    client, editor, workspace
):
    running = BackgroundJob.objects.create(
        workspace=workspace,
        kind=RECOMPUTE_JOB_KIND,
        subject="2026-01-01..2026-02-01",
        status=JobStatus.RUNNING,
        progress=0.4,
    )
    client.force_login(editor.user)
    html = client.get(DASHBOARD).content.decode()
    assert 'aria-valuenow="40"' in html
    response = client.post(
        RECOMPUTE, {"recompute-date_from": "2026-01-01", "recompute-date_to": "2026-01-31"}
    )
    assert response.status_code == 400
    assert f"(job {running.pk})" in response.content.decode()
    assert BackgroundJob.objects.count() == 1


def test_a_reversed_recompute_period_is_shown_at_its_field(client, editor, workspace):
    client.force_login(editor.user)
    response = client.post(
        RECOMPUTE, {"recompute-date_from": "2026-02-01", "recompute-date_to": "2026-01-01"}
    )
    assert response.status_code == 400
    assert response.context["recompute_form"].errors["date_from"] == [RANGE_REVERSED]
    assert 'id="id_recompute-date_from_error"' in response.content.decode()
    assert not BackgroundJob.objects.exists()


def test_another_workspaces_job_is_not_shown(client, outsider, workspace):
    job = BackgroundJob.objects.create(
        workspace=workspace, kind=RECOMPUTE_JOB_KIND, subject="2026-01-01..2026-01-02"
    )
    client.force_login(outsider.user)
    html = client.get(DASHBOARD, {"job": job.pk}).content.decode()
    assert "data-job-url" not in html
    assert client.get(reverse("kpi-job", kwargs={"job_id": job.pk})).status_code == 404


# --- PQLs -----------------------------------------------------------------------------------
def test_pqls_are_listed_with_a_csv_export(client, viewer, inkwell):
    client.force_login(viewer.user)
    page = client.get(PQLS)
    leads = page.context["page"].paginator.count
    assert leads > 0
    html = page.content.decode()
    assert reverse("kpi-pqls-csv") in html
    first = page.context["page"].object_list[0]
    assert f"<code>{first.unit_id}</code>" in html
    csv = client.get(reverse("kpi-pqls-csv"))
    lines = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert len(lines) == leads + 1
    by_plan = defaultdict(int)
    for lead in page.context["page"].paginator.object_list:
        by_plan[lead.plan] += 1
    plan, count = max(by_plan.items(), key=lambda item: item[1])
    filtered = client.get(PQLS, {"plan": plan})
    assert filtered.context["page"].paginator.count == count


def test_cards_ending_before_the_page_date_say_so(client, viewer, inkwell):
    client.force_login(viewer.user)
    response = client.get(DASHBOARD)
    html = response.content.decode()
    to = response.context["to"]
    cards = {c.kpi.key: c for c in kpi_dashboard(workspace=inkwell, on=to).value_creation}
    d30 = cards["retention_d30"]
    # The latest day-30 cohort that can be complete started 30 days before the page's date
    # (its day 30 is the page's date); whether it is depends on the hour the data ends.
    assert d30.window_end <= to - timedelta(days=30)
    note = html[html.index('data-earlier="retention_d30"') :].split("</p>", 1)[0]
    days = (to - d30.window_end).days
    assert f"Ends {days} days before the page date ({to.day} {to:%b %Y})" in note
    # Cards as of the page's own day carry no such note.
    assert 'data-earlier="mau"' not in html
    assert cards["mau"].window_end == to


def test_each_card_says_what_its_number_is(client, viewer, inkwell):
    client.force_login(viewer.user)
    html = client.get(DASHBOARD).content.decode()

    def card(key: str) -> str:
        start = html.index(f'id="kpi-{key}"')
        return html[start : html.index('<div class="kpi-card', start + 1)]

    assert "Daily active users (7-day average)" in card("dau")
    assert "average day of the 7 days to" in card("dau")
    assert "Median (not mean) hours" in card("time_to_value")
    assert "anonymous users included" in card("new_users")
    assert "Users who never signed up are not counted" in card("new_signups")
    nps = card("nps")
    assert "each respondent counts once, by their latest answer" in nps
    assert "the 30 days to" in nps


def test_a_time_to_event_metric_says_it_is_a_mean():
    assert "mean hours" in MetricType.TIME_TO_EVENT.label


def test_success_moments_show_per_signup_week_with_their_definitions(client, viewer, inkwell):
    client.force_login(viewer.user)
    response = client.get(DASHBOARD)
    html = response.content.decode()
    to = response.context["to"]
    section = html[
        html.index('id="success-moments"') : html.index(
            "</table>", html.index('id="success-moments"')
        )
    ]
    assert (
        "<dt>Habit</dt><dd>did document_created at least 20 times on at least 8 different days "
        "within 30 days of signup</dd>" in section
    )
    assert "<dt>Setup</dt><dd>did workspace_setup once within 1 day of signup</dd>" in section
    cached = {
        (r.date, r.dimension): r
        for r in KpiValue.objects.filter(
            workspace=inkwell, kpi="success_moment", period="week", segment=""
        )
    }
    rows = re.findall(r"<tr><th scope=\"row\">Week of ([^<]+)</th>(.*?)</tr>", section)
    assert len(rows) == 8
    reached = 0
    for label, cells in rows:
        week = datetime.strptime(label, "%d %b %Y").replace(tzinfo=UTC).date()
        assert week <= to
        texts = re.findall(r'data-moment="(\d)">([^<]*) <span class="muted small">([^<]*)<', cells)
        for index, rate, detail in texts:
            name = ("Setup", "Aha", "Eureka", "Habit")[int(index)]
            row = cached[(week, name)]
            if row.denominator:
                assert rate.strip() == format_value(row.value, "share")
                assert detail == f"{int(row.numerator):,} of {int(row.denominator):,} users"
                reached += row.numerator > 0
            else:
                assert rate.strip() == "—"
    assert reached >= 3
