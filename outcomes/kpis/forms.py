"""Forms of the KPI pages: the dashboard's filters, a recompute's period, and the KPI settings
(lists typed comma-separated, feedback topics one per line); ``kpi_settings_update`` validates
each setting and names the field at fault."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms

from outcomes.kpis.models import KpiSettings, PqlUnit, RevenuePeriod
from outcomes.kpis.settings import EVENT_FIELDS, EVENT_LIST_FIELDS, NUMBER_FIELDS
from plg_platform.web.forms import DateInput, PageForm

PERIOD_CHOICES = [
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("180", "Last 180 days"),
    ("365", "Last 365 days"),
]
DEFAULT_PERIOD_DAYS = 90
BAD_TOPIC_LINE = "Write one topic per line as “Topic: keyword, keyword” (line {line})."
BAD_MOMENT_LINE = (
    "Write one moment per line as “Aha: event within 7 days” or “Habit: event 3 times on 3 "
    "days within 14 days” (line {line})."
)
LIST_HELP = "Event names, separated by commas."
# Shorter labels than the models' so that they fit a settings column.
PQL_UNIT_CHOICES = [(PqlUnit.USER, "Users"), (PqlUnit.ACCOUNT, "Accounts")]
REVENUE_PERIOD_CHOICES = [
    (RevenuePeriod.MONTHLY, "Monthly (MRR)"),
    (RevenuePeriod.ANNUAL, "Annual (ARR)"),
]


class KpiFilterForm(PageForm):
    """Which slice of the cache the dashboard shows: a segment and a period ending on a day."""

    segment = forms.ChoiceField(required=False)
    days = forms.TypedChoiceField(
        label="Period", choices=PERIOD_CHOICES, coerce=int, required=False, empty_value=None
    )
    to = forms.DateField(label="Up to", required=False, widget=DateInput())

    def __init__(self, *args: Any, segments: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [("", "Everyone"), *[(s, s) for s in segments]]


class RecomputeForm(PageForm):
    """The local days to recompute from events."""

    date_from = forms.DateField(label="From", widget=DateInput())
    date_to = forms.DateField(label="To", widget=DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "recompute")
        super().__init__(*args, **kwargs)


# The settings by topic: (legend, what it is for, fields).
SETTINGS_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Who is new and who is active",
        "Signup starts a user; activity events make them active on a day.",
        ("signup_event", "activity_events", "excluded_activity_events", "segment_properties"),
    ),
    (
        "Activation and time to value",
        "The Aha moment: the first event that shows a new user got value.",
        ("aha_event", "activation_window_days", "ttv_window_days", "success_moments"),
    ),
    (
        "Engagement (PES) and feature adoption",
        "Core events make the adoption part of the Product Engagement Score.",
        ("core_events", "feature_events", "feature_property"),
    ),
    (
        "Product-qualified leads",
        "A user or account doing the event at least this often within the window.",
        ("pql_event", "pql_min_count", "pql_window_days", "pql_unit"),
    ),
    (
        "Accounts and revenue (value capture)",
        "Person properties for accounts, and the events that set recurring revenue.",
        (
            "account_property",
            "arr_property",
            "plan_property",
            "paid_event",
            "paid_window_days",
            "revenue_event",
            "revenue_property",
            "revenue_period",
            "revenue_churn_event",
        ),
    ),
    (
        "Voice of the customer",
        "Survey answers (NPS 0–10, CES) and feature requests from feedback events.",
        (
            "nps_event",
            "nps_score_property",
            "ces_event",
            "ces_score_property",
            "ces_scale_max",
            "feedback_event",
            "feedback_property",
            "feedback_window_days",
            "feedback_topics",
        ),
    ),
)
LABELS = {
    "signup_event": "Signup event",
    "activity_events": "Activity events",
    "excluded_activity_events": "Never activity",
    "segment_properties": "Segment by (person properties)",
    "aha_event": "Aha event",
    "activation_window_days": "Activation window (days)",
    "ttv_window_days": "Time-to-value window (days)",
    "success_moments": "Success moments (Setup, Aha, Eureka, Habit)",
    "core_events": "Core events",
    "feature_events": "Feature events",
    "feature_property": "Feature property",
    "pql_event": "PQL event",
    "pql_min_count": "PQL threshold (events)",
    "pql_window_days": "PQL window (days)",
    "pql_unit": "PQLs are",
    "account_property": "Account property",
    "arr_property": "ARR property",
    "plan_property": "Plan property",
    "paid_event": "Paid event (free to paid)",
    "paid_window_days": "Free-to-paid window (days)",
    "revenue_event": "Revenue event",
    "revenue_property": "Revenue amount property",
    "revenue_period": "The amount is",
    "revenue_churn_event": "Revenue churn event",
    "nps_event": "NPS event",
    "nps_score_property": "NPS score property",
    "ces_event": "CES event",
    "ces_score_property": "CES score property",
    "ces_scale_max": "CES scale maximum",
    "feedback_event": "Feedback event",
    "feedback_property": "Feature request property",
    "feedback_window_days": "Feedback window (days)",
    "feedback_topics": "Feature request topics",
}
HELP = {
    "activity_events": "Empty: any event counts. " + LIST_HELP,
    "excluded_activity_events": "e.g. $exposure (SDK exposures are not user actions). " + LIST_HELP,
    "segment_properties": "At most 3, comma-separated, e.g. plan. Each multiplies the cached "
    "values.",
    "aha_event": "e.g. document_created. Activation and time to value need it.",
    "core_events": "The product's key actions; the PES needs them. " + LIST_HELP,
    "feature_events": LIST_HELP,
    "feature_property": "Split feature events by this property, e.g. feature.",
    "pql_min_count": "e.g. 20 documents within 30 days.",
    "pql_unit": "Accounts go through the account property.",
    "revenue_period": "With an annual amount, MRR is a twelfth of it.",
    "success_moments": "One per line: “Aha: document_created within 7 days”, or with a habit's "
    "repeats: “Habit: document_created 3 times on 3 days within 14 days”.",
    "feedback_topics": "One per line: “Offline mode: offline, sync”. A request with a keyword "
    "counts for the topic; others count by their own words.",
}


def _list_text(values: Sequence[str]) -> str:
    return ", ".join(values)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _topics_text(topics: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"{t['topic']}: {', '.join(t['keywords'])}" for t in topics)


_MOMENT_LINE = re.compile(
    r"^(?P<name>[^:]{1,40}):\s*(?P<event>\S{1,200})"
    r"(?:\s+(?P<count>\d{1,5})\s+times?)?(?:\s+on\s+(?P<days>\d{1,3})\s+days?)?"
    r"\s+within\s+(?P<window>\d{1,3})\s+days?$",
    re.IGNORECASE,
)


def _moment_text(moment: dict[str, Any]) -> str:
    """One success moment as the line the settings page shows (and reads back)."""
    repeats = ""
    if moment.get("min_count", 1) > 1:
        repeats += f" {moment['min_count']} times"
    if moment.get("min_distinct_days", 1) > 1:
        repeats += f" on {moment['min_distinct_days']} days"
    return f"{moment['name']}: {moment['event']}{repeats} within {moment['window_days']} days"


class KpiSettingsForm(PageForm):
    """Every KPI setting. Lists are typed comma-separated; the service checks the rest."""

    groups = SETTINGS_GROUPS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        numbers = {name: (lo, hi) for name, lo, hi in NUMBER_FIELDS}
        lists = (*EVENT_LIST_FIELDS, "segment_properties")
        for _legend, _about, names in SETTINGS_GROUPS:
            for name in names:
                help_text = HELP.get(name) or KpiSettings._meta.get_field(name).help_text
                label = LABELS[name]
                field: forms.Field
                if name in numbers:
                    lo, hi = numbers[name]
                    field = forms.IntegerField(min_value=lo, max_value=hi)
                elif name == "pql_unit":
                    field = forms.ChoiceField(choices=PQL_UNIT_CHOICES)
                elif name == "revenue_period":
                    field = forms.ChoiceField(choices=REVENUE_PERIOD_CHOICES)
                elif name in ("feedback_topics", "success_moments"):
                    field = forms.CharField(
                        max_length=12_000, widget=forms.Textarea(attrs={"rows": 4})
                    )
                elif name in lists:
                    field = forms.CharField(
                        max_length=12_000,
                        widget=forms.Textarea(attrs={"rows": 2, "class": "event-list"}),
                    )
                else:
                    field = forms.CharField(max_length=200)
                field.required = name in numbers or name in ("pql_unit", "revenue_period")
                field.label = label
                field.help_text = str(help_text)
                if name in EVENT_FIELDS or name in lists:
                    field.widget.attrs.setdefault("spellcheck", "false")
                self.fields[name] = field

    @classmethod
    def initial_from(cls, settings: KpiSettings) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for _legend, _about, names in SETTINGS_GROUPS:
            for name in names:
                value = getattr(settings, name)
                if name == "feedback_topics":
                    value = _topics_text(value)
                elif name == "success_moments":
                    value = "\n".join(_moment_text(m) for m in value)
                elif isinstance(value, list):
                    value = _list_text(value)
                initial[name] = value
        return initial

    def clean_feedback_topics(self) -> list[dict[str, Any]]:
        topics = []
        for number, line in enumerate(self.cleaned_data["feedback_topics"].splitlines(), 1):
            if not line.strip():
                continue
            topic, colon, keywords = line.partition(":")
            words = _split(keywords)
            if not colon or not topic.strip() or not words:
                raise forms.ValidationError(BAD_TOPIC_LINE.format(line=number))
            topics.append({"topic": topic.strip(), "keywords": words})
        return topics

    def clean_success_moments(self) -> list[dict[str, Any]]:
        """Each line a moment; the service checks names, windows and counts further."""
        moments = []
        for number, line in enumerate(self.cleaned_data["success_moments"].splitlines(), 1):
            if not line.strip():
                continue
            match = _MOMENT_LINE.match(line.strip())
            if match is None:
                raise forms.ValidationError(BAD_MOMENT_LINE.format(line=number))
            moments.append(
                {
                    "name": match["name"].strip(),
                    "event": match["event"],
                    "window_days": int(match["window"]),
                    "min_count": int(match["count"] or 1),
                    "min_distinct_days": int(match["days"] or 1),
                }
            )
        return moments

    def changes(self) -> dict[str, Any]:
        """The settings as ``kpi_settings_update`` takes them."""
        lists = (*EVENT_LIST_FIELDS, "segment_properties")
        out: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            out[name] = _split(value) if name in lists else value
        return out
