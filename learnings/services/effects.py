"""Effect tags: derived from an analysis, overridden by people only with a reason.

The effect on acquisition (retention) comes from the experiment's comparisons on metrics tagged
``acquisition`` (``retention``) in ``outcomes.Metric.tags``, for the variant the learning is
about:

* no such comparison: blank (not measured);
* at least one win and no loss: positive; at least one loss and no win: negative;
* wins and losses both: inconclusive (mixed);
* every comparison flat: neutral; otherwise (some inconclusive): inconclusive.

A comparison's verdict is the analysis's own (``win``/``loss``/``flat``); where the analysis
gave none, a significant effect in the metric's good direction is a win, in its bad direction
a loss, and anything else is inconclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from learnings.models import Effect, EffectDimension, EffectOverride, Learning
from plg_platform.errors import ValidationFailed
from plg_platform.services.audit import audit_record

REASON_REQUIRED = "Overriding an automatic tag needs a reason."
UNKNOWN_EFFECT = "Effect must be one of positive, negative, neutral, inconclusive, or empty."
UNKNOWN_DIMENSION = "Dimension must be acquisition or retention."
VERDICTS = ("win", "loss", "flat", "inconclusive")


class Comparison(Protocol):
    """What derivation reads of one comparison (``experiments.contracts.ComparisonSummary``)."""

    metric_key: str
    metric_name: str
    metric_role: str
    metric_tags: tuple[str, ...]
    higher_is_better: bool
    variant: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    verdict: str


def comparison_verdict(comparison: Comparison) -> str:
    """Return win/loss/flat/inconclusive for one comparison (see the module docstring)."""
    if comparison.verdict in ("win", "loss", "flat"):
        return comparison.verdict
    if comparison.significant and comparison.effect:
        better = (comparison.effect > 0) == comparison.higher_is_better
        return "win" if better else "loss"
    return "inconclusive"


def comparison_numbers(comparison: Comparison) -> dict[str, Any]:
    """The numbers of one comparison as stored on a learning (JSON)."""
    return {
        "metric_key": comparison.metric_key,
        "metric_name": comparison.metric_name,
        "metric_role": comparison.metric_role,
        "variant": comparison.variant,
        "effect": comparison.effect,
        "ci_low": comparison.ci_low,
        "ci_high": comparison.ci_high,
        "p_value": comparison.p_value,
        "chance_to_win": comparison.chance_to_win,
        "significant": comparison.significant,
        "higher_is_better": comparison.higher_is_better,
        "verdict": comparison_verdict(comparison),
    }


@dataclass(frozen=True)
class DerivedEffect:
    value: str  # an Effect value, or "" when no metric measured it
    comparisons: tuple[dict[str, Any], ...]

    def as_evidence(self) -> dict[str, Any]:
        return {"derived": self.value, "comparisons": list(self.comparisons)}


def effect_derive(
    *, dimension: str, comparisons: Iterable[Comparison], variant: str
) -> DerivedEffect:
    """Derive the effect on ``dimension`` from the comparisons of ``variant``."""
    tagged = [c for c in comparisons if c.variant == variant and dimension in (c.metric_tags or ())]
    numbers = tuple(comparison_numbers(c) for c in tagged)
    verdicts = [n["verdict"] for n in numbers]
    if not verdicts:
        value = ""
    elif "win" in verdicts and "loss" in verdicts:
        value = Effect.INCONCLUSIVE
    elif "win" in verdicts:
        value = Effect.POSITIVE
    elif "loss" in verdicts:
        value = Effect.NEGATIVE
    elif all(v == "flat" for v in verdicts):
        value = Effect.NEUTRAL
    else:
        value = Effect.INCONCLUSIVE
    return DerivedEffect(value=str(value), comparisons=numbers)


def effects_derive(*, comparisons: Sequence[Comparison], variant: str) -> dict[str, DerivedEffect]:
    return {
        dimension: effect_derive(dimension=dimension, comparisons=comparisons, variant=variant)
        for dimension in EffectDimension.values
    }


def effect_override_current(*, learning: Learning, dimension: str) -> EffectOverride | None:
    """Return the override in force for ``dimension`` (the latest one, unless it was cleared)."""
    latest = learning.effect_overrides.filter(dimension=dimension).order_by("-id").first()
    return latest if latest is not None and latest.value else None


def _field(dimension: str) -> str:
    return f"{dimension}_effect"


@transaction.atomic
def learning_effect_override(
    *,
    learning: Learning,
    dimension: str,
    value: str,
    reason: str,
    actor: AbstractBaseUser | None,
) -> Learning:
    """Set the effect on ``dimension`` by hand (``value=""`` hands it back to the derivation).

    The reason is required either way and kept in the override history and the audit trail.
    """
    if dimension not in EffectDimension.values:
        raise ValidationFailed(UNKNOWN_DIMENSION, field="dimension")
    if value not in ("", *Effect.values):
        raise ValidationFailed(UNKNOWN_EFFECT, field="value")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(REASON_REQUIRED, field="reason")
    learning = Learning.objects.select_for_update().get(pk=learning.pk)
    previous = getattr(learning, _field(dimension))
    derived = learning.effect_evidence.get(dimension, {}).get("derived", "")
    EffectOverride.objects.create(
        learning=learning,
        dimension=dimension,
        previous=previous,
        value=value,
        reason=reason,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )
    setattr(learning, _field(dimension), value or derived)
    learning.save(update_fields=[_field(dimension), "updated_at"])
    audit_record(
        workspace=learning.workspace,
        actor=actor,
        action="learning.effect_override",
        obj=learning,
        changes={
            "dimension": dimension,
            "from": previous,
            "to": getattr(learning, _field(dimension)),
            "override": value,
            "reason": reason,
        },
    )
    return learning
