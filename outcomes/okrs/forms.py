"""Forms of the OKR pages: objectives, key results (bound to a metric), manual check-ins,
baseline changes and initiatives.

Values of rate metrics (conversion, retention, success moment) are typed as percentages and
converted to the fractions the services store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django import forms

from metrics.public import Direction, Metric
from outcomes.okrs.models import InitiativeStatus, Objective, PeriodKind
from outcomes.okrs.services.check_ins import CONFIDENCE_RANGE
from outcomes.okrs.services.key_results import REASON_REQUIRED
from outcomes.okrs.services.lookups import OUTPUT_NOT_KEY_RESULT
from outcomes.okrs.services.objectives import PERIOD_REQUIRED, quarter_period
from outcomes.presentation import metric_is_rate
from plg_platform.web.forms import DateInput, PageForm, decimal_input

QUARTER_REQUIRED = "Choose the quarter."
RATE_HELP = "For a rate (conversion, retention, success moment) type a percentage: 36 means 36%."
METRIC_HELP = (
    "Outputs are not key results: a key result measures an outcome (what users do) through a "
    "metric. A deliverable such as “Ship offline mode” is an initiative, linked to the key "
    "result it should move."
)
CONFIDENCE_CHOICES = [
    ("", "How likely is the target?"),
    *[
        (n, f"{n}{' — no chance' if n == 1 else ' — certain' if n == 10 else ''}")
        for n in range(1, 11)
    ],
]


# --- quarters -------------------------------------------------------------------------------
def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_shift(quarter: str, by: int) -> str:
    year, q = int(quarter[:4]), int(quarter[-1])
    index = year * 4 + (q - 1) + by
    return f"{index // 4}-Q{index % 4 + 1}"


def quarter_label(quarter: str) -> str:
    start, end = quarter_period(quarter)
    return f"{quarter} ({start:%b}–{end:%b %Y})"


def quarter_choices(today: date, also: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Quarters from a year back to a year ahead of ``today``'s, plus ``also``, newest last."""
    current = quarter_of(today)
    quarters = {quarter_shift(current, by) for by in range(-4, 5)} | set(also)
    return [(q, quarter_label(q)) for q in sorted(quarters)]


