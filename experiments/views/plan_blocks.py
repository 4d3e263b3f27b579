"""A plan as the pages show it: its facts in plain words, and its amendments with their old and
new values (the experiment, start and template pages share these)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from experiments.decision_rules import DecisionRule, PlanSpec, RuleError, rule_text
from experiments.models import Correction, Engine
from experiments.plan_selectors import Amendment, ExperimentPlanView

FIELD_LABELS = {
    "primary_metric": "Primary metric",
    "secondary_metrics": "Secondary metrics",
    "guardrail_metrics": "Guardrail metrics",
    "planned_mde": "Smallest change worth detecting",
    "planned_duration_days": "Minimum runtime",
    "planned_sample_size_per_variant": "Planned units per variant",
    "engine": "Method",
    "alpha": "Significance level",
    "sequential": "Sequential analysis",
    "sequential_tuning": "Sequential tuning",
    "correction": "Correction",
    "cuped": "CUPED",
    "decision_rule": "Decision rule",
}
NOT_SET = "not set"


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def _days(value: int | None) -> str:
    return NOT_SET if value is None else f"{value:,} day{'s' if value != 1 else ''}"


def _units(value: int | None) -> str:
    return NOT_SET if value is None else f"{value:,}"


def method_text(spec: PlanSpec) -> str:
    """ "Frequentist, α = 0.05, Holm–Bonferroni correction, CUPED on" and the like."""
    parts = [Engine(spec.engine).label if spec.engine in Engine.values else spec.engine]
    if spec.engine != Engine.BAYESIAN:
        parts.append(f"α = {spec.alpha:g}")
    if spec.sequential:
        parts.append(f"sequential (tuned for {spec.sequential_tuning:,} units)")
    if spec.correction in Correction.values and spec.correction != Correction.NONE:
        parts.append(f"{Correction(spec.correction).label} correction")
    parts.append("CUPED on" if spec.cuped else "CUPED off")
    return ", ".join(parts)


def plan_facts(spec: PlanSpec) -> list[Fact]:
    """The plan's values, each in words (the rule is shown on its own)."""

    def names(refs: tuple[Any, ...]) -> str:
        return ", ".join(m.name for m in refs) or "none"

    return [
        Fact("Primary metric", spec.primary_metric.name if spec.primary_metric else "—"),
        Fact("Guardrail metrics", names(spec.guardrail_metrics)),
        Fact("Secondary metrics", names(spec.secondary_metrics)),
        Fact(
            "Smallest change worth detecting",
            f"{_percent(spec.planned_mde)} (relative)" if spec.planned_mde else NOT_SET,
        ),
        Fact("Minimum runtime", _days(spec.min_runtime_days)),
        Fact("Planned units per variant", _units(spec.planned_units_per_variant)),
        Fact("Method", method_text(spec)),
    ]


def _value_text(field: str, value: Any, plan: PlanSpec) -> str:
    if value is None or value == "" or value == []:
        return NOT_SET if field != "secondary_metrics" else "none"
    if field == "decision_rule":
        try:
            return rule_text(replace(plan, decision_rule=DecisionRule.from_json(value)))
        except RuleError:
            return str(value)
    if field == "planned_mde":
        return _percent(float(value))
    if field == "planned_duration_days":
        return _days(int(value))
    if field == "planned_sample_size_per_variant":
        return _units(int(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if field == "engine" and value in Engine.values:
        return str(Engine(value).label)
    if field == "correction" and value in Correction.values:
        return str(Correction(value).label)
    return str(value)


@dataclass(frozen=True)
class AmendmentRow:
    amendment: Amendment
    changes: tuple[tuple[str, str, str], ...]  # label, from, to


def amendment_rows(view: ExperimentPlanView) -> list[AmendmentRow]:
    plan = view.frozen or view.current
    return [
        AmendmentRow(
            amendment=a,
            changes=tuple(
                (
                    FIELD_LABELS.get(c.field, c.field),
                    _value_text(c.field, c.before, plan),
                    _value_text(c.field, c.after, plan),
                )
                for c in a.changes
            ),
        )
        for a in view.amendments
    ]
