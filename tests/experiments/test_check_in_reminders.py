"""Weekly check-in reminders of key results: one notification per key result and ISO week, from
Monday 9:00 in the workspace's zone, none after a person's recent check-in or outside the
period, delivered to the workspace's webhooks with the forecast's "why" in its text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings

from experiments.models import AlertKind, Notification, WebhookDelivery
from experiments.services.reminders import (
    REMINDER_TITLE,
    check_in_reminders_send,
    iso_week,
)
from experiments.services.webhooks import webhook_create, webhook_delivery_attempt
from experiments.tasks import send_check_in_reminders
from outcomes.okrs.models import CheckIn, ValueSource
from outcomes.okrs.outlook import key_result_outlook
from outcomes.okrs.services.check_ins import check_in_create
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from plg_platform.models import Role
from tests.experiments.test_exp_health_webhooks import receiver  # noqa: F401 - a fixture
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # ISO week 2026-W49
WEEKLY = [0.331, 0.328, 0.335, 0.333, 0.327, 0.334, 0.338, 0.332, 0.336]


@pytest.fixture
def key_result(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    owner = UserFactory(email="owner@example.com")
    MembershipFactory(workspace=workspace, user=owner, role=Role.EDITOR)
    objective = objective_create(
        workspace=workspace, title="New teams stick", quarter="2026-Q4", owner_id=owner.pk
    )
    key_result = key_result_create(
        objective=objective,
        title="Raise the Aha rate to 34%",
        metric_key="aha-rate",
        target=0.34,
        baseline=0.33,
        baseline_reason="Last quarter's report",
    )
    for week, value in enumerate(WEEKLY):
        CheckIn.objects.create(
            key_result=key_result,
            date=date(2026, 10, 1) + timedelta(days=7 * week),
            source=ValueSource.COMPUTED,
            value=value,
        )
    return key_result


def test_one_reminder_per_key_result_and_week(key_result):
    (first,) = check_in_reminders_send(now=MONDAY)

    assert first.kind == AlertKind.CHECK_IN_DUE
    assert first.dedupe_key == f"check-in-due:{key_result.pk}:2026-W49"
    assert first.title == REMINDER_TITLE.format(title=key_result.title)
    assert check_in_reminders_send(now=MONDAY + timedelta(hours=1)) == []
    assert check_in_reminders_send(now=MONDAY + timedelta(days=3)) == []  # Thursday
    assert check_in_reminders_send(now=MONDAY + timedelta(days=6, hours=13)) == []  # Sunday
    (second,) = check_in_reminders_send(now=MONDAY + timedelta(days=7))
    assert second.dedupe_key.endswith(":2026-W50")
    assert Notification.objects.filter(kind=AlertKind.CHECK_IN_DUE).count() == 2


def test_the_reminder_says_where_the_key_result_stands(key_result):
    (notification,) = check_in_reminders_send(now=MONDAY)

    outlook = key_result_outlook(key_result=key_result, today=MONDAY.date())
    assert outlook.why
    assert outlook.why in notification.body
    assert "your confidence from 1 to 10" in notification.body
    assert notification.payload["key_result"] == key_result.pk
    assert notification.payload["week"] == "2026-W49"
    assert notification.payload["status"] == outlook.status
    assert notification.payload["probability"] == pytest.approx(outlook.probability)
    assert notification.payload["owner"] == "owner@example.com"
    assert notification.payload["path"] == f"/okrs/key-results/{key_result.pk}/"


def test_the_reminder_waits_for_monday_nine_in_the_workspace_zone(key_result, workspace):
    workspace.timezone = "America/New_York"
    workspace.save(update_fields=["timezone"])
    monday_7am_new_york = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    sunday_night_utc = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # still Sunday in New York

    # Sunday evening in New York: the week before (W48) had no reminder yet; it catches up.
    (late,) = check_in_reminders_send(now=sunday_night_utc)
    assert late.payload["week"] == "2026-W48"
    # Monday before 9:00 in New York (though after 9:00 in UTC): nothing for W49 yet.
    assert check_in_reminders_send(now=monday_7am_new_york) == []
    (sent,) = check_in_reminders_send(now=monday_7am_new_york + timedelta(hours=2, minutes=30))
    assert sent.payload["week"] == "2026-W49"


def test_no_reminder_after_a_recent_check_in_by_a_person(key_result):
    check_in_create(
        key_result=key_result,
        confidence=7,
        comment="Checklist shipped",
        day=date(2026, 11, 26),
        now=MONDAY,
    )
    key_result.refresh_from_db()
    assert check_in_reminders_send(now=MONDAY) == []
    # A week on, that check-in is old: remind again.
    assert len(check_in_reminders_send(now=MONDAY + timedelta(days=7))) == 1


def test_no_reminder_outside_the_period(key_result):
    assert check_in_reminders_send(now=datetime(2026, 9, 28, 10, tzinfo=UTC)) == []
    assert check_in_reminders_send(now=datetime(2027, 1, 4, 10, tzinfo=UTC)) == []


def test_a_key_result_without_a_forecast_is_reminded_too(key_result):
    CheckIn.objects.filter(key_result=key_result).delete()
    (sent,) = check_in_reminders_send(now=MONDAY)
    assert "No forecast yet: Only 0 weekly value(s) so far" in sent.body
    assert sent.payload["status"] is None


def test_the_reminder_is_delivered_to_the_workspaces_webhooks(
    key_result,
    workspace,
    receiver,  # noqa: F811 - the fixture imported above
    django_capture_on_commit_callbacks,
):
    webhook_create(workspace=workspace, url=receiver.url, events=[AlertKind.CHECK_IN_DUE])
    webhook_create(workspace=workspace, url=receiver.url + "/srm-only", events=[AlertKind.SRM])
    with django_capture_on_commit_callbacks() as callbacks:
        (notification,) = check_in_reminders_send(now=MONDAY)
    (delivery,) = WebhookDelivery.objects.filter(notification=notification)
    assert len(callbacks) == 1  # the delivery task, queued on commit

    assert webhook_delivery_attempt(delivery_id=delivery.pk).delivered
    ((headers, body),) = receiver.requests
    payload = json.loads(body)
    assert headers["x-plg-event"] == "check_in_due"
    assert payload["type"] == "check_in_due"
    assert payload["experiment"] is None
    assert payload["text"].startswith(f"Weekly check-in due: “{key_result.title}”\n")
    assert payload["data"]["key_result"] == key_result.pk
    assert payload["data"]["week"] == iso_week(MONDAY.date())


def test_the_task_is_on_the_beat_schedule_and_sends(key_result, monkeypatch):
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "experiments.tasks.send_check_in_reminders"
    ]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 3600
    monkeypatch.setattr("experiments.services.reminders.timezone.now", lambda: MONDAY)

    assert send_check_in_reminders.run() == 1
    assert send_check_in_reminders.run() == 0
