"""The funnel form of our pages, and filters as people write them (``plan = pro; amount >= 10``).

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
from metrics.models import Direction
from plg_platform.web.forms import PageForm

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
