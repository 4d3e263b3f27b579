"""The base form of our pages and the inputs they share."""

from __future__ import annotations

from typing import Any

from django import forms

DECIMAL_WIDGET = {"step": "any", "inputmode": "decimal"}


class PageForm(forms.Form):
    """A form of our pages: labels without Django's trailing colon."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def decimal_input(**attrs: Any) -> forms.NumberInput:
    """A number input that takes decimals (and brings up the decimal keypad on phones)."""
    return forms.NumberInput(attrs={**DECIMAL_WIDGET, **attrs})


class DateInput(forms.DateInput):
    """The browser's date picker, with ISO dates."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")
