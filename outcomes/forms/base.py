"""What the outcomes forms share: labels without a colon, number inputs for decimals, and
which metrics are rates (typed as percentages)."""

from __future__ import annotations

from typing import Any

from django import forms

from outcomes.models import Metric, MetricType

DECIMAL_WIDGET = {"step": "any", "inputmode": "decimal"}


class PageForm(forms.Form):
    """A form of our pages: labels without Django's trailing colon."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def decimal_input(**attrs: Any) -> forms.NumberInput:
    return forms.NumberInput(attrs={**DECIMAL_WIDGET, **attrs})


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


# Metrics whose value is a share of units: typed and shown as percentages.
RATE_METRIC_TYPES = frozenset({MetricType.CONVERSION, MetricType.RETENTION, MetricType.MOMENT})


def metric_is_rate(metric: Metric) -> bool:
    return metric.type in RATE_METRIC_TYPES
