"""The metric forms of our pages: the funnel form, and filters as people write them
(``plan = pro; amount >= 10``); and one flat form for the other types, whose type-specific
fields are shown only for their types.

The form only parses what a person typed into the spec ``metrics.services.metric_create``
takes; the rules (how many steps, property names, value types) are the definition's, and its
errors come back onto the row they name (``steps.2.event`` → the third filled row's event).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

from metrics.engine.definition import MAX_FUNNEL_STEPS, MAX_WINDOW_DAYS
from metrics.models import CapType, Direction, MetricKind, MetricType, QuantileOf, UnitOfAnalysis
from plg_platform.web.forms import PageForm, decimal_input

# A condition: property, operator, value (none for the "is set" forms).
_CONDITION = re.compile(
    r"^\s*(?P<property>[^\s=!<>]+)\s*"
    r"(?P<op>>=|<=|!=|=|>|<|\bin\b|\bis not set\b|\bis set\b)\s*(?P<value>.*?)\s*$",
    re.IGNORECASE,
)
_OPS = {
    "=": "eq",
    "!=": "neq",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "in": "in",
    "is set": "is_set",
    "is not set": "is_not_set",
}
_SYMBOLS = {op: symbol for symbol, op in _OPS.items()}
BAD_CONDITION = (
    "Write conditions as “property = value”, separated by “;” (operators: = != > >= < <= "
    "in, is set, is not set); {text!r} is not one."
)
NEEDS_VALUE = "{text!r} needs a value after the operator."
STEP_WITHOUT_EVENT = "Give this step an event name, or clear the row."
VISIBLE_STEPS = 5  # rows shown open; the rest are behind "More steps"


def _literal(text: str) -> Any:
    """A typed value: "quoted" text stays text; true/false; numbers; anything else is text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_conditions(text: str) -> list[dict[str, Any]]:
    """``plan = pro; amount >= 10; ref is set`` → filters; raise ``forms.ValidationError``."""
    filters: list[dict[str, Any]] = []
    for clause in re.split(r"[;\n]", text):
        if not clause.strip():
            continue
        match = _CONDITION.match(clause)
        if match is None:
            raise forms.ValidationError(BAD_CONDITION.format(text=clause.strip()))
        op = _OPS[" ".join(match["op"].lower().split())]
        raw = match["value"]
        condition: dict[str, Any] = {"property": match["property"], "op": op}
        if op in ("is_set", "is_not_set"):
            if raw:
                raise forms.ValidationError(BAD_CONDITION.format(text=clause.strip()))
        elif not raw:
            raise forms.ValidationError(NEEDS_VALUE.format(text=clause.strip()))
        elif op == "in":
            condition["value"] = [_literal(v) for v in raw.split(",") if v.strip()]
        else:
            condition["value"] = _literal(raw)
        filters.append(condition)
    return filters


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and _literal(value) != value:
        return json.dumps(value)  # "5" written so it stays text
    return str(value)


def conditions_text(filters: list[dict[str, Any]]) -> str:
    """Filters as ``parse_conditions`` reads them back."""
    parts = []
    for f in filters:
        op = f["op"]
        if op in ("is_set", "is_not_set"):
            parts.append(f"{f['property']} {_SYMBOLS[op]}")
        elif op == "in":
            values = ", ".join(_value_text(v) for v in f["value"])
            parts.append(f"{f['property']} in {values}")
        else:
            parts.append(f"{f['property']} {_SYMBOLS[op]} {_value_text(f['value'])}")
    return "; ".join(parts)


