"""Forms of the statistics calculator: per-variant counts to analyse, and a power plan.

They turn the page's units (percentages, a mean with its standard deviation) into the engine's
(fractions, sufficient statistics); the engine checks the rest.
"""

from __future__ import annotations

from typing import Any

from django import forms

from experiments.forms.base import MAX_VARIANTS, UniqueKeysFormSet, baseline_values, clean_baseline
from experiments.models import Correction
from experiments.stats import PowerRequest, VariantStatistics
from plg_platform.web.forms import PageForm, decimal_input

REQUIRED_FOR_RATES = "Give the conversions for a conversion-rate metric."
REQUIRED_FOR_MEANS = "Give the mean and the standard deviation for a mean metric."
MORE_CONVERSIONS_THAN_UNITS = "There cannot be more conversions than units."
GOAL_NEEDS_MDE = "Give the smallest change worth detecting."
GOAL_NEEDS_SIZE = "Give the number of units per variant you can get."


# --- Statistics calculator: analyse counts ---------------------------------------------------


class CalculatorOptionsForm(PageForm):
    metric_name = forms.CharField(
        max_length=200,
        required=False,
        label="Metric name",
        help_text="Used in the plain-language summary, e.g. “sign-up rate”.",
    )
    metric_type = forms.ChoiceField(
        choices=[
            ("proportion", "Conversion rate: units that converted"),
            ("mean", "Mean per unit: e.g. revenue or documents per user"),
        ],
        initial="proportion",
        widget=forms.RadioSelect,
        label="Metric",
    )
    engine = forms.ChoiceField(
        choices=[
            ("frequentist", "Frequentist: confidence interval and p-value"),
            ("bayesian", "Bayesian: chance to win and expected loss"),
        ],
        initial="frequentist",
        widget=forms.RadioSelect,
        label="Method",
    )
    difference = forms.ChoiceField(
        choices=[("relative", "Relative change (%)"), ("absolute", "Absolute difference")],
        initial="relative",
        label="Report the change as",
    )
    alpha = forms.FloatField(
        min_value=0.001,
        max_value=0.2,
        initial=0.05,
        label="Significance level (alpha)",
        help_text="0.05 gives 95% intervals.",
        widget=decimal_input(),
    )
    correction = forms.ChoiceField(
        choices=Correction.choices,
        initial="none",
        label="Correction for several treatments",
    )
    sequential = forms.BooleanField(
        required=False,
        label="Sequential: I look at the results while the test runs",
        help_text="Always-valid intervals, so peeking does not inflate false positives.",
    )
    higher_is_better = forms.BooleanField(
        required=False, initial=True, label="Higher is better for this metric"
    )


