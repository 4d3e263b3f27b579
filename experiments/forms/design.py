"""Forms of the experiment pages: the design (hypothesis, variants, metrics, plan) and the
list's filters. The design rules themselves stay in ``experiments.services.design``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from experiments.forms.base import MAX_VARIANTS, UniqueKeysFormSet, baseline_values, clean_baseline
from experiments.forms.templates import DecisionRuleForm
from experiments.models import Correction, Engine, ExperimentStatus, FunnelStage
from experiments.services.design import (
    MAX_HYPOTHESIS_PART_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PHASE_REASON_LENGTH,
    MAX_PRODUCT_AREA_LENGTH,
    MAX_SOURCE_EXPERIMENT_ID_LENGTH,
    MAX_TEAM_LENGTH,
    MAX_VARIANT_NAME_LENGTH,
    ExperimentDesign,
    VariantSpec,
)
from experiments.stats import PowerRequest
from plg_platform.web.forms import PageForm, decimal_input

SHARES_MUST_ADD_UP = "Traffic shares must add up to 100% (they add up to {total:g}%)."
OUR_STORE = "This platform: the exposures and events sent here"


class ExperimentPlanForm(PageForm):
    """The planning part of the design form, also posted alone for the live estimate."""

    baseline_rate = forms.FloatField(
        required=False,
        label="Baseline of the primary metric (%)",
        help_text="For conversion-type metrics: today's rate, e.g. 10 for 10%.",
        widget=decimal_input(),
    )
    baseline_mean = forms.FloatField(
        required=False,
        label="…or its baseline mean",
        help_text="For means, counts and sums.",
        widget=decimal_input(),
    )
    baseline_sd = forms.FloatField(
        required=False, min_value=0, label="…and standard deviation", widget=decimal_input()
    )
    planned_mde = forms.FloatField(
        required=False,
        min_value=0.01,
        label="Smallest change worth detecting (%)",
        help_text="Relative to the baseline: 5 means a 5% lift.",
        widget=decimal_input(),
    )
    daily_traffic = forms.FloatField(
        required=False,
        min_value=0.001,
        label="Eligible units a day",
        help_text="All eligible units, before coverage.",
        widget=decimal_input(),
    )
    coverage = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=100,
        label="Traffic included (%)",
        help_text="The share of eligible units that enter the experiment.",
        widget=decimal_input(),
    )
    alpha = forms.FloatField(
        min_value=0.001,
        max_value=0.2,
        initial=0.05,
        label="Significance level (alpha)",
        widget=decimal_input(),
    )
    sequential = forms.BooleanField(
        required=False,
        label="Sequential analysis: results may be read at any time",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = self.baseline_kind()
        if kind is not None:
            clean_baseline(self, data, rate_field="baseline_rate", kind=kind)
        return data

    def baseline_kind(self) -> str | None:
        """ "rate" or "mean" after whichever baseline was given; None when none was."""
        data = getattr(self, "cleaned_data", {})
        if data.get("baseline_rate") is not None:
            return "rate"
        if data.get("baseline_mean") is not None or data.get("baseline_sd") is not None:
            return "mean"
        return None

    def has_plan(self) -> bool:
        """Whether a baseline and an MDE were given, so sizes and duration can be planned."""
        return self.cleaned_data.get("planned_mde") is not None and self.baseline_kind() is not None

    def power_request(self, *, n_variants: int) -> PowerRequest:
        """The engine's request for the planned MDE; traffic is scaled by the coverage."""
        data = self.cleaned_data
        traffic = data.get("daily_traffic")
        coverage = data["coverage"] / 100.0
        return PowerRequest(
            **baseline_values(data, rate_field="baseline_rate"),
            mde=data["planned_mde"] / 100.0,
            mde_type="relative",
            alpha=data["alpha"],
            n_variants=max(n_variants, 2),
            sequential=data["sequential"],
            daily_traffic=traffic * coverage if traffic and coverage > 0 else None,
        )


