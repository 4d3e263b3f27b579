"""Weekly check-in reminders for key results, through the alerts' notifications and webhooks.

Key results live in ``outcomes``, below this app; notifications and webhooks live here. So the
reminder is sent from here, reading key results through outcomes' selectors and outlook.

A key result whose period is under way gets one reminder per ISO week (its dedupe key is
``check-in-due:<key result>:<ISO year>-W<week>``, so running the task again in the same week
sends nothing), from ``REMINDER_WEEKDAY`` at ``REMINDER_HOUR`` in its workspace's time zone,
unless a person already checked in during the last ``QUIET_AFTER_CHECK_IN_DAYS`` days. The
body carries the forecast's "why", so the reminder says where the key result stands.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from experiments.models import AlertKind, Notification
from experiments.services.alerts import notification_create
from outcomes.okrs.models import KeyResult, ValueSource
from outcomes.okrs.outlook import key_result_outlook, percent_words
from outcomes.okrs.selectors import key_results_under_way

REMINDER_WEEKDAY = 0  # Monday…
REMINDER_HOUR = 9  # …from 9:00 local time, any later run of the same week catches up
QUIET_AFTER_CHECK_IN_DAYS = 6  # a check-in by a person this recently needs no reminder

REMINDER_TITLE = "Weekly check-in due: “{title}”"
REMINDER_BODY = (
    "Add this week's check-in on “{title}” ({objective}): your confidence from 1 to 10 and "
    "what changed. {standing}"
)
NO_FORECAST = "No forecast yet: {message}"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _due(key_result: KeyResult, local: datetime) -> bool:
    """Whether the reminder of this week is due at local time ``local`` for the key result."""
    objective = key_result.objective
    today = local.date()
    if not objective.period_start <= today <= objective.period_end:
        return False
    if (local.weekday(), local.hour) < (REMINDER_WEEKDAY, REMINDER_HOUR):
        return False
    quiet_since = today - timedelta(days=QUIET_AFTER_CHECK_IN_DAYS)
    return not any(
        c.source == ValueSource.MANUAL and c.date >= quiet_since for c in key_result.check_ins.all()
    )


def key_result_check_in_reminder(*, key_result: KeyResult, today: date) -> Notification | None:
    """Create this week's reminder for one key result (None when it exists already)."""
    week = iso_week(today)
    dedupe_key = f"check-in-due:{key_result.pk}:{week}"
    if Notification.objects.filter(
        workspace_id=key_result.workspace_id, dedupe_key=dedupe_key
    ).exists():
        return None  # reminded this week already: skip the forecast too
    outlook = key_result_outlook(key_result=key_result, today=today)
    standing = outlook.why or NO_FORECAST.format(message=outlook.message)
    objective = key_result.objective
    return notification_create(
        workspace=key_result.workspace,
        experiment=None,
        kind=AlertKind.CHECK_IN_DUE,
        dedupe_key=dedupe_key,
        title=REMINDER_TITLE.format(title=key_result.title),
        body=REMINDER_BODY.format(
            title=key_result.title, objective=objective.title, standing=standing
        ),
        payload={
            "key_result": key_result.pk,
            "key_result_title": key_result.title,
            "objective": objective.pk,
            "objective_title": objective.title,
            "owner": objective.owner.email if objective.owner else None,
            "week": week,
            "status": outlook.status,
            "probability": outlook.probability,
            "chance": percent_words(outlook.probability)
            if outlook.probability is not None
            else None,
            "path": reverse("outcomes_web:key-result", args=[key_result.pk]),
        },
    )


def check_in_reminders_send(*, now: datetime | None = None) -> list[Notification]:
    """Send the week's check-in reminders that are due (module docstring); return the new ones.

    Safe to run as often as wanted: each key result is reminded at most once per ISO week.
    """
    now = now or timezone.now()
    sent = []
    for key_result in key_results_under_way(around=now.date()):
        local = now.astimezone(ZoneInfo(key_result.workspace.timezone))
        if not _due(key_result, local):
            continue
        notification = key_result_check_in_reminder(key_result=key_result, today=local.date())
        if notification is not None:
            sent.append(notification)
    return sent
