"""``manage.py load_demo``: the demo workspace, its login, data and metrics, idempotently."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from learnings.management.commands.load_demo import (
    DEMO_EMAIL,
    DEMO_METRICS,
    DEMO_WORKSPACE_SLUG,
    demo_password,
)
from outcomes.models import Metric, MetricKind
from plg_platform.demo.config import epoch_us
from plg_platform.models import ApiKey, Event, Membership, Person, Role, Workspace

pytestmark = pytest.mark.django_db

ARGS = ("--users", "120", "--days", "40", "--port", "8765", "--no-progress")


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo", *ARGS, stdout=out)
    return out.getvalue()


def _state(workspace: Workspace) -> dict[str, int]:
    return {
        "events": Event.objects.filter(workspace=workspace).count(),
        "persons": Person.objects.filter(workspace=workspace).count(),
        "metrics": Metric.objects.filter(workspace=workspace).count(),
        "keys": ApiKey.objects.filter(workspace=workspace).count(),
        "members": Membership.objects.filter(workspace=workspace).count(),
    }


def test_first_run_creates_workspace_login_keys_data_and_metrics():
    output = _load()

    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    user = get_user_model().objects.get(email=DEMO_EMAIL)
    password = demo_password(DEMO_EMAIL)
    state = _state(workspace)
    assert state["events"] > 120 * 20
    assert {k: v for k, v in state.items() if k != "events"} == {
        "persons": 120,
        "metrics": len(DEMO_METRICS),
        "keys": 3,
        "members": 1,
    }
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.ADMIN
    assert user.check_password(password)
    assert password not in user.password  # stored hashed only
    assert "Open   http://127.0.0.1:8765/" in output
    assert f"E-mail {DEMO_EMAIL}" in output
    assert f"Password {password}" in output
    assert "ingestion key  plg_ing_" in output
    # The data set ends when the workspace was created (to the minute).
    latest = Event.objects.filter(workspace=workspace).order_by("-timestamp_us").first()
    assert latest.timestamp_us < epoch_us(workspace.created_at.replace(second=0, microsecond=0))


def test_demo_metrics_are_the_expected_definitions():
    _load()

    metrics = {m.key: m for m in Metric.objects.filter(workspace__slug=DEMO_WORKSPACE_SLUG)}
    aha = metrics["aha-7d"]
    assert (aha.type, aha.event, aha.window_days) == ("conversion", "document_created", 7)
    habit = metrics["habit-30d"]
    assert (habit.type, habit.min_count, habit.min_distinct_days) == ("moment", 20, 8)
    assert [metrics[f"retention-d{d}"].retention_start_day for d in (1, 7, 30)] == [1, 7, 30]
    revenue = metrics["revenue-90d"]
    assert (revenue.type, revenue.property, revenue.kind) == (
        "sum", "amount", MetricKind.VALUE_CAPTURE,
    )  # fmt: skip
    assert metrics["account-revenue-90d"].unit_property == "account_id"
    assert metrics["nps-promoter-90d"].filters == [{"property": "score", "op": "gte", "value": 9}]


def test_second_run_changes_nothing_and_prints_the_same_login():
    first = _load()
    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    before = _state(workspace)
    password_hash = get_user_model().objects.get(email=DEMO_EMAIL).password

    second = _load()

    assert _state(workspace) == before
    assert Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).count() == 1
    assert get_user_model().objects.get(email=DEMO_EMAIL).password == password_hash
    assert "Reusing the workspace" in second
    assert "Demo data already there (120 users); not generating." in second
    assert f"{len(DEMO_METRICS)} metrics (0 new)" in second
    assert f"Password {demo_password(DEMO_EMAIL)}" in first
    assert f"Password {demo_password(DEMO_EMAIL)}" in second
    assert "plg_ing_" not in second  # secrets are shown once


def test_an_interrupted_load_is_completed_with_the_same_events():
    _load()
    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    complete = set(Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True))
    # Lose the second half of the users, as if the load had stopped there.
    lost = sorted(Person.objects.filter(workspace=workspace).values_list("distinct_id", flat=True))
    lost = lost[60:]
    Person.objects.filter(workspace=workspace, distinct_id__in=lost).delete()
    Event.objects.filter(workspace=workspace, distinct_id__in=lost).delete()

    _load()

    again = set(Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True))
    assert again == complete
    assert Person.objects.filter(workspace=workspace).count() == 120


def test_the_printed_login_opens_the_home_page_of_the_demo_workspace():
    _load()
    client = Client()

    assert client.login(username=DEMO_EMAIL, password=demo_password(DEMO_EMAIL))
    response = client.get("/")

    assert response.status_code == 200
    assert "Inkwell demo" in response.content.decode()
