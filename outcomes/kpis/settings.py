"""The KPI settings of a workspace: read (created with defaults on first use) and change.

A change that alters what a KPI counts marks the cache for a full recompute on the next
scheduled refresh, and writes an audit record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from metrics.public import PROPERTY_NAME
from outcomes.kpis.models import KpiSettings, PqlUnit, RevenuePeriod
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

EVENT_LIST_FIELDS = ("activity_events", "excluded_activity_events", "core_events", "feature_events")
EVENT_FIELDS = (
    "signup_event",
    "aha_event",
    "paid_event",
    "pql_event",
    "nps_event",
    "ces_event",
    "feedback_event",
    "revenue_event",
    "revenue_churn_event",
)
PROPERTY_FIELDS = (
    "feature_property",
    "account_property",
    "arr_property",
    "plan_property",
    "nps_score_property",
    "ces_score_property",
    "feedback_property",
    "revenue_property",
)
# (field, smallest, largest)
NUMBER_FIELDS = (
    ("activation_window_days", 1, 365),
    ("ttv_window_days", 1, 365),
    ("paid_window_days", 1, 730),
    ("pql_min_count", 1, 1_000_000),
    ("pql_window_days", 1, 365),
    ("ces_scale_max", 2, 100),
    ("feedback_window_days", 1, 730),
)
MAX_EVENTS_IN_LIST = 50
MAX_SEGMENT_PROPERTIES = 3

UNKNOWN_SETTING = "Unknown setting."
BAD_EVENT_NAME = "Give an event name of at most 200 characters."
BAD_EVENT_LIST = "Give a list of at most {max} distinct event names."
BAD_PROPERTY = "Property names use letters, digits, '_', '-' or '$' (at most 100 characters)."
BAD_NUMBER = "Give a whole number from {lo} to {hi}."
BAD_CHOICE = "Expected one of: {choices}."
NOT_ACTIVITY = (
    "{event!r} does not count as activity under the activity definition; adoption is measured "
    "among active users, so core and feature events must be activity events."
)
TOO_MANY_SEGMENTS = "At most {max} segment properties (each multiplies the cached rows)."
BAD_TOPICS = (
    'Give at most {max} topics as [{{"topic": "Offline mode", "keywords": ["offline"]}}], each '
    "with 1 to 20 keywords of at most 100 characters."
)
MAX_TOPICS = 50
MAX_MOMENTS = 4
BAD_MOMENTS = (
    'Give at most {max} success moments as [{{"name": "Setup", "event": "workspace_setup", '
    '"window_days": 1, "min_count": 1, "min_distinct_days": 1}}]: distinct names of at most 40 '
    "characters, an event, window_days 1–365, min_count 1–10000 and min_distinct_days from 1 "
    "to window_days (the counts default to 1)."
)
PQL_ACCOUNT_NEEDS_PROPERTY = "Account-level PQLs need the account property."
# Settings that change no KPI value, so no recompute is needed.
_NO_RECOMPUTE = {
    "pql_event",
    "pql_min_count",
    "pql_window_days",
    "pql_unit",
    "feedback_event",
    "feedback_property",
    "feedback_window_days",
    "plan_property",
    "feedback_topics",
}


def kpi_settings_get(*, workspace: Workspace) -> KpiSettings:
    """Return the workspace's KPI settings, creating the defaults on first use."""
    settings, _ = KpiSettings.objects.get_or_create(workspace=workspace)
    return settings


def _event_name(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise ValidationFailed(BAD_EVENT_NAME, field=name)
    return value.strip()


def _event_list(value: Any, name: str) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_EVENTS_IN_LIST
        or not all(isinstance(v, str) and 0 < len(v.strip()) <= 200 for v in value)
        or len({v.strip() for v in value}) != len(value)
    ):
        raise ValidationFailed(BAD_EVENT_LIST.format(max=MAX_EVENTS_IN_LIST), field=name)
    return [v.strip() for v in value]


