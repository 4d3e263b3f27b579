"""Pre-registered plans and their decision rules, as plain values: what an experiment fixes
before it starts (metrics, smallest change worth detecting, minimum runtime, planned units,
statistics settings) and the rule that turns results into ship, roll back, keep running or
inconclusive, with the rule in words.

No Django: the plan services validate and freeze plans with these, ``experiments.plan_decisions``
applies a frozen plan to an analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- The rule ---------------------------------------------------------------------------------

DEFAULT_CHANCE_TO_WIN = 0.95
MIN_CHANCE_TO_WIN = 0.5
MAX_CHANCE_TO_WIN = 0.9999
NOT_AN_OBJECT = "Must be an object, e.g. {example}."
UNKNOWN_KEY = "Unknown key; expected one of: {keys}."
NOT_A_BOOLEAN = "Must be true or false."
BAD_CHANCE = "Must be a number from 0.5 to 0.9999 (e.g. 0.95 for a 95% chance to win)."

_SHIP_KEYS = ("min_chance_to_win", "no_guardrail_harmed", "before_plan_complete")
_ROLLBACK_KEYS = ("guardrail_harmed", "primary_loses")


class RuleError(ValueError):
    """A decision rule that cannot be read; ``field`` is the path inside the rule."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class DecisionRule:
    """When to ship, when to roll back; otherwise keep running until the plan is complete,
    then inconclusive.

    As JSON: ``{"ship_when": {"min_chance_to_win", "no_guardrail_harmed",
    "before_plan_complete"}, "rollback_when": {"guardrail_harmed", "primary_loses"}}``; the
    primary metric winning is always part of "ship when". ``min_chance_to_win`` applies to the
    Bayesian engine (the frequentist one wins at p < the plan's α).
    """

    ship_min_chance_to_win: float = DEFAULT_CHANCE_TO_WIN
    ship_requires_no_guardrail_harm: bool = True
    ship_before_plan_complete: bool = False
    rollback_on_guardrail_harm: bool = True
    rollback_on_primary_loss: bool = True

    @classmethod
    def from_json(cls, data: Any) -> DecisionRule:
        """Read a rule; missing keys keep their defaults, anything else raises ``RuleError``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise RuleError(NOT_AN_OBJECT.format(example=_EXAMPLE), field="")
        _only(data, ("ship_when", "rollback_when"), "")
        ship = _section(data, "ship_when", _SHIP_KEYS)
        rollback = _section(data, "rollback_when", _ROLLBACK_KEYS)
        default = cls()
        chance = ship.get("min_chance_to_win", default.ship_min_chance_to_win)
        if (
            isinstance(chance, bool)
            or not isinstance(chance, int | float)
            or not MIN_CHANCE_TO_WIN <= chance <= MAX_CHANCE_TO_WIN
        ):
            raise RuleError(BAD_CHANCE, field="ship_when.min_chance_to_win")
        return cls(
            ship_min_chance_to_win=float(chance),
            ship_requires_no_guardrail_harm=_flag(
                ship, "no_guardrail_harmed", default.ship_requires_no_guardrail_harm, "ship_when"
            ),
            ship_before_plan_complete=_flag(
                ship, "before_plan_complete", default.ship_before_plan_complete, "ship_when"
            ),
            rollback_on_guardrail_harm=_flag(
                rollback, "guardrail_harmed", default.rollback_on_guardrail_harm, "rollback_when"
            ),
            rollback_on_primary_loss=_flag(
                rollback, "primary_loses", default.rollback_on_primary_loss, "rollback_when"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ship_when": {
                "min_chance_to_win": self.ship_min_chance_to_win,
                "no_guardrail_harmed": self.ship_requires_no_guardrail_harm,
                "before_plan_complete": self.ship_before_plan_complete,
            },
            "rollback_when": {
                "guardrail_harmed": self.rollback_on_guardrail_harm,
                "primary_loses": self.rollback_on_primary_loss,
            },
        }


_EXAMPLE = '{"ship_when": {"no_guardrail_harmed": true}, "rollback_when": {"primary_loses": true}}'


def _only(data: Mapping[str, Any], keys: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in keys:
            where = f"{path}.{key}" if path else str(key)
            raise RuleError(UNKNOWN_KEY.format(keys=", ".join(keys)), field=where)


def _section(data: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    section = data.get(name, {})
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise RuleError(NOT_AN_OBJECT.format(example=_EXAMPLE), field=name)
    _only(section, keys, name)
    return section


def _flag(section: Mapping[str, Any], key: str, default: bool, path: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise RuleError(NOT_A_BOOLEAN, field=f"{path}.{key}")
    return value


# --- The plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRef:
    key: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricRef:
        return cls(key=data["key"], name=data.get("name", data["key"]))


@dataclass(frozen=True)
class PlanSpec:
    """Everything an experiment's plan fixes. Frozen (as ``to_json``) when it first starts."""

    primary_metric: MetricRef | None
    secondary_metrics: tuple[MetricRef, ...] = ()
    guardrail_metrics: tuple[MetricRef, ...] = ()
    planned_mde: float | None = None
    min_runtime_days: int | None = None
    planned_units_per_variant: int | None = None
    engine: str = "frequentist"
    alpha: float = 0.05
    sequential: bool = False
    sequential_tuning: int = 5000
    correction: str = "holm"
    cuped: bool = True
    decision_rule: DecisionRule = field(default_factory=DecisionRule)
    template: str = ""  # key of the template the experiment was created from

    @property
    def has_targets(self) -> bool:
        """Whether the plan says when it is complete (a minimum runtime or planned units)."""
        return self.min_runtime_days is not None or self.planned_units_per_variant is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "primary_metric": self.primary_metric.to_json() if self.primary_metric else None,
            "secondary_metrics": [m.to_json() for m in self.secondary_metrics],
            "guardrail_metrics": [m.to_json() for m in self.guardrail_metrics],
            "planned_mde": self.planned_mde,
            "min_runtime_days": self.min_runtime_days,
            "planned_units_per_variant": self.planned_units_per_variant,
            "statistics": {
                "engine": self.engine,
                "alpha": self.alpha,
                "sequential": self.sequential,
                "sequential_tuning": self.sequential_tuning,
                "correction": self.correction,
                "cuped": self.cuped,
            },
            "decision_rule": self.decision_rule.to_json(),
            "template": self.template,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanSpec:
        stats = data.get("statistics", {})
        primary = data.get("primary_metric")
        return cls(
            primary_metric=MetricRef.from_json(primary) if primary else None,
            secondary_metrics=tuple(MetricRef.from_json(m) for m in data["secondary_metrics"]),
            guardrail_metrics=tuple(MetricRef.from_json(m) for m in data["guardrail_metrics"]),
            planned_mde=data.get("planned_mde"),
            min_runtime_days=data.get("min_runtime_days"),
            planned_units_per_variant=data.get("planned_units_per_variant"),
            engine=stats.get("engine", "frequentist"),
            alpha=float(stats.get("alpha", 0.05)),
            sequential=bool(stats.get("sequential", False)),
            sequential_tuning=int(stats.get("sequential_tuning", 5000)),
            correction=stats.get("correction", "holm"),
            cuped=bool(stats.get("cuped", True)),
            decision_rule=DecisionRule.from_json(data.get("decision_rule")),
            template=data.get("template", ""),
        )


