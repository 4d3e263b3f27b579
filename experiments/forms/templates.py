"""Forms of templates and decision rules: the rule's choices (shared by the template form and
the experiment design form) and the template form itself. The rules stay in
``experiments.services.templates`` and ``experiments.decision_rules``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django import forms

from experiments.decision_rules import DecisionRule
from experiments.models import Correction, Engine
from experiments.services.design import MAX_KEY_LENGTH, MAX_NAME_LENGTH
from experiments.services.templates import (
    MAX_DESCRIPTION_LENGTH,
    MAX_MDE,
    MAX_RUNTIME_DAYS,
    MAX_UNITS_PER_VARIANT,
    TemplateSpec,
)
from plg_platform.web.forms import PageForm, decimal_input

YES, NO = "yes", "no"


class DecisionRuleForm(PageForm):
    """The decision rule as choices. A choice that is not posted keeps the rule's value, so a
    client that does not know these fields never changes the rule by leaving them out."""

    rule_ship_guardrails = forms.ChoiceField(
        required=False,
        label="Ship when the primary metric wins…",
        choices=[
            (YES, "…and no guardrail is harmed"),
            (NO, "…whatever the guardrails show"),
        ],
    )
    rule_ship_early = forms.ChoiceField(
        required=False,
        label="Ship…",
        choices=[
            (NO, "only once the minimum runtime and planned units are reached"),
            (YES, "as soon as it wins (sound with sequential testing)"),
        ],
    )
    rule_rollback_guardrail = forms.ChoiceField(
        required=False,
        label="When a guardrail is harmed",
        choices=[(YES, "Roll back"), (NO, "Only report it")],
    )
    rule_rollback_primary = forms.ChoiceField(
        required=False,
        label="When the primary metric loses",
        choices=[(YES, "Roll back"), (NO, "Keep running until the plan is complete")],
    )
    rule_min_chance_to_win = forms.FloatField(
        required=False,
        min_value=50,
        max_value=99.99,
        label="Bayesian: a win needs a chance to win of at least (%)",
        help_text="The frequentist method wins at p below the significance level.",
        widget=decimal_input(),
    )

    RULE_FIELDS = (
        "rule_ship_guardrails",
        "rule_ship_early",
        "rule_rollback_guardrail",
        "rule_rollback_primary",
        "rule_min_chance_to_win",
    )

    @staticmethod
    def rule_initial(rule: DecisionRule) -> dict[str, Any]:
        def yes(flag: bool) -> str:
            return YES if flag else NO

        return {
            "rule_ship_guardrails": yes(rule.ship_requires_no_guardrail_harm),
            "rule_ship_early": yes(rule.ship_before_plan_complete),
            "rule_rollback_guardrail": yes(rule.rollback_on_guardrail_harm),
            "rule_rollback_primary": yes(rule.rollback_on_primary_loss),
            "rule_min_chance_to_win": round(rule.ship_min_chance_to_win * 100, 2),
        }

    def decision_rule(self, base: DecisionRule) -> DecisionRule:
        """``base`` with the choices that were posted."""
        data = self.cleaned_data
        changes: dict[str, Any] = {}
        for name, attribute in (
            ("rule_ship_guardrails", "ship_requires_no_guardrail_harm"),
            ("rule_ship_early", "ship_before_plan_complete"),
            ("rule_rollback_guardrail", "rollback_on_guardrail_harm"),
            ("rule_rollback_primary", "rollback_on_primary_loss"),
        ):
            if data.get(name) in (YES, NO):
                changes[attribute] = data[name] == YES
        if data.get("rule_min_chance_to_win") is not None:
            changes["ship_min_chance_to_win"] = round(data["rule_min_chance_to_win"] / 100, 6)
        return replace(base, **changes)


class TemplateForm(DecisionRuleForm):
    key = forms.SlugField(
        max_length=MAX_KEY_LENGTH,
        label="Key",
        help_text="Lower-case id, e.g. activation-test. It cannot change later.",
    )
    name = forms.CharField(max_length=MAX_NAME_LENGTH, label="Name")
    description = forms.CharField(
        max_length=MAX_DESCRIPTION_LENGTH,
        required=False,
        label="When to use it",
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
    planned_mde = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=MAX_MDE * 100,
        label="Smallest change worth detecting (%)",
        help_text="Relative to the baseline: 5 means a 5% lift.",
        widget=decimal_input(),
    )
    min_runtime_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RUNTIME_DAYS,
        label="Minimum runtime (days)",
        help_text="Whole weeks even out weekday effects, e.g. 14.",
    )
    planned_units_per_variant = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_UNITS_PER_VARIANT,
        label="Planned units per variant",
        help_text="From the sample-size calculator, for the MDE above.",
    )
    engine = forms.ChoiceField(choices=Engine.choices, initial=Engine.FREQUENTIST, label="Method")
    alpha = forms.FloatField(
        min_value=0.001,
        max_value=0.2,
        initial=0.05,
        label="Significance level (alpha)",
        widget=decimal_input(),
    )
    correction = forms.ChoiceField(
        choices=Correction.choices, initial=Correction.HOLM, label="Multiple-comparison correction"
    )
    sequential = forms.BooleanField(
        required=False, label="Sequential analysis: results may be read at any time"
    )
    cuped = forms.BooleanField(
        required=False, initial=True, label="CUPED: use the pre-period to reduce variance"
    )

    def __init__(
        self,
        *args: Any,
        metric_choices: Sequence[tuple[str, str]] = (),
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_metric"].choices = [("", "Choose a metric…"), *metric_choices]
        self.fields["secondary_metrics"].choices = list(metric_choices)
        self.fields["guardrail_metrics"].choices = list(metric_choices)
        if editing:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key cannot change."

    @staticmethod
    def initial_of(spec: TemplateSpec) -> dict[str, Any]:
        return {
            "key": spec.key,
            "name": spec.name,
            "description": spec.description,
            "primary_metric": spec.primary_metric,
            "secondary_metrics": list(spec.secondary_metrics),
            "guardrail_metrics": list(spec.guardrail_metrics),
            "planned_mde": round(spec.planned_mde * 100, 4) if spec.planned_mde else None,
            "min_runtime_days": spec.min_runtime_days,
            "planned_units_per_variant": spec.planned_units_per_variant,
            "engine": spec.engine,
            "alpha": spec.alpha,
            "correction": spec.correction,
            "sequential": spec.sequential,
            "cuped": spec.cuped,
            **DecisionRuleForm.rule_initial(spec.decision_rule),
        }

    def spec(self, *, base: TemplateSpec | None = None) -> TemplateSpec:
        data = self.cleaned_data
        rule = self.decision_rule(base.decision_rule if base is not None else DecisionRule())
        mde = data["planned_mde"]
        values = {
            "name": data["name"],
            "description": data["description"],
            "primary_metric": data["primary_metric"],
            "secondary_metrics": tuple(data["secondary_metrics"]),
            "guardrail_metrics": tuple(data["guardrail_metrics"]),
            "planned_mde": mde / 100.0 if mde is not None else None,
            "min_runtime_days": data["min_runtime_days"],
            "planned_units_per_variant": data["planned_units_per_variant"],
            "engine": data["engine"],
            "alpha": data["alpha"],
            "correction": data["correction"],
            "sequential": data["sequential"],
            "cuped": data["cuped"],
            "decision_rule": rule,
        }
        if base is not None:
            return replace(base, **values)
        return TemplateSpec(key=data["key"], **values)
