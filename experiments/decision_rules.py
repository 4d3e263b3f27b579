"""Pre-registered plans and their decision rules: what an experiment fixes before it starts
(metrics, smallest change worth detecting, minimum runtime, planned units, statistics settings)
and the rule that turns its results into ship, roll back, keep running or inconclusive, saying
which clause of the rule decided.

Plain values and functions, no Django: the plan services validate and freeze plans with them,
the results selectors evaluate a frozen plan against a snapshot's ``experiments.contracts``.
The sentences reuse ``experiments.verdicts`` (effects, evidence, the SRM and harm wording).

The rule, in order (docs/experiments.md, "Templates and pre-registered decisions"):

1. a sample ratio mismatch: no clause applies, the decision is inconclusive;
2. **ship** a variant whose primary metric wins (frequentist: p < the plan's α in the good
   direction; Bayesian: chance to win ≥ the rule's threshold) and that no roll-back clause
   touches (and, if the rule says so, that harms no guardrail), once the minimum runtime and
   the planned units are reached (or at once, if the rule allows shipping early);
3. **roll back** when a guardrail is harmed, or when the primary metric loses (each clause can
   be switched off);
4. otherwise **keep running** until the plan is complete, then call it **inconclusive** (also
   when the experiment stopped before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.contracts import (
    AnalysisOutputs,
    ComparisonResult,
    Health,
    MetricResult,
    ResultsDecision,
)
from experiments.stats.summaries import format_p_value
from experiments.verdicts import (
    DECIDE_SRM,
    DECISION_LABELS,
    INCONCLUSIVE,
    KEEP_RUNNING,
    ROLL_BACK,
    SHIP,
    effect_text,
    evidence_text,
)

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


def _win_threshold(plan: PlanSpec) -> str:
    if plan.engine == "bayesian":
        return f"chance to win ≥ {plan.decision_rule.ship_min_chance_to_win * 100:.3g}%"
    return f"p < {plan.alpha:g}"


def targets_text(plan: PlanSpec) -> str:
    """"14 days and 10,000 units per variant", "14 days", ... ("" without targets)."""
    parts = []
    if plan.min_runtime_days is not None:
        days = plan.min_runtime_days
        parts.append(f"{days:,} day{'s' if days != 1 else ''}")
    if plan.planned_units_per_variant is not None:
        parts.append(f"{plan.planned_units_per_variant:,} units per variant")
    return " and ".join(parts)


def ship_clause(plan: PlanSpec) -> str:
    rule = plan.decision_rule
    text = f"ship when the primary metric wins ({_win_threshold(plan)})"
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


# --- Evaluating the rule ----------------------------------------------------------------------

CLAUSE_SRM = "srm"
CLAUSE_SHIP = "ship"
CLAUSE_ROLLBACK_GUARDRAIL = "rollback_guardrail"
CLAUSE_ROLLBACK_PRIMARY = "rollback_primary"
CLAUSE_WAIT_FOR_PLAN = "wait_for_plan"
CLAUSE_KEEP_RUNNING = "keep_running"
CLAUSE_PLAN_COMPLETE = "inconclusive_plan_complete"
CLAUSE_STOPPED_EARLY = "inconclusive_stopped_early"
CLAUSES = (
    CLAUSE_SRM,
    CLAUSE_SHIP,
    CLAUSE_ROLLBACK_GUARDRAIL,
    CLAUSE_ROLLBACK_PRIMARY,
    CLAUSE_WAIT_FOR_PLAN,
    CLAUSE_KEEP_RUNNING,
    CLAUSE_PLAN_COMPLETE,
    CLAUSE_STOPPED_EARLY,
)

SRM_CLAUSE_TEXT = "no clause applies while the traffic split is broken"
RULE_SHIP = "The primary metric, {metric}, won for {variant}: {effect}, {evidence}; {guardrails}."
RULE_HARM = "{variant} harms the guardrail {metric} ({harm:+.1%}, one-sided {p})."
RULE_LOSS = "The primary metric, {metric}, lost for {variant}: {effect}, {evidence}."
RULE_WAIT = (
    "{variant} is ahead on {metric} ({effect}, {evidence}), but the plan ships only once it is "
    "complete: {progress}."
)
RULE_KEEP_RUNNING = "{progress}; no decisive result on {metric} yet ({effect}, {evidence})."
RULE_KEEP_RUNNING_POWER = (
    "No decisive result on {metric} yet ({effect}, {evidence}), and the data can only detect "
    "changes of {detectable:.1%} against the planned {planned:.1%}: keep collecting."
)
RULE_KEEP_RUNNING_PLAIN = "No decisive result on {metric} yet ({effect}, {evidence})."
RULE_NO_RESULT = "No result on the primary metric yet: {units:,} of {exposed:,} units have matured."
RULE_NO_RESULT_PROGRESS = "{progress}; no result on the primary metric yet."
RULE_PLAN_COMPLETE = (
    "The plan is complete{progress} and the primary metric, {metric}, did not win ({effect}, "
    "{evidence})."
)
RULE_POWERED = (
    "The data can detect the planned {planned:.1%} change and the primary metric, {metric}, did "
    "not win ({effect}, {evidence})."
)
RULE_STOPPED_EARLY = (
    "The experiment stopped before the plan was complete ({progress}) and the primary metric, "
    "{metric}, did not win{result}."
)
RULE_STOPPED_WINNING = (
    "The experiment stopped before the plan was complete ({progress}); {variant} was ahead on "
    "{metric} ({effect}, {evidence}), but the rule ships only on a complete plan."
)
RULE_STOPPED = (
    "The experiment has stopped and the primary metric, {metric}, did not win{result}."
)
RULE_STOPPED_NO_RESULT = "The experiment stopped without a result on the primary metric."
GUARDRAILS_CLEAN = "no guardrail was harmed"
GUARDRAILS_NONE = "the plan has no guardrails"
GUARDRAILS_IGNORED = "the rule does not look at guardrails"


def _good_direction(c: ComparisonResult, primary: MetricResult) -> bool:
    return c.effect is not None and (c.effect > 0) == primary.higher_is_better


def primary_wins(plan: PlanSpec, primary: MetricResult, c: ComparisonResult) -> bool:
    """Frequentist: p < the plan's α in the good direction; Bayesian: the chance to win (which
    is direction-aware) at or above the rule's threshold."""
    if not c.ok or c.effect is None:
        return False
    if c.p_value is None:
        chance = c.chance_to_win
        return chance is not None and chance >= plan.decision_rule.ship_min_chance_to_win
    return c.p_value < plan.alpha and _good_direction(c, primary)