@dataclass(frozen=True)
class PlanProgress:
    """How far the experiment has come: whole days since it started, up to the data cut-off
    (or its stop), and matured units of the primary metric in its smallest variant."""

    days_run: int
    units_per_variant: int

    def runtime_reached(self, plan: PlanSpec) -> bool:
        return plan.min_runtime_days is None or self.days_run >= plan.min_runtime_days

    def units_reached(self, plan: PlanSpec) -> bool:
        return (
            plan.planned_units_per_variant is None
            or self.units_per_variant >= plan.planned_units_per_variant
        )

    def targets_reached(self, plan: PlanSpec) -> bool:
        """Minimum runtime and planned units both reached (each counts as reached if unset)."""
        return self.runtime_reached(plan) and self.units_reached(plan)


# --- The rule in words ------------------------------------------------------------------------


def win_threshold(plan: PlanSpec) -> str:
    """ "p < 0.05", or "chance to win ≥ 95%" under the Bayesian engine."""
    if plan.engine == "bayesian":
        return f"chance to win ≥ {plan.decision_rule.ship_min_chance_to_win * 100:.3g}%"
    return f"p < {plan.alpha:g}"


def targets_text(plan: PlanSpec) -> str:
    """ "14 days and 10,000 units per variant", "14 days", ... ("" without targets)."""
    parts = []
    if plan.min_runtime_days is not None:
        days = plan.min_runtime_days
        parts.append(f"{days:,} day{'s' if days != 1 else ''}")
    if plan.planned_units_per_variant is not None:
        parts.append(f"{plan.planned_units_per_variant:,} units per variant")
    return " and ".join(parts)


def ship_clause(plan: PlanSpec) -> str:
    rule = plan.decision_rule
    text = f"ship when the primary metric wins ({win_threshold(plan)})"
    if rule.ship_requires_no_guardrail_harm:
        text += " and no guardrail is harmed"
    if not rule.ship_before_plan_complete and plan.has_targets:
        text += f", once the plan is complete ({targets_text(plan)})"
    return text


def rollback_clause(plan: PlanSpec) -> str:
    rule = plan.decision_rule
    reasons = []
    if rule.rollback_on_guardrail_harm:
        reasons.append("a guardrail is harmed")
    if rule.rollback_on_primary_loss:
        reasons.append("the primary metric loses")
    return "roll back when " + " or ".join(reasons) if reasons else "never roll back by rule"


def otherwise_clause(plan: PlanSpec) -> str:
    if plan.has_targets:
        until = targets_text(plan)
    elif plan.planned_mde:
        until = f"the data can detect the planned {plan.planned_mde:.1%} change"
    else:
        until = "the experiment is stopped"
    return f"otherwise keep running until {until}, then call it inconclusive"


def rule_text(plan: PlanSpec) -> str:
    """The whole rule as one sentence, e.g. "Ship when the primary metric wins (p < 0.05) and
    no guardrail is harmed, once the plan is complete (14 days); roll back when a guardrail is
    harmed or the primary metric loses; otherwise keep running until 14 days, then call it
    inconclusive."."""
    sentence = f"{ship_clause(plan)}; {rollback_clause(plan)}; {otherwise_clause(plan)}."
    return sentence[0].upper() + sentence[1:]


def progress_text(plan: PlanSpec, progress: PlanProgress) -> str:
    """ "9 of 14 planned days, 4,200 of 10,000 planned units per variant" ("" without)."""
    parts = []
    if plan.min_runtime_days is not None:
        parts.append(f"{progress.days_run:,} of {plan.min_runtime_days:,} planned days")
    if plan.planned_units_per_variant is not None:
        parts.append(
            f"{progress.units_per_variant:,} of {plan.planned_units_per_variant:,} planned "
            "units per variant"
        )
    return ", ".join(parts)