class FunnelForm(PageForm):
    key = forms.SlugField(max_length=100, help_text="Letters, digits and dashes: “activation”.")
    name = forms.CharField(max_length=200, help_text="How people will know it.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    window_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_WINDOW_DAYS,
        initial=7,
        label="Window (days)",
        help_text="Every step must happen within this many days of the unit's start "
        "(first exposure in an experiment; signup in a cohort).",
    )
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.INCREASE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(MAX_FUNNEL_STEPS):
            self.fields[f"step_{i}_event"] = forms.CharField(
                required=False, max_length=200, label=f"Step {i + 1}: event"
            )
            self.fields[f"step_{i}_name"] = forms.CharField(
                required=False, max_length=100, label=f"Step {i + 1}: label"
            )
            self.fields[f"step_{i}_filters"] = forms.CharField(
                required=False, max_length=1000, label=f"Step {i + 1}: only events where"
            )
        self.filled_rows: list[int] = []

    def step_rows(self) -> list[tuple[int, tuple[Any, ...]]]:
        """(number, (event, label, conditions)) bound fields of every row, for the template."""
        return [
            (i + 1, tuple(self[f"step_{i}_{part}"] for part in ("event", "name", "filters")))
            for i in range(MAX_FUNNEL_STEPS)
        ]

    def rows_used(self, rows: list[tuple[int, tuple[Any, ...]]]) -> bool:
        """Whether any of ``rows`` holds input or an error (so the page shows them open)."""
        return any(field.value() or field.errors for _, fields in rows for field in fields)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        steps = []
        self.filled_rows = []
        for i in range(MAX_FUNNEL_STEPS):
            event = (data.get(f"step_{i}_event") or "").strip()
            name = (data.get(f"step_{i}_name") or "").strip()
            text = data.get(f"step_{i}_filters") or ""
            if not (event or name or text.strip()):
                continue
            if not event:
                self.add_error(f"step_{i}_event", STEP_WITHOUT_EVENT)
                continue
            try:
                filters = parse_conditions(text)
            except forms.ValidationError as error:
                self.add_error(f"step_{i}_filters", error)
                continue
            step: dict[str, Any] = {"event": event, "filters": filters}
            if name:
                step["name"] = name
            steps.append(step)
            self.filled_rows.append(i)
        data["steps"] = steps
        return data

    def spec(self) -> dict[str, Any]:
        return {
            "type": "funnel",
            "window_days": self.cleaned_data["window_days"],
            "steps": self.cleaned_data["steps"],
        }

    def field_of(self, name: str) -> str:
        """The form field a service error names (``steps.2.filters.0`` → the third filled
        row's filters)."""
        parts = name.split(".")
        if parts[0] != "steps" or len(parts) < 2 or not parts[1].isdigit():
            return "step_0_event" if name == "steps" else name
        k = int(parts[1])
        row = self.filled_rows[k] if k < len(self.filled_rows) else k
        what = {"event": "event", "name": "name", "filters": "filters"}.get(
            parts[2] if len(parts) > 2 else "", "event"
        )
        return f"step_{row}_{what}"


BAD_FILTERS = (
    'Write the filters as a JSON list, e.g. [{{"property": "plan", "op": "eq", "value": '
    '"pro"}}]: {error}'
)
CAPPED = "count sum mean ratio"
# Each type-specific field and the metric types it belongs to: the page shows it only for them,
# and only those reach the spec (a value typed before switching type is dropped, not refused).
SHOWN_FOR: dict[str, str] = {
    "event": "conversion count sum mean ratio retention moment time_to_event quantile",
    "filters": "conversion count sum mean ratio retention moment time_to_event quantile",
    "window_days": "conversion count sum mean ratio moment time_to_event quantile",
    "property": "sum mean ratio quantile",
    "quantile": "quantile",
    "quantile_of": "quantile",
    "denominator_event": "ratio",
    "denominator_property": "ratio",
    "retention_start_day": "retention",
    "retention_end_day": "retention",
    "min_count": "moment",
    "min_distinct_days": "moment",
    "cap_type": CAPPED,
    "cap_value": CAPPED,
}


def _optional_int(label: str, help_text: str = "") -> forms.IntegerField:
    return forms.IntegerField(label=label, help_text=help_text, required=False)


def _optional_text(label: str, help_text: str = "", max_length: int = 200) -> forms.CharField:
    return forms.CharField(label=label, help_text=help_text, required=False, max_length=max_length)