def _property(value: Any, name: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or (value and not PROPERTY_NAME.match(value)):
        raise ValidationFailed(BAD_PROPERTY, field=name)
    if not value and not allow_empty:
        raise ValidationFailed(BAD_PROPERTY, field=name)
    return value


def _number(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationFailed(BAD_NUMBER.format(lo=lo, hi=hi), field=name)
    return value


def _topics(value: Any) -> list[dict[str, Any]]:
    def text(v: Any, longest: int) -> bool:
        return isinstance(v, str) and 0 < len(v.strip()) <= longest

    if not isinstance(value, list) or len(value) > MAX_TOPICS:
        raise ValidationFailed(BAD_TOPICS.format(max=MAX_TOPICS), field="feedback_topics")
    topics = []
    for item in value:
        keywords = item.get("keywords") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or set(item) != {"topic", "keywords"}
            or not text(item["topic"], 200)
            or not isinstance(keywords, list)
            or not 1 <= len(keywords) <= 20
            or not all(text(k, 100) for k in keywords)
        ):
            raise ValidationFailed(BAD_TOPICS.format(max=MAX_TOPICS), field="feedback_topics")
        topics.append(
            {"topic": item["topic"].strip(), "keywords": [k.strip().lower() for k in keywords]}
        )
    return topics


def _choice(choices: type) -> Callable[[Any, str], str]:
    def check(value: Any, name: str) -> str:
        if value not in choices.values:
            raise ValidationFailed(BAD_CHOICE.format(choices=", ".join(choices.values)), field=name)
        return value

    return check


def _segment_properties(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_SEGMENT_PROPERTIES:
        raise ValidationFailed(TOO_MANY_SEGMENTS.format(max=MAX_SEGMENT_PROPERTIES), field=name)
    return [_property(v, name, allow_empty=False) for v in value]


def _moments(value: Any, name: str) -> list[dict[str, Any]]:
    """Validate success moments: the metric layer's moment rule, one per name."""
    error = ValidationFailed(BAD_MOMENTS.format(max=MAX_MOMENTS), field=name)
    if not isinstance(value, list) or len(value) > MAX_MOMENTS:
        raise error
    allowed = {"name", "event", "window_days", "min_count", "min_distinct_days"}
    moments = []
    for item in value:
        if not isinstance(item, dict) or set(item) - allowed or not {"name", "event"} <= set(item):
            raise error
        label = item["name"].strip() if isinstance(item["name"], str) else ""
        event = item["event"].strip() if isinstance(item["event"], str) else ""
        if not 0 < len(label) <= 40 or not 0 < len(event) <= 200:
            raise error
        counts = {
            key: item.get(key, 1) for key in ("window_days", "min_count", "min_distinct_days")
        }
        if any(isinstance(v, bool) or not isinstance(v, int) for v in counts.values()):
            raise error
        window, times, days = (
            counts["window_days"],
            counts["min_count"],
            counts["min_distinct_days"],
        )
        if not (1 <= window <= 365 and 1 <= times <= 10_000 and 1 <= days <= window):
            raise error
        moments.append(
            {
                "name": label,
                "event": event,
                "window_days": window,
                "min_count": times,
                "min_distinct_days": days,
            }
        )
    if len({m["name"].lower() for m in moments}) != len(moments):
        raise error
    return moments


def _validator(name: str) -> Callable[[Any, str], Any]:
    """Return the function that validates and cleans setting ``name``."""
    numbers = {field: (lo, hi) for field, lo, hi in NUMBER_FIELDS}
    if name in EVENT_FIELDS:
        return _event_name
    if name in EVENT_LIST_FIELDS:
        return _event_list
    if name in PROPERTY_FIELDS:
        return _property
    if name in numbers:
        return lambda value, field: _number(value, field, *numbers[field])
    special: dict[str, Callable[[Any, str], Any]] = {
        "segment_properties": _segment_properties,
        "feedback_topics": lambda value, field: _topics(value),
        "success_moments": _moments,
        "pql_unit": _choice(PqlUnit),
        "revenue_period": _choice(RevenuePeriod),
    }
    if name not in special:
        raise ValidationFailed(UNKNOWN_SETTING, field=name)
    return special[name]


def _clean(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate each change by its field; return them cleaned."""
    return {name: _validator(name)(value, name) for name, value in changes.items()}


def counts_as_activity(settings: KpiSettings, event: str) -> bool:
    """Return whether ``event`` is an activity event under the workspace's definition."""
    if event in settings.excluded_activity_events:
        return False
    return not settings.activity_events or event in settings.activity_events


def _check_consistency(settings: KpiSettings) -> None:
    for name in ("core_events", "feature_events"):
        for event in getattr(settings, name):
            if not counts_as_activity(settings, event):
                raise ValidationFailed(NOT_ACTIVITY.format(event=event), field=name)
    if settings.pql_unit == PqlUnit.ACCOUNT and not settings.account_property:
        raise ValidationFailed(PQL_ACCOUNT_NEEDS_PROPERTY, field="account_property")


@transaction.atomic
def kpi_settings_update(
    *, workspace: Workspace, changes: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> KpiSettings:
    """Change some KPI settings; validate every field first, then the whole, then write."""
    clean = _clean(changes)
    settings = KpiSettings.objects.select_for_update().get(
        pk=kpi_settings_get(workspace=workspace).pk
    )
    before = {name: getattr(settings, name) for name in clean}
    for name, value in clean.items():
        setattr(settings, name, value)
    _check_consistency(settings)
    changed = {name for name in clean if before[name] != clean[name]}
    if not changed:
        return settings
    fields = sorted(changed)
    if changed - _NO_RECOMPUTE:
        # What the KPIs count changed: the next refresh recomputes the whole history.
        settings.computed_through = None
        fields.append("computed_through")
    settings.full_clean()
    settings.save(update_fields=[*fields, "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        action="kpi_settings.update",
        obj=settings,
        changes={name: {"from": before[name], "to": clean[name]} for name in sorted(changed)},
    )
    return settings