# --- objectives -----------------------------------------------------------------------------
class ObjectiveForm(PageForm):
    title = forms.CharField(
        max_length=200,
        help_text="The outcome, in words: “New teams get value in their first week”.",
    )
    why_it_matters = forms.CharField(
        label="Why it matters", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    team = forms.CharField(max_length=100, required=False)
    period_kind = forms.ChoiceField(
        label="Period", choices=PeriodKind.choices, widget=forms.RadioSelect, initial="quarter"
    )
    quarter = forms.ChoiceField(required=False)
    period_start = forms.DateField(label="First day", required=False, widget=DateInput())
    period_end = forms.DateField(
        label="Last day", required=False, widget=DateInput(), help_text="Included in the period."
    )
    parent = forms.TypedChoiceField(
        label="Aligned under",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="The objective this one contributes to (a company or department objective).",
    )

    def __init__(
        self,
        *args: Any,
        members: Sequence[tuple[int, str]],
        parents: Sequence[Objective],
        quarters: Sequence[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Nobody yet"), *members]
        self.fields["quarter"].choices = [("", "Choose a quarter"), *quarters]
        self.fields["parent"].choices = [
            ("", "Nothing (a top-level objective)"),
            *[
                (o.pk, f"{o.title} ({o.quarter or f'{o.period_start} to {o.period_end}'})")
                for o in parents
            ],
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("period_kind") == PeriodKind.QUARTER:
            if not data.get("quarter"):
                self.add_error("quarter", QUARTER_REQUIRED)
        elif data.get("period_kind") == PeriodKind.CUSTOM:
            for name in ("period_start", "period_end"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, PERIOD_REQUIRED)
        return data

    def values(self) -> dict[str, Any]:
        """The service's arguments (``objective_create``; ``objective_update`` changes)."""
        data = self.cleaned_data
        quarter = data["period_kind"] == PeriodKind.QUARTER
        return {
            "title": data["title"],
            "why_it_matters": data["why_it_matters"],
            "owner_id": data["owner"],
            "team": data["team"],
            "quarter": data["quarter"] if quarter else "",
            "period_start": None if quarter else data["period_start"],
            "period_end": None if quarter else data["period_end"],
            "parent_id": data["parent"],
        }


def objective_initial(objective: Objective) -> dict[str, Any]:
    return {
        "title": objective.title,
        "why_it_matters": objective.why_it_matters,
        "owner": objective.owner_id,
        "team": objective.team,
        "period_kind": objective.period_kind,
        "quarter": objective.quarter,
        "period_start": objective.period_start,
        "period_end": objective.period_end,
        "parent": objective.parent_id,
    }


# --- key results ----------------------------------------------------------------------------
def _direction_choices(default_label: str | None) -> list[tuple[str, str]]:
    choices = [
        (Direction.INCREASE, "Up is good (raise it)"),
        (Direction.DECREASE, "Down is good (lower it)"),
    ]
    return [("", default_label), *choices] if default_label else choices


class KeyResultForm(PageForm):
    """A new key result on a metric of the workspace."""

    title = forms.CharField(
        max_length=200, help_text="e.g. “Raise 7-day activation of new teams from 31% to 36%”."
    )
    metric = forms.ChoiceField(label="Metric it moves", required=False, help_text=METRIC_HELP)
    direction = forms.ChoiceField(required=False, choices=_direction_choices("As the metric says"))
    target = forms.FloatField(widget=decimal_input(), help_text=RATE_HELP)
    segment_property = forms.CharField(
        label="Segment property",
        max_length=100,
        required=False,
        help_text="Optional: measure only units with this person property, e.g. plan.",
    )
    segment_value = forms.CharField(
        label="Segment value", max_length=200, required=False, help_text="e.g. team"
    )
    start_event = forms.CharField(
        label="Start event",
        max_length=200,
        required=False,
        help_text="What starts a unit, e.g. signed_up (empty: its first event of any kind).",
    )
    cohort_days = forms.IntegerField(
        label="Cohort days",
        min_value=1,
        max_value=365,
        initial=28,
        help_text="Each measurement covers the units that started in this many days (all matured).",
    )
    baseline = forms.FloatField(
        required=False,
        widget=decimal_input(),
        help_text="Leave empty to compute it from events at the period's start.",
    )
    baseline_reason = forms.CharField(
        label="Why this baseline",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed when you type a baseline: it replaces the computed one, on the record.",
    )

    def __init__(self, *args: Any, metrics: Sequence[Metric], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = {m.key: m for m in metrics}
        self.fields["metric"].choices = [
            ("", "Choose the metric it moves"),
            *[(m.key, f"{m.name} ({m.get_type_display().split(' (')[0]})") for m in metrics],
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        key = data.get("metric")
        if not key:
            title = data.get("title") or self.data.get("title", "")
            self.add_error("metric", OUTPUT_NOT_KEY_RESULT.format(title=title))
            return data
        metric = self.metrics[key]
        if metric_is_rate(metric):
            for name in ("target", "baseline"):
                if data.get(name) is not None:
                    data[name] = data[name] / 100.0
        if data.get("baseline") is not None and not (data.get("baseline_reason") or "").strip():
            self.add_error("baseline_reason", REASON_REQUIRED)
        return data

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "metric_key": data["metric"],
            "target": data["target"],
            "direction": data["direction"] or None,
            "segment_property": data["segment_property"],
            "segment_value": data["segment_value"],
            "start_event": data["start_event"],
            "cohort_days": data["cohort_days"],
            "baseline": data["baseline"],
            "baseline_reason": data["baseline_reason"],
        }


class KeyResultEditForm(PageForm):
    """What may change on a key result: its title, target and direction (the metric, segment
    and cohort define what is measured, so changing them would break its history)."""

    title = forms.CharField(max_length=200)
    direction = forms.ChoiceField(choices=_direction_choices(None))
    target = forms.FloatField(widget=decimal_input())

    def __init__(self, *args: Any, metric: Metric, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metric = metric
        if metric_is_rate(metric):
            self.fields["target"].help_text = RATE_HELP

    def clean_target(self) -> float:
        target = self.cleaned_data["target"]
        return target / 100.0 if metric_is_rate(self.metric) else target


class CheckInForm(PageForm):
    """A person's check-in: how confident they are, why, and optionally a value they know."""

    confidence = forms.TypedChoiceField(
        choices=CONFIDENCE_CHOICES,
        coerce=int,
        help_text="How likely is the target, from 1 (no chance) to 10 (certain)?",
        error_messages={"required": CONFIDENCE_RANGE, "invalid_choice": CONFIDENCE_RANGE},
    )
    value = forms.FloatField(
        label="Value (optional)",
        required=False,
        widget=decimal_input(),
        help_text="Only if you know a newer value than the computed one.",
    )
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What moved it, what is in the way.",
    )

    def __init__(self, *args: Any, metric: Metric, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "check_in")
        super().__init__(*args, **kwargs)
        self.metric = metric
        if metric_is_rate(metric):
            self.fields["value"].help_text += " " + RATE_HELP

    def clean_value(self) -> float | None:
        value = self.cleaned_data["value"]
        if value is not None and metric_is_rate(self.metric):
            return value / 100.0
        return value


class BaselineForm(PageForm):
    """A baseline typed by hand, with the reason kept in its history."""

    baseline = forms.FloatField(label="New baseline", widget=decimal_input())
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": REASON_REQUIRED},
        help_text="e.g. “The signup event was renamed on 3 October; the computed value missed it.”",
    )

    def __init__(self, *args: Any, metric: Metric, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "baseline")
        super().__init__(*args, **kwargs)
        self.metric = metric
        if metric_is_rate(metric):
            self.fields["baseline"].help_text = RATE_HELP

    def clean_baseline(self) -> float:
        value = self.cleaned_data["baseline"]
        return value / 100.0 if metric_is_rate(self.metric) else value


class InitiativeForm(PageForm):
    """A deliverable (an output) pursued to move the key result."""

    title = forms.CharField(max_length=200, help_text="e.g. “Ship offline mode”.")
    status = forms.ChoiceField(choices=InitiativeStatus.choices, initial=InitiativeStatus.PLANNED)
    url = forms.URLField(
        label="Link",
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="A ticket, spec or doc (optional).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "initiative")
        super().__init__(*args, **kwargs)
