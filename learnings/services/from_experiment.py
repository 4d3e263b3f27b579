"""Learnings from concluded experiments.

``learning_record_from_experiment`` is the entry point the conclusion of an experiment calls:
it reads the experiment and its latest analysis through ``experiments.selectors`` and creates
or updates the experiment's one learning. ``learning_record_from_result`` does the same from
plain values (``ExperimentFacts`` + ``ResultSummary``), for callers that already hold them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from experiments.contracts import ComparisonSummary, ResultSummary
from experiments.models import Experiment, ExperimentStatus
from experiments.selectors import experiment_result_summary
from learnings.models import EffectDimension, Learning, Outcome, Source
from learnings.services.areas import product_area_get_or_create_path
from learnings.services.effects import (
    comparison_numbers,
    comparison_verdict,
    effect_override_current,
    effects_derive,
)
from learnings.services.learnings import (
    clean_choice,
    learning_search_text_refresh_one,
    quarter_of,
)
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

NOT_CONCLUDED = "Only a concluded experiment leaves a learning (this one is {status})."
LEARNED_MAX_CHARS = 5000
LEARNED_TOO_LONG = f"What we learned is at most {LEARNED_MAX_CHARS:,} characters."


@dataclass(frozen=True)
class ExperimentFacts:
    """What a learning takes from its experiment, as plain values."""

    id: int
    key: str
    name: str
    hypothesis: str
    decision: str
    decision_variant: str
    rationale: str
    team: str
    product_area: str  # "Editor › Sharing"
    funnel_stage: str
    alpha: float
    concluded_on: date


def experiment_facts(*, experiment: Experiment) -> ExperimentFacts:
    concluded = experiment.concluded_at or timezone.now()
    return ExperimentFacts(
        id=experiment.pk,
        key=experiment.key,
        name=experiment.name,
        hypothesis=experiment.hypothesis,
        decision=experiment.decision,
        decision_variant=experiment.decision_variant,
        rationale=experiment.decision_rationale,
        team=experiment.team,
        product_area=experiment.product_area,
        funnel_stage=experiment.funnel_stage,
        alpha=experiment.alpha,
        concluded_on=_local_date(concluded, experiment.workspace.timezone),
    )


def _local_date(moment: datetime, zone: str) -> date:
    try:
        return timezone.localdate(moment, ZoneInfo(zone))
    except (KeyError, ValueError):
        return timezone.localdate(moment, ZoneInfo("UTC"))


# --- From an experiment -----------------------------------------------------------------------


def _oriented(comparison: ComparisonSummary) -> float | None:
    if comparison.effect is None or not math.isfinite(comparison.effect):
        return None
    return comparison.effect if comparison.higher_is_better else -comparison.effect


def focus_variant(*, decision_variant: str, primary: Sequence[ComparisonSummary]) -> str:
    """The variant a learning is about: the shipped one, else the best on the primary metric."""
    variants = {c.variant for c in primary}
    if decision_variant and decision_variant in variants:
        return decision_variant
    ranked = sorted(primary, key=lambda c: (_oriented(c) is None, -(_oriented(c) or 0.0)))
    return ranked[0].variant if ranked else ""


def standard_error_from_interval(
    ci_low: float | None, ci_high: float | None, alpha: float
) -> float | None:
    """Return (high − low) / (2·z₁₋α/₂), the standard error a symmetric interval implies."""
    if ci_low is None or ci_high is None or not (0 < alpha < 1):
        return None
    width = ci_high - ci_low
    if not math.isfinite(width) or width < 0:
        return None
    return width / (2 * NormalDist().inv_cdf(1 - alpha / 2))


@dataclass(frozen=True)
class ResultNumbers:
    """What a learning stores from one analysis."""

    snapshot_id: int | None
    primary: dict[str, Any]
    guardrails: list[dict[str, Any]]
    outcome: str
    impact: float | None
    impact_se: float | None
    effects: dict[str, dict[str, Any]]
    summary: str


def result_numbers(
    *, result: ResultSummary | None, decision_variant: str, alpha: float
) -> ResultNumbers:
    """Turn an analysis into a learning's numbers: primary, guardrails, outcome, effects."""
    if result is None:
        effects = {d: {"derived": "", "comparisons": []} for d in EffectDimension.values}
        return ResultNumbers(None, {}, [], "", None, None, effects, "")
    primary_all = result.primary
    variant = focus_variant(decision_variant=decision_variant, primary=primary_all)
    primary = next((c for c in primary_all if c.variant == variant), None)
    guardrails = [
        comparison_numbers(c)
        for c in result.comparisons
        if c.metric_role == "guardrail" and c.variant == variant
    ]
    effects = effects_derive(comparisons=result.comparisons, variant=variant)
    impact = impact_se = None
    if primary is not None and result.difference == "relative":
        impact = _oriented(primary)
        impact_se = standard_error_from_interval(primary.ci_low, primary.ci_high, alpha)
    primary_numbers = (
        {**comparison_numbers(primary), "difference": result.difference} if primary else {}
    )
    return ResultNumbers(
        snapshot_id=result.snapshot_id,
        primary=primary_numbers,
        guardrails=guardrails,
        outcome=comparison_verdict(primary) if primary else "",
        impact=impact,
        impact_se=impact_se,
        effects={d: e.as_evidence() for d, e in effects.items()},
        summary=primary.summary if primary else "",
    )


