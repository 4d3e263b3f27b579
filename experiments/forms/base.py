"""What the experiment forms share beyond ``plg_platform.web.forms``: rows of variants with
distinct keys, and the baseline of a metric typed as a percentage or a mean."""

from __future__ import annotations

from typing import Any

from django import forms

MAX_VARIANTS = 10
DUPLICATE_KEYS = "Each variant needs its own name: {key!r} appears twice."
RATE_RANGE = "Give a rate strictly between 0% and 100%."
BASELINE_FOR_MEANS = "Give the baseline mean and its standard deviation."
SD_POSITIVE = "The standard deviation must be above zero."


class UniqueKeysFormSet(forms.BaseFormSet):
    """Rows of variants with distinct keys.

    Rows given as ``initial`` are not "initial forms" in Django's sense (nothing is stored
    per row), so the management form says 0 of them: a row left empty is then skipped rather
    than required, and "add a variant" simply renders one more row.
    """

    def initial_form_count(self) -> int:
        return super().initial_form_count() if self.is_bound else 0

    def total_form_count(self) -> int:
        if self.is_bound:
            return super().total_form_count()
        return max(len(self.initial or ()), self.min_num) + self.extra

    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            key = getattr(form, "cleaned_data", {}).get("key")
            if not key:
                continue
            if key in seen:
                raise forms.ValidationError(DUPLICATE_KEYS.format(key=key))
            seen.add(key)

    def filled_forms(self) -> list[forms.Form]:
        """The rows with data (an empty optional row is left out)."""
        return [f for f in self.forms if getattr(f, "cleaned_data", None)]


def clean_baseline(form: forms.Form, data: dict[str, Any], *, rate_field: str, kind: Any) -> None:
    """Check the baseline fields of ``kind`` ("rate" or "mean"), erring on the field."""
    if kind == "rate":
        rate = data.get(rate_field)
        if rate is None or not 0 < rate < 100:
            form.add_error(rate_field, RATE_RANGE)
    elif kind == "mean":
        if data.get("baseline_mean") is None or data.get("baseline_sd") is None:
            form.add_error("baseline_mean", BASELINE_FOR_MEANS)
        elif data["baseline_sd"] <= 0:
            form.add_error("baseline_sd", SD_POSITIVE)


def baseline_values(data: dict[str, Any], *, rate_field: str) -> dict[str, float | None]:
    if data.get(rate_field) is not None:
        return {"baseline_rate": data[rate_field] / 100.0}
    return {
        "baseline_mean": data["baseline_mean"],
        "baseline_variance": data["baseline_sd"] ** 2,
    }
