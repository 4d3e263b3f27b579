"""Applying a pre-registered plan's decision rule to one analysis: ship, roll back, keep
running or inconclusive, and which clause of the rule decided (``ResultsDecision.clause``).

Plain functions of ``experiments.contracts`` values and ``experiments.decision_rules``; the
results selectors call ``plan_decision`` with the frozen plan and the experiment's progress.
The sentences reuse ``experiments.verdicts`` (effects, evidence, the SRM wording).

The rule, in order (docs/experiments.md, "Templates and pre-registered decisions"):

1. a sample ratio mismatch: no clause applies, the decision is inconclusive;
2. **ship** a variant whose primary metric wins (frequentist: p < the plan's α in the good
   direction; Bayesian: chance to win ≥ the rule's threshold) and that no roll-back clause
   touches (and, if the rule says so, that harms no guardrail), once the minimum runtime and
   the planned units are reached (or at once, if the rule allows shipping early);
3. **roll back** when a guardrail is harmed, or when the primary metric loses (each clause can
   be switched off);
4. otherwise **keep running** until the plan is complete, then call it **inconclusive** (also
   when the experiment stopped before). A plan without a minimum runtime or planned units is
   complete once the data can detect its planned MDE; without an MDE either, when it stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from experiments.contracts import (
    AnalysisOutputs,
    ComparisonResult,
    GuardrailResult,
    Health,
    MetricResult,
    ResultsDecision,
)
from experiments.decision_rules import (
    PlanProgress,
    PlanSpec,
    otherwise_clause,
    progress_text,
    rule_text,
    ship_clause,
    win_threshold,
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
RULE_STOPPED = "The experiment has stopped and the primary metric, {metric}, did not win{result}."
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


@dataclass(frozen=True)
class _Reading:
    """What the rule reads in one analysis, and how it words a decision."""

    plan: PlanSpec
    outputs: AnalysisOutputs
    health: Health
    progress: PlanProgress
    finished: bool
    names: Mapping[str, str]
    primary: MetricResult | None
    comparisons: tuple[ComparisonResult, ...]  # the primary metric's, with a result
    harmed: Mapping[str, GuardrailResult]  # variant key -> its first harmed guardrail
    shippable: tuple[ComparisonResult, ...]  # winners the rule may ship, best first
    losses: tuple[ComparisonResult, ...]

    @classmethod
    def of(
        cls,
        plan: PlanSpec,
        outputs: AnalysisOutputs,
        health: Health,
        progress: PlanProgress,
        *,
        finished: bool,
        names: Mapping[str, str],
    ) -> _Reading:
        rule = plan.decision_rule
        harmed: dict[str, GuardrailResult] = {}
        for r in health.guardrails.results if health.guardrails else ():
            if r.harmful:
                harmed.setdefault(r.variant, r)
        primary = outputs.primary
        comparisons = tuple(c for c in (primary.comparisons if primary else ()) if c.ok)
        wins, losses = [], []
        if primary is not None:
            wins = [c for c in comparisons if primary_wins(plan, primary, c)]
            losses = [c for c in comparisons if primary_loses(plan, primary, c)]
        # A harmed variant is not shipped when the rule rolls back on harm or requires none.
        blocked = rule.rollback_on_guardrail_harm or rule.ship_requires_no_guardrail_harm
        sign = -1.0 if primary is None or primary.higher_is_better else 1.0
        shippable = sorted(
            (c for c in wins if not (blocked and c.variant in harmed)),
            key=lambda c: sign * (c.effect or 0.0),
        )
        return cls(
            plan=plan,
            outputs=outputs,
            health=health,
            progress=progress,
            finished=finished,
            names=names,
            primary=primary,
            comparisons=comparisons,
            harmed=harmed,
            shippable=tuple(shippable),
            losses=tuple(losses),
        )

    def name(self, variant: str) -> str:
        return self.names.get(variant, variant)

    def wording(self, c: ComparisonResult) -> dict[str, str]:
        return {
            "variant": self.name(c.variant),
            "metric": self.primary.name if self.primary is not None else "the primary metric",
            "effect": effect_text(c),
            "evidence": evidence_text(c, self.outputs.engine, self.outputs.correction),
        }

    @property
    def done(self) -> str:
        return progress_text(self.plan, self.progress)

    def decide(self, action: str, reason: str, clause: str, clause_text: str) -> ResultsDecision:
        return ResultsDecision(
            action=action,
            label=DECISION_LABELS[action],
            reason=reason[0].upper() + reason[1:],
            clause=clause,
            clause_text=clause_text,
            rule=rule_text(self.plan),
        )


def _ship(r: _Reading) -> ResultsDecision | None:
    rule = r.plan.decision_rule
    if not r.shippable or not (
        rule.ship_before_plan_complete or r.progress.targets_reached(r.plan)
    ):
        return None
    if not rule.ship_requires_no_guardrail_harm:
        guardrails = GUARDRAILS_IGNORED
    elif r.plan.guardrail_metrics or (r.health.guardrails and r.health.guardrails.results):
        guardrails = GUARDRAILS_CLEAN
    else:
        guardrails = GUARDRAILS_NONE
    reason = RULE_SHIP.format(guardrails=guardrails, **r.wording(r.shippable[0]))
    if r.done and r.progress.targets_reached(r.plan):
        reason += f" The plan is complete: {r.done}."
    elif r.done:
        reason += f" The rule ships before the plan is complete: {r.done}."
    return r.decide(SHIP, reason, CLAUSE_SHIP, ship_clause(r.plan))


def _roll_back(r: _Reading) -> ResultsDecision | None:
    rule = r.plan.decision_rule
    if rule.rollback_on_guardrail_harm and r.harmed:
        harm = next(iter(r.harmed.values()))
        p = format_p_value(harm.p_value) if harm.p_value is not None else "p unknown"
        reason = RULE_HARM.format(
            variant=r.name(harm.variant), metric=harm.name, harm=harm.harm or 0.0, p=p
        )
        clause_text = "roll back when a guardrail is harmed"
        return r.decide(ROLL_BACK, reason, CLAUSE_ROLLBACK_GUARDRAIL, clause_text)
    if rule.rollback_on_primary_loss and r.losses:
        reason = RULE_LOSS.format(**r.wording(r.losses[0]))
        clause_text = f"roll back when the primary metric loses ({win_threshold(r.plan)})"
        return r.decide(ROLL_BACK, reason, CLAUSE_ROLLBACK_PRIMARY, clause_text)
    return None


def _no_result(r: _Reading) -> ResultsDecision:
    otherwise = otherwise_clause(r.plan)
    if r.finished:
        return r.decide(INCONCLUSIVE, RULE_STOPPED_NO_RESULT, CLAUSE_STOPPED_EARLY, otherwise)
    if r.done:
        reason = RULE_NO_RESULT_PROGRESS.format(progress=r.done)
    else:
        maturity = r.outputs.maturity
        reason = RULE_NO_RESULT.format(
            units=maturity.units_matured if maturity else 0,
            exposed=maturity.units_exposed if maturity else 0,
        )
    return r.decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)


def _waiting_winner(r: _Reading) -> ResultsDecision:
    """A winner the rule may not ship yet: the plan is not complete."""
    words = r.wording(r.shippable[0])
    wait = ship_clause(r.plan)
    if r.finished:
        reason = RULE_STOPPED_WINNING.format(progress=r.done, **words)
        return r.decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, wait)
    return r.decide(
        KEEP_RUNNING, RULE_WAIT.format(progress=r.done, **words), CLAUSE_WAIT_FOR_PLAN, wait
    )


def _against_targets(r: _Reading) -> ResultsDecision:
    """No win, no roll-back, and the plan has a minimum runtime or planned units."""
    words = r.wording(r.comparisons[0])
    otherwise = otherwise_clause(r.plan)
    if r.progress.targets_reached(r.plan):
        reason = RULE_PLAN_COMPLETE.format(progress=f" ({r.done})", **words)
        return r.decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
    if r.finished:
        result = f" ({words['effect']}, {words['evidence']})"
        reason = RULE_STOPPED_EARLY.format(progress=r.done, result=result, metric=words["metric"])
        return r.decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, otherwise)
    reason = RULE_KEEP_RUNNING.format(progress=r.done, **words)
    return r.decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)


def _against_power(r: _Reading) -> ResultsDecision:
    """No win, no roll-back, no runtime or units planned: the planned MDE says when the sample
    is enough (the data can detect it); without one, the plan runs until it is stopped."""
    words = r.wording(r.comparisons[0])
    otherwise = otherwise_clause(r.plan)
    result = f" ({words['effect']}, {words['evidence']})"
    mde, power = r.plan.planned_mde, r.health.power
    if not mde:
        if r.finished:
            reason = RULE_STOPPED.format(result=result, metric=words["metric"])
            return r.decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
        reason = RULE_KEEP_RUNNING_PLAIN.format(**words)
        return r.decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)
    measured = power is not None and power.detectable_effect is not None
    if measured and power is not None and not power.too_little_data:
        reason = RULE_POWERED.format(planned=mde, **words)
        return r.decide(INCONCLUSIVE, reason, CLAUSE_PLAN_COMPLETE, otherwise)
    if r.finished:
        progress = f"the data could not detect the planned {mde:.1%} change"
        reason = RULE_STOPPED_EARLY.format(progress=progress, result=result, metric=words["metric"])
        return r.decide(INCONCLUSIVE, reason, CLAUSE_STOPPED_EARLY, otherwise)
    if measured and power is not None:
        reason = RULE_KEEP_RUNNING_POWER.format(
            detectable=power.detectable_effect, planned=mde, **words
        )
        return r.decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)
    reason = RULE_KEEP_RUNNING_PLAIN.format(**words)
    return r.decide(KEEP_RUNNING, reason, CLAUSE_KEEP_RUNNING, otherwise)


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
    reading = _Reading.of(
        plan, outputs, health, progress, finished=finished, names=dict(names or {})
    )
    if health.srm_flag and health.srm is not None:
        reason = DECIDE_SRM.format(p_value=health.srm.p_value or 0.0)
        return reading.decide(INCONCLUSIVE, reason, CLAUSE_SRM, SRM_CLAUSE_TEXT)
    decided = _ship(reading) or _roll_back(reading)
    if decided is not None:
        return decided
    if reading.primary is None or not reading.comparisons:
        return _no_result(reading)
    if reading.shippable:
        return _waiting_winner(reading)
    if plan.has_targets:
        return _against_targets(reading)
    return _against_power(reading)