@transaction.atomic
def learning_record_from_result(
    *,
    workspace: Workspace,
    facts: ExperimentFacts,
    result: ResultSummary | None,
    actor: AbstractBaseUser | None,
    learned: str = "",
) -> Learning:
    """Create or update the learning of the experiment ``facts`` describe.

    Refreshed every time: hypothesis, decision, rationale, the numbers, the outcome and the
    derived effects (an effect overridden by a person keeps its override). Filled only while
    blank, so people's edits stand: title, what we learned, funnel stage, product area, team.
    ``learned``, when given (the insight the person concluding wrote), replaces what we
    learned; otherwise a blank one gets the primary metric's verdict sentence.
    """
    learned = learned.strip()
    if len(learned) > LEARNED_MAX_CHARS:
        raise ValidationFailed(LEARNED_TOO_LONG, field="learned")
    numbers = result_numbers(
        result=result, decision_variant=facts.decision_variant, alpha=facts.alpha
    )
    learning = (
        Learning.objects.select_for_update()
        .filter(workspace=workspace, experiment_id=facts.id)
        .first()
    )
    created = learning is None
    if learning is None:
        learning = Learning(
            workspace=workspace,
            experiment_id=facts.id,
            source=Source.EXPERIMENT,
            author=actor if actor is not None and actor.is_authenticated else None,
        )
    learning.title = learning.title or facts.name
    learning.learned = learned or learning.learned or numbers.summary
    learning.hypothesis = facts.hypothesis
    learning.decision = facts.decision
    learning.decision_variant = facts.decision_variant
    learning.rationale = facts.rationale
    learning.funnel_stage = learning.funnel_stage or facts.funnel_stage
    learning.team = learning.team or facts.team
    if learning.product_area_id is None and facts.product_area.strip():
        learning.product_area = product_area_get_or_create_path(
            workspace=workspace, path=facts.product_area, actor=actor
        )
    learning.learned_on = facts.concluded_on
    learning.quarter = quarter_of(facts.concluded_on)
    learning.result_snapshot_id = numbers.snapshot_id
    learning.primary_result = numbers.primary
    learning.guardrail_results = numbers.guardrails
    learning.outcome = clean_choice("outcome", numbers.outcome, Outcome.values)
    learning.impact = numbers.impact
    learning.impact_se = numbers.impact_se
    learning.effect_evidence = numbers.effects
    for dimension in EffectDimension.values:
        override = (
            None if created else effect_override_current(learning=learning, dimension=dimension)
        )
        derived = numbers.effects[dimension]["derived"]
        setattr(learning, f"{dimension}_effect", override.value if override else derived)
    learning.full_clean()
    learning.save()
    learning_search_text_refresh_one(learning)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="learning.record_from_experiment",
        obj=learning,
        changes={
            "experiment": facts.key,
            "created": created,
            "snapshot_id": numbers.snapshot_id,
            "outcome": learning.outcome,
            "acquisition_effect": learning.acquisition_effect,
            "retention_effect": learning.retention_effect,
        },
    )
    return learning


def learning_record_from_experiment(
    *, experiment: Experiment, actor: AbstractBaseUser | None, learned: str = ""
) -> Learning:
    """Create or update the learning of a concluded experiment from its latest analysis.

    The hook for concluding an experiment: call it in the same transaction as (or right after)
    ``experiments.services.lifecycle.experiment_conclude``. Safe to call again: one learning per
    experiment, refreshed (see ``learning_record_from_result``).
    """
    if experiment.status != ExperimentStatus.CONCLUDED:
        raise Conflict(NOT_CONCLUDED.format(status=experiment.status), field="status")
    return learning_record_from_result(
        workspace=experiment.workspace,
        facts=experiment_facts(experiment=experiment),
        result=experiment_result_summary(experiment=experiment),
        actor=actor,
        learned=learned,
    )


def experiment_verdict(*, experiment: Experiment, decision_variant: str = "") -> str:
    """The primary metric's verdict sentence from the latest analysis ("" without one).

    What the conclude dialog offers as the start of "what we learned".
    """
    numbers = result_numbers(
        result=experiment_result_summary(experiment=experiment),
        decision_variant=decision_variant,
        alpha=experiment.alpha,
    )
    return numbers.summary