class CalculatorVariantForm(PageForm):
    key = forms.SlugField(max_length=100, label="Variant")
    units = forms.IntegerField(min_value=0, label="Units", widget=decimal_input())
    conversions = forms.FloatField(
        min_value=0, required=False, label="Conversions", widget=decimal_input()
    )
    mean = forms.FloatField(required=False, label="Mean", widget=decimal_input())
    std_dev = forms.FloatField(
        min_value=0, required=False, label="Standard deviation", widget=decimal_input()
    )

    def __init__(self, *args: Any, metric_type: str = "proportion", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metric_type = metric_type

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.metric_type == "proportion":
            if data.get("conversions") is None:
                self.add_error("conversions", REQUIRED_FOR_RATES)
            elif data.get("units") is not None and data["conversions"] > data["units"]:
                self.add_error("conversions", MORE_CONVERSIONS_THAN_UNITS)
        else:
            for name in ("mean", "std_dev"):
                if data.get(name) is None:
                    self.add_error(name, REQUIRED_FOR_MEANS)
        return data

    def statistics(self) -> VariantStatistics:
        """The engine's sufficient statistics: for a mean, Σx = n·x̄ and
        Σx² = (n − 1)·s² + n·x̄² (s the sample standard deviation)."""
        data = self.cleaned_data
        n = float(data["units"])
        if self.metric_type == "proportion":
            return VariantStatistics(key=data["key"], n=n, sum=float(data["conversions"]))
        mean, sd = data["mean"], data["std_dev"]
        return VariantStatistics(
            key=data["key"],
            n=n,
            sum=n * mean,
            sum_squares=max(n - 1.0, 0.0) * sd**2 + n * mean**2,
        )


CalculatorVariantFormSet = forms.formset_factory(
    CalculatorVariantForm,
    formset=UniqueKeysFormSet,
    extra=0,
    min_num=2,
    validate_min=True,
    max_num=MAX_VARIANTS,
    validate_max=True,
)


# --- Statistics calculator: sample size, MDE, duration ---------------------------------------


class PowerForm(PageForm):
    metric_type = forms.ChoiceField(
        choices=[("rate", "Conversion rate"), ("mean", "Mean per unit")],
        initial="rate",
        widget=forms.RadioSelect,
        label="Metric",
    )
    baseline_rate = forms.FloatField(
        required=False,
        label="Baseline conversion rate (%)",
        help_text="The control's rate today, e.g. 10 for 10%.",
        widget=decimal_input(),
    )
    baseline_mean = forms.FloatField(required=False, label="Baseline mean", widget=decimal_input())
    baseline_sd = forms.FloatField(
        required=False,
        min_value=0,
        label="Standard deviation per unit",
        widget=decimal_input(),
    )
    goal = forms.ChoiceField(
        choices=[
            ("sample_size", "How many units do I need to detect a change?"),
            ("mde", "What change can I detect with the units I have?"),
        ],
        initial="sample_size",
        widget=forms.RadioSelect,
        label="Question",
    )
    mde = forms.FloatField(
        required=False,
        min_value=0,
        label="Smallest change worth detecting",
        help_text="Relative: 5 means 5% of the baseline. Absolute on a rate: percentage points.",
        widget=decimal_input(),
    )
    mde_type = forms.ChoiceField(
        choices=[("relative", "Relative (%)"), ("absolute", "Absolute")],
        initial="relative",
        label="Change measured as",
    )
    sample_size_per_variant = forms.IntegerField(
        required=False, min_value=2, label="Units per variant", widget=decimal_input()
    )
    n_variants = forms.IntegerField(
        min_value=2,
        max_value=MAX_VARIANTS,
        initial=2,
        label="Variants, with the control",
        widget=decimal_input(),
    )
    alpha = forms.FloatField(
        min_value=0.001,
        max_value=0.2,
        initial=0.05,
        label="Significance level (alpha)",
        widget=decimal_input(),
    )
    power = forms.FloatField(
        min_value=50, max_value=99.9, initial=80, label="Power (%)", widget=decimal_input()
    )
    alternative = forms.ChoiceField(
        choices=[("two_sided", "Two-sided"), ("one_sided", "One-sided (improvement only)")],
        initial="two_sided",
        label="Test",
    )
    sequential = forms.BooleanField(
        required=False, label="Sequential: I will look at the results while the test runs"
    )
    daily_traffic = forms.FloatField(
        required=False,
        min_value=0.001,
        label="Units entering the experiment per day",
        help_text="All variants together; gives the duration.",
        widget=decimal_input(),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        clean_baseline(self, data, rate_field="baseline_rate", kind=data.get("metric_type"))
        if data.get("goal") == "sample_size" and not data.get("mde"):
            self.add_error("mde", GOAL_NEEDS_MDE)
        if data.get("goal") == "mde" and data.get("sample_size_per_variant") is None:
            self.add_error("sample_size_per_variant", GOAL_NEEDS_SIZE)
        return data

    def power_request(self) -> PowerRequest:
        data = self.cleaned_data
        sample_size = data["goal"] == "mde"
        mde = None if sample_size else data["mde"]
        if mde is not None and (data["mde_type"] == "relative" or data["metric_type"] == "rate"):
            mde = mde / 100.0
        return PowerRequest(
            **baseline_values(data, rate_field="baseline_rate"),
            mde=mde,
            mde_type=data["mde_type"],
            sample_size_per_variant=data["sample_size_per_variant"] if sample_size else None,
            alpha=data["alpha"],
            power=data["power"] / 100.0,
            n_variants=data["n_variants"],
            alternative=data["alternative"],
            sequential=data["sequential"],
            daily_traffic=data.get("daily_traffic"),
        )
