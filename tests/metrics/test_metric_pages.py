"""The metric pages: the list, the funnel form (steps typed as people write them, errors on the
row they concern, nothing written on error), and a funnel's steps by weekly signup cohort."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from metrics.metric_forms import conditions_text, parse_conditions
from metrics.public import Metric, metric_create
from plg_platform.models import AuditLog
from plg_platform.services.ingestion import events_ingest

pytestmark = pytest.mark.django_db

NEW = reverse("metrics_web:funnel-create")


def _client(actor) -> Client:
    client = Client()
    client.force_login(actor.user)
    return client


def _form(**rows: str) -> dict[str, str]:
    data = {"key": "activation", "name": "Activation", "window_days": "7", "direction": "increase"}
    data.update(rows)
    return data


def test_conditions_read_as_written_and_write_back_the_same():
    filters = parse_conditions('plan = pro; seats >= 3\nbeta = true; code = "42"; ref is set')
    assert filters == [
        {"property": "plan", "op": "eq", "value": "pro"},
        {"property": "seats", "op": "gte", "value": 3},
        {"property": "beta", "op": "eq", "value": True},
        {"property": "code", "op": "eq", "value": "42"},
        {"property": "ref", "op": "is_set"},
    ]
    assert parse_conditions(conditions_text(filters)) == filters
    assert parse_conditions("country in DE, FR, 5") == [
        {"property": "country", "op": "in", "value": ["DE", "FR", 5]}
    ]
    assert conditions_text([{"property": "amount", "op": "lt", "value": 9.5}]) == "amount < 9.5"


def test_an_editor_defines_a_funnel_and_lands_on_its_page(editor):
    response = _client(editor).post(
        NEW,
        _form(
            step_0_event="signup",
            step_1_event="document_created",
            step_1_name="Created a document",
            step_1_filters="plan = pro; seats >= 3",
            # a row left empty in between is left out
            step_3_event="upgrade",
        ),
    )
    assert response.status_code == 302
    assert response.url == reverse("metrics_web:metric", kwargs={"key": "activation"})
    metric = Metric.objects.get(key="activation")
    assert metric.type == "funnel"
    assert metric.window_days == 7
    assert metric.steps == [
        {"event": "signup", "filters": []},
        {
            "event": "document_created",
            "filters": [
                {"property": "plan", "op": "eq", "value": "pro"},
                {"property": "seats", "op": "gte", "value": 3},
            ],
            "name": "Created a document",
        },
        {"event": "upgrade", "filters": []},
    ]
    assert AuditLog.objects.filter(action="metric.create").count() == 1
    listing = _client(editor).get(reverse("metrics_web:metrics")).content.decode()
    assert "signup → Created a document → upgrade, in order, within 7 days" in listing


@pytest.mark.parametrize(
    ("rows", "field", "fragment"),
    [
        ({"step_0_event": "signup"}, "step_0_event", "2 to 10 steps"),
        ({"step_0_event": "signup", "step_1_name": "no event"}, "step_1_event", "event name"),
        (
            {"step_0_event": "signup", "step_1_event": "doc", "step_1_filters": "plan ~ pro"},
            "step_1_filters",
            "property = value",
        ),
        (
            # The second filled row is the form's third: the engine's steps.1 lands there.
            {
                "step_0_event": "signup",
                "step_2_event": "upgrade",
                "step_2_filters": "amount >= ten",
            },
            "step_2_filters",
            "Comparisons need a number",
        ),
        ({"step_0_event": "a", "step_1_event": "b", "window_days": "0"}, "window_days", "1"),
    ],
)
def test_a_bad_funnel_shows_the_error_on_its_row_and_writes_nothing(editor, rows, field, fragment):
    response = _client(editor).post(NEW, _form(**rows))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert "Some answers need another look" in response.content.decode()
    assert not Metric.objects.exists()


def test_a_taken_key_is_shown_on_the_key(editor):
    metric_create(
        workspace=editor.workspace,
        key="activation",
        name="Old",
        spec={"type": "conversion", "event": "x", "window_days": 3},
    )
    response = _client(editor).post(NEW, _form(step_0_event="a", step_1_event="b"))
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["key"][0]


def test_viewers_read_metrics_but_cannot_define_them(viewer, outsider):
    metric_create(
        workspace=viewer.workspace,
        key="activation",
        name="Activation",
        spec={"type": "funnel", "window_days": 7, "steps": [{"event": "a"}, {"event": "b"}]},
    )
    client = _client(viewer)
    listing = client.get(reverse("metrics_web:metrics")).content.decode()
    assert "Activation" in listing
    assert NEW not in listing
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, _form(step_0_event="a", step_1_event="b")).status_code == 403
    page = reverse("metrics_web:metric", kwargs={"key": "activation"})
    assert client.get(page).status_code == 200
    assert _client(outsider).get(page).status_code == 404


def test_the_metric_page_shows_each_weekly_cohort_step_by_step(editor):
    workspace = editor.workspace
    metric_create(
        workspace=workspace,
        key="activation",
        name="Activation",
        spec={
            "type": "funnel",
            "window_days": 7,
            "steps": [
                {"event": "signup"},
                {"event": "doc", "filters": [{"property": "plan", "op": "eq", "value": "pro"}]},
                {"event": "invite"},
            ],
        },
    )
    now = datetime.now(tz=UTC)
    # Twelve users who signed up on one day three weeks ago (their window has passed).
    signup = (now - timedelta(days=21)).replace(hour=12, minute=0, second=0, microsecond=0)
    events = []
    for i in range(12):
        unit = f"user{i}"
        events.append({"event": "signup", "distinct_id": unit, "timestamp": signup})
        if i < 8:  # eight create a pro document; six of them then invite
            events.append(
                {
                    "event": "doc",
                    "distinct_id": unit,
                    "timestamp": signup + timedelta(hours=1),
                    "properties": {"plan": "pro"},
                }
            )
            if i < 6:
                events.append(
                    {
                        "event": "invite",
                        "distinct_id": unit,
                        "timestamp": signup + timedelta(hours=2),
                    }
                )
        elif i < 10:  # two invite before their (free) document: neither counts
            events.append(
                {"event": "invite", "distinct_id": unit, "timestamp": signup + timedelta(hours=1)}
            )
            events.append(
                {
                    "event": "doc",
                    "distinct_id": unit,
                    "timestamp": signup + timedelta(hours=2),
                    "properties": {"plan": "free"},
                }
            )
    raw = [{**e, "timestamp": e["timestamp"].isoformat()} for e in events]
    assert events_ingest(workspace=workspace, raw_events=raw).rejected == []

    response = _client(editor).get(reverse("metrics_web:metric", kwargs={"key": "activation"}))
    assert response.status_code == 200
    page = response.content.decode()
    assert "where <code>plan = pro</code>" in page
    rows = re.findall(r'<tr data-cohort="([\d-]+)">(.*?)</tr>', page, flags=re.S)
    filled = [(day, row) for day, row in rows if 'data-col="units">12' in row]
    assert len(filled) == 1
    cells = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split())
        for c in re.findall(r'data-col="(?:value|step)">(.*?)</td>', filled[0][1], flags=re.S)
    ]
    assert cells[0].startswith("50.0%")  # six of twelve reached the last step
    assert cells[1] == "12 100.0%"
    assert cells[2] == "8 66.7% 66.7% of the step before"
    assert cells[3] == "6 50.0% 75.0% of the step before"
    assert 'data-chart="bars"' in page