class MetricForm(PageForm):
    name = forms.CharField(max_length=200, help_text="How people will read it: “p90 order value”.")
    key = forms.SlugField(
        max_length=100, help_text="A short id for the API and experiments: order-value-p90."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Funnels have their own form (ordered step rows): metric_views.funnel_new.
    type = forms.ChoiceField(
        choices=[c for c in MetricType.choices if c[0] != MetricType.FUNNEL],
        widget=forms.RadioSelect,
        help_text="For a funnel of ordered steps, use “New funnel” on the metrics page.",
    )
    direction = forms.ChoiceField(
        choices=Direction.choices, widget=forms.RadioSelect, initial=Direction.INCREASE
    )
    kind = forms.ChoiceField(choices=MetricKind.choices, initial=MetricKind.VALUE_CREATION)
    unit = forms.ChoiceField(choices=UnitOfAnalysis.choices, initial=UnitOfAnalysis.USER)
    unit_property = _optional_text(
        "Account property", "For account units: the person property with the account id.", 100
    )
    # What is measured.
    event = _optional_text("Event", "The event counted, e.g. order or document_created.")
    filters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Filters (optional)",
        help_text='A JSON list of conditions on the event: [{"property": "plan", "op": "eq", '
        '"value": "pro"}]. Ops: eq, neq, gt, gte, lt, lte, in, is_set, is_not_set.',
    )
    window_days = _optional_int("Window (days)", "Days after a unit's start in which events count.")
    property = _optional_text(
        "Numeric property",
        "Sum, mean, ratio: the number summed. Quantile: the value per event (per unit: summed); "
        "leave empty for the hours to the first event.",
        100,
    )
    # Quantile.
    quantile = forms.FloatField(
        required=False,
        widget=decimal_input(),
        label="Quantile level",
        help_text="0.5 compares the median unit, 0.9 the p90 (the top tenth), 0.99 the p99. "
        "Extreme quantiles need more units: p99 about 400 per variant.",
    )
    quantile_of = forms.ChoiceField(
        choices=QuantileOf.choices,
        widget=forms.RadioSelect,
        required=False,
        label="Quantile of",
    )
    # Ratio.
    denominator_event = _optional_text("Denominator event")
    denominator_property = _optional_text(
        "Denominator property", "Empty: count the denominator events.", 100
    )
    # Retention.
    retention_start_day = _optional_int("Active on day", "0 is the day of the start.")
    retention_end_day = _optional_int("…through day", "Empty: that one day.")
    # Moment.
    min_count = _optional_int("At least this many times")
    min_distinct_days = _optional_int("On at least this many days")
    # Capping.
    cap_type = forms.ChoiceField(choices=CapType.choices, initial=CapType.NONE, required=False)
    cap_value = forms.FloatField(required=False, widget=decimal_input(), label="Cap")

    def clean_filters(self) -> list[Any]:
        text = self.cleaned_data["filters"].strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(BAD_FILTERS.format(error=error.msg)) from error
        if not isinstance(value, list):
            raise forms.ValidationError(BAD_FILTERS.format(error="not a list"))
        return value

    def spec(self) -> dict[str, Any]:
        """The type-specific fields of the chosen type, as ``metric_create`` takes them."""
        data = self.cleaned_data
        metric_type = data["type"]
        spec: dict[str, Any] = {"type": metric_type, "unit_property": data["unit_property"]}
        for name, types in SHOWN_FOR.items():
            if metric_type in types.split() and data.get(name) not in (None, "", []):
                spec[name] = data[name]
        if spec.get("cap_type") == CapType.NONE:
            spec.pop("cap_type")
            spec.pop("cap_value", None)
        return spec

    def sections(self) -> dict[str, list[tuple[forms.BoundField, str]]]:
        """The type-specific fields by section, each with the types it is shown for."""

        def shown(*names: str) -> list[tuple[forms.BoundField, str]]:
            return [(self[name], SHOWN_FOR[name]) for name in names]

        return {
            "measure": shown("event", "property", "window_days", "filters"),
            "quantile": shown("quantile", "quantile_of"),
            "ratio": shown("denominator_event", "denominator_property"),
            "retention": shown("retention_start_day", "retention_end_day"),
            "moment": shown("min_count", "min_distinct_days"),
            "capping": shown("cap_type", "cap_value"),
        }