class ExperimentForm(ExperimentPlanForm, DecisionRuleForm):
    """Everything a team decides when designing an experiment, in the template's words."""

    key = forms.SlugField(
        max_length=MAX_KEY_LENGTH,
        label="Key",
        help_text="Lower-case id the SDKs and the API use, e.g. onboarding-checklist. "
        "It cannot change later.",
    )
    name = forms.CharField(max_length=MAX_NAME_LENGTH, label="Name")
    hypothesis_change = forms.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH,
        label="We believe",
        help_text="the change, e.g. “adding an onboarding checklist”",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    hypothesis_audience = forms.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH,
        required=False,
        label="for",
        help_text="whom, e.g. “new workspace owners”",
        widget=forms.TextInput(),
    )
    hypothesis_outcome = forms.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH,
        required=False,
        label="will",
        help_text="move which metric, e.g. “raise the share reaching the Aha moment in 7 days”",
        widget=forms.TextInput(),
    )
    hypothesis_evidence = forms.CharField(
        max_length=MAX_HYPOTHESIS_PART_LENGTH,
        required=False,
        label="because",
        help_text="the evidence, e.g. “interviews show owners do not find sharing”",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    primary_metric = forms.ChoiceField(
        label="Primary metric", help_text="The one metric that decides the experiment."
    )
    secondary_metrics = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Secondary metrics"
    )
    guardrail_metrics = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Guardrail metrics",
        help_text="Metrics that must not get worse, e.g. unsubscribes or errors.",
    )
    team = forms.CharField(max_length=MAX_TEAM_LENGTH, required=False, label="Team")
    product_area = forms.CharField(
        max_length=MAX_PRODUCT_AREA_LENGTH, required=False, label="Product area"
    )
    funnel_stage = forms.ChoiceField(
        choices=[("", "—"), *FunnelStage.choices], required=False, label="Funnel stage"
    )
    engine = forms.ChoiceField(choices=Engine.choices, initial=Engine.FREQUENTIST, label="Method")
    correction = forms.ChoiceField(
        choices=Correction.choices,
        initial=Correction.HOLM,
        label="Multiple-comparison correction",
    )
    source = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Exposures and events from",
        help_text="An event source analyses the experiment inside your warehouse, from its "
        "exposure table.",
    )
    source_experiment_id = forms.CharField(
        max_length=MAX_SOURCE_EXPERIMENT_ID_LENGTH,
        required=False,
        label="Experiment id in the exposure table",
        help_text="Empty: the key.",
    )
    phase_reason = forms.CharField(
        max_length=MAX_PHASE_REASON_LENGTH,
        required=False,
        label="Why change it now?",
        help_text="On a running experiment, changing variants, weights, coverage or metrics "
        "starts a new phase, analysed on its own. Once it has started, changing its plan "
        "(metrics, MDE, runtime, units, method, decision rule) is an amendment to the plan "
        "frozen at the start. Both are recorded with this reason.",
        widget=forms.TextInput(),
    )
    template = forms.SlugField(required=False, widget=forms.HiddenInput())

    # Fields copied from the form onto the design as they are.
    DESIGN_FIELDS = (
        "name",
        "hypothesis_change",
        "hypothesis_audience",
        "hypothesis_outcome",
        "hypothesis_evidence",
        "primary_metric",
        "team",
        "product_area",
        "funnel_stage",
        "engine",
        "correction",
        "alpha",
        "sequential",
    )

    def __init__(
        self,
        *args: Any,
        metric_choices: Sequence[tuple[str, str]] = (),
        source_choices: Sequence[tuple[int, str]] = (),
        editing: bool = False,
        running: bool = False,
        needs_reason: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_metric"].choices = [("", "Choose a metric…"), *metric_choices]
        self.fields["secondary_metrics"].choices = list(metric_choices)
        self.fields["guardrail_metrics"].choices = list(metric_choices)
        if source_choices:
            self.fields["source"].choices = [("", OUR_STORE), *source_choices]
        else:  # no source to choose: the experiment reads our own exposures and events
            del self.fields["source"]
            del self.fields["source_experiment_id"]
        if editing:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key cannot change."
        if not (running or needs_reason):
            del self.fields["phase_reason"]
        if editing:
            del self.fields["template"]

    def design_changes(self, variants: Sequence[VariantSpec]) -> dict[str, Any]:
        """The design's fields as the form sets them (everything else keeps its value)."""
        data = self.cleaned_data
        changes: dict[str, Any] = {name: data[name] for name in self.DESIGN_FIELDS}
        changes["secondary_metrics"] = tuple(data["secondary_metrics"])
        changes["guardrail_metrics"] = tuple(data["guardrail_metrics"])
        changes["coverage"] = data["coverage"] / 100.0
        changes["variants"] = tuple(variants)
        if "source" in self.fields:
            changes["source"] = data["source"]
            changes["source_experiment_id"] = data["source_experiment_id"]
        changes["planned_mde"] = (
            data["planned_mde"] / 100.0 if data["planned_mde"] is not None else None
        )
        return changes

    def design(self, variants: Sequence[VariantSpec], **plan: Any) -> ExperimentDesign:
        return ExperimentDesign(
            key=self.cleaned_data["key"], **self.design_changes(variants), **plan
        )


class VariantForm(PageForm):
    key = forms.SlugField(max_length=MAX_KEY_LENGTH, label="Key")
    name = forms.CharField(max_length=MAX_VARIANT_NAME_LENGTH, required=False, label="Name")
    weight = forms.FloatField(
        min_value=0, max_value=100, label="Traffic share (%)", widget=decimal_input()
    )


class _VariantFormSet(UniqueKeysFormSet):
    def clean(self) -> None:
        super().clean()
        weights = [
            f.cleaned_data["weight"] for f in self.filled_forms() if "weight" in f.cleaned_data
        ]
        total = sum(weights)
        if weights and abs(total - 100) > 1e-4:
            raise forms.ValidationError(SHARES_MUST_ADD_UP.format(total=total))


VariantFormSet = forms.formset_factory(
    VariantForm,
    formset=_VariantFormSet,
    extra=0,
    min_num=2,
    validate_min=True,
    max_num=MAX_VARIANTS,
    validate_max=True,
)


def variant_specs(formset: forms.BaseFormSet) -> list[VariantSpec]:
    """The formset's rows as the service's variants; the first row is the control."""
    return [
        VariantSpec(
            key=form.cleaned_data["key"],
            name=form.cleaned_data["name"],
            weight=form.cleaned_data["weight"] / 100.0,
            is_control=index == 0,
        )
        for index, form in enumerate(formset.filled_forms())
    ]


class ExperimentFilterForm(PageForm):
    q = forms.CharField(
        max_length=MAX_NAME_LENGTH,
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *ExperimentStatus.choices], required=False, label="Status"
    )
    funnel_stage = forms.ChoiceField(
        choices=[("", "Any stage"), *FunnelStage.choices], required=False, label="Funnel stage"
    )
