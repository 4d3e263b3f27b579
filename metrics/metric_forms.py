"""The metric form of our pages: one flat form whose type-specific fields are shown only for
their types, turned into the spec ``metric_create`` validates (the one place rules live)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from metrics.models import CapType, Direction, MetricKind, MetricType, QuantileOf, UnitOfAnalysis
from plg_platform.web.forms import PageForm, decimal_input

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
    type = forms.ChoiceField(choices=MetricType.choices, widget=forms.RadioSelect)
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