def primary_loses(plan: PlanSpec, primary: MetricResult, c: ComparisonResult) -> bool:
    """The mirror image of ``primary_wins``: decisive in the bad direction."""
    if not c.ok or c.effect is None or c.effect == 0:
        return False
    if c.p_value is None:
        chance = c.chance_to_win
        return chance is not None and chance <= 1 - plan.decision_rule.ship_min_chance_to_win
    return c.p_value < plan.alpha and not _good_direction(c, primary)


def _decision(action: str, reason: str, clause: str, clause_text: str, rule: str) -> ResultsDecision:
    return ResultsDecision(
        action=action,
        label=DECISION_LABELS[action],
        reason=reason,
        clause=clause,
        clause_text=clause_text,
        rule=rule,
    )


def plan_decision(
    plan: PlanSpec,
    outputs: AnalysisOutputs,
    health: Health,
    progress: PlanProgress,
    *,
    finished: bool = False,
    names: Mapping[str, str] | None = None,
) -> ResultsDecision:
    """Apply the plan's rule to one analysis (see the module docstring for the order)."""
    rule = plan.decision_rule
    whole = rule_text(plan)

    def decide(action: str, reason: str, clause: str, clause_text: str) -> ResultsDecision:
        return _decision(action, reason, clause, clause_text, whole)

    if health.srm_flag and health.srm is not None:
        reason = DECIDE_SRM.format(p_value=health.srm.p_value or 0.0)
        return decide(INCONCLUSIVE, reason, CLAUSE_SRM, SRM_CLAUSE_TEXT)

    label = (names or {}).get
    guardrail_results = health.guardrails.results if health.guardrails else ()
    harmed = {r.variant: r for r in guardrail_results if r.harmful}
    primary = outputs.primary
    comparisons = [c for c in (primary.comparisons if primary else ()) if c.ok]
    control_key = outputs.control or "control"

    def wording(c: ComparisonResult) -> dict[str, str]:
        assert primary is not None
        return {
            "variant": label(c.variant, c.variant),
            "control": label(control_key, control_key),
            "metric": primary.name,
            "effect": effect_text(c),
            "evidence": evidence_text(c, outputs.engine, outputs.correction),
        }

    wins = [c for c in comparisons if primary is not None and primary_wins(plan, primary, c)]
    losses = [c for c in comparisons if primary is not None and primary_loses(plan, primary, c)]
    blocked = rule.rollback_on_guardrail_harm or rule.ship_requires_no_guardrail_harm
    # The best winner first: the largest effect in the metric's good direction.
    sign = -1.0 if primary is None or primary.higher_is_better else 1.0
    shippable = sorted(
        (c for c in wins if not (blocked and c.variant in harmed)),
        key=lambda c: sign * (c.effect or 0.0),
    )
    on_time = rule.ship_before_plan_complete or progress.targets_reached(plan)
    done = progress_text(plan, progress)

    # 2. Ship.
    if shippable and on_time:
        best = shippable[0]
        if not rule.ship_requires_no_guardrail_harm:
            guardrails = GUARDRAILS_IGNORED
        elif plan.guardrail_metrics or guardrail_results:
            guardrails = GUARDRAILS_CLEAN
        else:
            guardrails = GUARDRAILS_NONE
        reason = RULE_SHIP.format(guardrails=guardrails, **wording(best))
        return decide(SHIP, reason, CLAUSE_SHIP, ship_clause(plan))

    # 3. Roll back.
    if rule.rollback_on_guardrail_harm and harmed:
        r = next(iter(harmed.values()))
        p = format_p_value(r.p_value) if r.p_value is not None else "p unknown"
        reason = RULE_HARM.format(
            variant=label(r.variant, r.variant), metric=r.name, harm=r.harm or 0.0, p=p
        )
        clause_text = "roll back when a guardrail is harmed"
        return decide(ROLL_BACK, reason, CLAUSE_ROLLBACK_GUARDRAIL, clause_text)
    if rule.rollback_on_primary_loss and losses:
        reason = RULE_LOSS.format(**wording(losses[0]))
        clause_text = f"roll back when the primary metric loses ({_win_threshold(plan)})"
        return decide(ROLL_BACK, reason, CLAUSE_ROLLBACK_PRIMARY, clause_text)

    # 4. Otherwise: keep running until the plan is complete, then inconclusive.
    otherwise = otherwise_clause(plan)
    if primary is None or not comparisons:
        if finished:
            return decide(INCONCLUSIVE, RULE_STOPPED_NO_RESULT, CLAUSE_STOPPED_EARLY, otherwise)
        if done:
            reason = RULE_NO_RESULT_PROGRESS.format(progress=done)
        else:
            maturity = outputs.maturity
            reason = RULE_NO_RESULT.format(
                units=maturity.units_matured if maturity else 0,
                exposed=maturity.units_exposed if maturity else 0,
            )
        return decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)

    if shippable:  # winning, but the plan is not complete yet
        first = wording(shippable[0])
        wait = ship_clause(plan)
        if finished:
            reason = RULE_STOPPED_WINNING.format(progress=done, **first)
            return decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, wait)
        return decide(
            KEEP_RUNNING, RULE_WAIT.format(progress=done, **first), CLAUSE_WAIT_FOR_PLAN, wait
        )

    first = wording(comparisons[0])
    power = health.power
    if plan.has_targets:
        complete = progress.targets_reached(plan)
        if complete:
            reason = RULE_PLAN_COMPLETE.format(progress=f" ({done})", **first)
            return decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
        if finished:
            result = f" ({first['effect']}, {first['evidence']})"
            reason = RULE_STOPPED_EARLY.format(progress=done, result=result, metric=first["metric"])
            return decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, otherwise)
        reason = RULE_KEEP_RUNNING.format(progress=done, **first)
        return decide(KEEP_RUNNING, reason[0].upper() + reason[1:], CLAUSE_KEEP_RUNNING, otherwise)

    # No runtime or units planned: the planned MDE says when the sample is enough; without
    # one either, the plan runs until the experiment is stopped.
    result = f" ({first['effect']}, {first['evidence']})"
    if not plan.planned_mde:
        if finished:
            reason = RULE_STOPPED.format(result=result, metric=first["metric"])
            return decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
        return decide(
            KEEP_RUNNING, RULE_KEEP_RUNNING_PLAIN.format(**first), CLAUSE_KEEP_RUNNING, otherwise
        )
    if power is not None and power.detectable_effect is not None and not power.too_little_data:
        reason = RULE_POWERED.format(planned=plan.planned_mde, **first)
        return decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
    if finished:
        progress_words = f"the data could not detect the planned {plan.planned_mde:.1%} change"
        reason = RULE_STOPPED_EARLY.format(
            progress=progress_words, result=result, metric=first["metric"]
        )
        return decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, otherwise)
    if power is not None and power.too_little_data and power.detectable_effect is not None:
        reason = RULE_KEEP_RUNNING_POWER.format(
            detectable=power.detectable_effect, planned=plan.planned_mde, **first
        )
        return decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)
    return decide(
        KEEP_RUNNING, RULE_KEEP_RUNNING_PLAIN.format(**first), CLAUSE_KEEP_RUNNING, otherwise
    )
