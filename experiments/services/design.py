"""Designing an experiment: creating and changing its variants, metrics and settings.

Rules that keep results honest live here: weights sum to 1, exactly one control, exactly one
primary metric, metrics and key results from the same workspace; and a running experiment's
variants, weights, coverage or metrics never change silently: the change needs a reason and
starts a new phase.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from experiments.assignment import condition_problem
from experiments.decision_rules import DecisionRule
from experiments.hypothesis import CONNECTORS, hypothesis_part
from experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentStatus,
    ExperimentTemplate,
    MetricRole,
    Phase,
    Variant,
)
from experiments.plan_selectors import plan_record
from experiments.services.plans import (
    amendment_reason_check,
    amendment_record,
    plan_record_create,
    plan_rule_set,
)
from metrics.public import NO_EXPOSURE_TABLE, Metric, source_get
from outcomes.okrs.models import KeyResult
from outcomes.okrs.selectors import key_result_get
from plg_platform.errors import Conflict, NotFound, ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

WEIGHTS_MUST_SUM_TO_ONE = "Variant weights must sum to 1 (they sum to {total:g})."
NEED_TWO_VARIANTS = "An experiment needs at least two variants."
NEED_ONE_CONTROL = "Exactly one variant must be the control (found {count})."
DUPLICATE_VARIANT = "Variant keys must be unique: {key!r} appears twice."
UNKNOWN_METRIC = "No metric {key!r} in this workspace."
METRIC_IN_TWO_ROLES = "Metric {key!r} is listed more than once."
UNKNOWN_KEY_RESULT = "No key result {id} in this workspace."
UNKNOWN_SOURCE = "No event source {id} in this workspace."
KEY_TAKEN = "An experiment with key {key!r} already exists in this workspace."
BAD_TARGETING = (
    "Targeting must be a GrowthBook condition object, e.g. "
    '{{"country": {{"$in": ["DE", "FR"]}}}}: {problem}.'
)
BAD_COVERAGE = "Coverage must be between 0 and 1."
BAD_WEIGHT = "Each weight must be between 0 and 1."
BAD_ALPHA = "Alpha must be between 0 and 0.5."
NEEDS_PHASE_REASON = (
    "This experiment is running: changing {what} starts a new phase with its own analysis. "
    "Send a 'phase_reason' saying why."
)
NOT_EDITABLE = "A {status} experiment cannot be edited."
TOO_LONG = "At most {max:,} characters (this has {length:,})."

# Longest text a person can give each field: long enough for any honest answer, short enough
# that a pasted document cannot fill pages and the database. Forms and serializers use the same.
MAX_KEY_LENGTH = 100
MAX_NAME_LENGTH = 200
MAX_HYPOTHESIS_PART_LENGTH = 1000
MAX_TEAM_LENGTH = 100
MAX_PRODUCT_AREA_LENGTH = 200
MAX_UNIT_PROPERTY_LENGTH = 100
MAX_VARIANT_NAME_LENGTH = 200
MAX_PHASE_REASON_LENGTH = 300
MAX_SOURCE_EXPERIMENT_ID_LENGTH = 200
_TEXT_LIMITS = {
    "name": MAX_NAME_LENGTH,
    "hypothesis_change": MAX_HYPOTHESIS_PART_LENGTH,
    "hypothesis_audience": MAX_HYPOTHESIS_PART_LENGTH,
    "hypothesis_outcome": MAX_HYPOTHESIS_PART_LENGTH,
    "hypothesis_evidence": MAX_HYPOTHESIS_PART_LENGTH,
    "team": MAX_TEAM_LENGTH,
    "product_area": MAX_PRODUCT_AREA_LENGTH,
    "unit_property": MAX_UNIT_PROPERTY_LENGTH,
    "source_experiment_id": MAX_SOURCE_EXPERIMENT_ID_LENGTH,
}

# Changing these on a running experiment starts a new phase (the key results it serves do not:
# they are not part of the analysis). Where exposures and events come from is part of it.
PHASE_FIELDS = (
    "variants",
    "coverage",
    "primary_metric",
    "secondary_metrics",
    "guardrail_metrics",
    "source",
    "source_experiment_id",
)


@dataclass(frozen=True)
class VariantSpec:
    key: str
    weight: float
    name: str = ""
    is_control: bool = False


@dataclass(frozen=True)
class ExperimentDesign:
    """Everything a team decides when designing an experiment."""

    key: str
    name: str
    hypothesis_change: str
    variants: tuple[VariantSpec, ...]
    primary_metric: str
    hypothesis_audience: str = ""
    hypothesis_outcome: str = ""
    hypothesis_evidence: str = ""
    secondary_metrics: tuple[str, ...] = ()
    guardrail_metrics: tuple[str, ...] = ()
    coverage: float = 1.0
    targeting: Mapping[str, Any] = field(default_factory=dict)
    unit_property: str = ""
    team: str = ""
    product_area: str = ""
    funnel_stage: str = ""
    engine: str = "frequentist"
    sequential: bool = False
    sequential_tuning: int = 5000
    alpha: float = 0.05
    cuped: bool = True
    correction: str = "holm"
    segments: tuple[str, ...] = ()
    min_days_for_alerts: int = 3
    min_units_for_alerts: int = 200
    planned_mde: float | None = None
    planned_sample_size_per_variant: int | None = None
    planned_duration_days: int | None = None
    # Ids of the key results (outcomes) the experiment serves, same workspace only.
    key_results: tuple[int, ...] = ()
    # Warehouse-native analysis: the id of an event source of the workspace whose exposure
    # table holds this experiment (None: our exposures and events), and the experiment's id
    # there (empty: its key).
    source: int | None = None
    source_experiment_id: str = ""
    # When to ship, roll back, keep running (experiments.decision_rules); frozen with the plan
    # at the first start, like the metrics, MDE, planned runtime and units, and settings above.
    decision_rule: DecisionRule = DecisionRule()

    def __post_init__(self) -> None:
        # The template adds "for", "will", "because": a part that repeats it is stored without.
        for part in CONNECTORS:
            name = f"hypothesis_{part}"
            object.__setattr__(self, name, hypothesis_part(getattr(self, name), part))


# Fields copied verbatim onto the Experiment row.
_SCALAR_FIELDS = tuple(
    f.name
    for f in fields(ExperimentDesign)
    if f.name
    not in {
        "variants",
        "primary_metric",
        "secondary_metrics",
        "guardrail_metrics",
        "key_results",
        "source",
        "decision_rule",
    }
)


def _check_length(text: str, limit: int, field_name: str) -> None:
    if len(text) > limit:
        raise ValidationFailed(TOO_LONG.format(max=limit, length=len(text)), field=field_name)


def _validate_lengths(design: ExperimentDesign) -> None:
    for name, limit in _TEXT_LIMITS.items():
        _check_length(getattr(design, name), limit, name)
    for v in design.variants:
        _check_length(v.key, MAX_KEY_LENGTH, "variants")
        _check_length(v.name, MAX_VARIANT_NAME_LENGTH, "variants")


def _validate_variants(variants: Sequence[VariantSpec]) -> None:
    if len(variants) < 2:
        raise ValidationFailed(NEED_TWO_VARIANTS, field="variants")
    seen: set[str] = set()
    for v in variants:
        if v.key in seen:
            raise ValidationFailed(DUPLICATE_VARIANT.format(key=v.key), field="variants")
        seen.add(v.key)
        if not (0 <= v.weight <= 1) or not math.isfinite(v.weight):
            raise ValidationFailed(BAD_WEIGHT, field="variants")
    total = sum(v.weight for v in variants)
    if abs(total - 1) > 1e-6:
        raise ValidationFailed(WEIGHTS_MUST_SUM_TO_ONE.format(total=total), field="variants")
    controls = sum(1 for v in variants if v.is_control)
    if controls != 1:
        raise ValidationFailed(NEED_ONE_CONTROL.format(count=controls), field="variants")


def metrics_resolve(
    *,
    workspace: Workspace,
    primary: str,
    secondary: Sequence[str] = (),
    guardrail: Sequence[str] = (),
) -> list[tuple[Metric, str]]:
    """The workspace's metrics by role, primary first; an unknown or repeated key is a
    ``ValidationFailed`` naming its field (``primary_metric``, ``secondary_metrics``...)."""
    roles = [(primary, MetricRole.PRIMARY, "primary_metric")]
    roles += [(k, MetricRole.SECONDARY, "secondary_metrics") for k in secondary]
    roles += [(k, MetricRole.GUARDRAIL, "guardrail_metrics") for k in guardrail]
    found = {
        m.key: m
        for m in Metric.objects.filter(workspace=workspace, key__in=[k for k, _, _ in roles])
    }
    resolved: list[tuple[Metric, str]] = []
    seen: set[str] = set()
    for key, role, field_name in roles:
        if key not in found:
            raise ValidationFailed(UNKNOWN_METRIC.format(key=key), field=field_name)
        if key in seen:
            raise ValidationFailed(METRIC_IN_TWO_ROLES.format(key=key), field=field_name)
        seen.add(key)
        resolved.append((found[key], role))
    return resolved


def _resolve_metrics(*, workspace: Workspace, design: ExperimentDesign) -> list[tuple[Metric, str]]:
    return metrics_resolve(
        workspace=workspace,
        primary=design.primary_metric,
        secondary=design.secondary_metrics,
        guardrail=design.guardrail_metrics,
    )


def _key_result_ids(ids: Sequence[int]) -> tuple[int, ...]:
    """The ids as the design keeps them: each once, in ascending order."""
    return tuple(sorted(set(ids)))


def _resolve_key_results(*, workspace: Workspace, design: ExperimentDesign) -> list[KeyResult]:
    resolved = []
    for key_result_id in _key_result_ids(design.key_results):
        try:
            resolved.append(key_result_get(workspace=workspace, key_result_id=key_result_id))
        except NotFound:
            raise ValidationFailed(
                UNKNOWN_KEY_RESULT.format(id=key_result_id), field="key_results"
            ) from None
    return resolved


def _check_source(*, workspace: Workspace, design: ExperimentDesign) -> None:
    """A bound source must be the workspace's own and have an exposure table."""
    if design.source is None:
        return
    try:
        source = source_get(workspace=workspace, source_id=design.source)
    except NotFound:
        raise ValidationFailed(UNKNOWN_SOURCE.format(id=design.source), field="source") from None
    if not source.exposures_table:
        raise ValidationFailed(NO_EXPOSURE_TABLE.format(name=source.name), field="source")


def _validate(*, workspace: Workspace, design: ExperimentDesign) -> list[tuple[Metric, str]]:
    _validate_lengths(design)
    _check_source(workspace=workspace, design=design)
    _validate_variants(design.variants)
    if not (0 <= design.coverage <= 1):
        raise ValidationFailed(BAD_COVERAGE, field="coverage")
    if not (0 < design.alpha < 0.5):
        raise ValidationFailed(BAD_ALPHA, field="alpha")
    problem = condition_problem(dict(design.targeting)) if design.targeting else None
    if problem is not None:
        raise ValidationFailed(BAD_TARGETING.format(problem=problem), field="targeting")
    return _resolve_metrics(workspace=workspace, design=design)


def _write_children(
    *, experiment: Experiment, design: ExperimentDesign, metrics: list[tuple[Metric, str]]
) -> None:
    experiment.variants.all().delete()
    Variant.objects.bulk_create(
        Variant(
            experiment=experiment,
            key=v.key,
            name=v.name or v.key.replace("-", " ").title(),
            weight=v.weight,
            is_control=v.is_control,
            position=i,
        )
        for i, v in enumerate(design.variants)
    )
    experiment.metric_links.all().delete()
    ExperimentMetric.objects.bulk_create(
        ExperimentMetric(experiment=experiment, metric=m, role=role, position=i)
        for i, (m, role) in enumerate(metrics)
    )


def design_of(experiment: Experiment) -> ExperimentDesign:
    """Return the current design of ``experiment``."""
    links = list(experiment.metric_links.select_related("metric"))
    by_role = {r: [link.metric.key for link in links if link.role == r] for r in MetricRole.values}
    return ExperimentDesign(
        **{
            name: getattr(experiment, name)
            for name in _SCALAR_FIELDS
            if name not in {"targeting", "segments"}
        },
        targeting=experiment.targeting,
        segments=tuple(experiment.segments),
        variants=tuple(
            VariantSpec(key=v.key, weight=v.weight, name=v.name, is_control=v.is_control)
            for v in experiment.variants.all()
        ),
        primary_metric=by_role[MetricRole.PRIMARY][0] if by_role[MetricRole.PRIMARY] else "",
        secondary_metrics=tuple(by_role[MetricRole.SECONDARY]),
        guardrail_metrics=tuple(by_role[MetricRole.GUARDRAIL]),
        key_results=_key_result_ids(experiment.key_results.values_list("pk", flat=True)),
        source=experiment.source_id,
        decision_rule=_decision_rule_of(experiment),
    )


def _decision_rule_of(experiment: Experiment) -> DecisionRule:
    record = plan_record(experiment)
    return DecisionRule.from_json(record.decision_rule) if record is not None else DecisionRule()


def _as_json(design: ExperimentDesign) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(design):
        value = getattr(design, f.name)
        if f.name == "variants":
            value = [vars(v) for v in value]
        elif f.name == "decision_rule":
            value = value.to_json()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


@transaction.atomic
def experiment_create(
    *,
    workspace: Workspace,
    design: ExperimentDesign,
    actor: AbstractBaseUser | None,
    template: ExperimentTemplate | None = None,
) -> Experiment:
    """Create a draft experiment from ``design`` (made from ``template``, if given: see
    ``experiments.services.templates``); nothing is written if any rule fails."""
    design = replace(design, key_results=_key_result_ids(design.key_results))
    metrics = _validate(workspace=workspace, design=design)
    key_results = _resolve_key_results(workspace=workspace, design=design)
    if Experiment.objects.filter(workspace=workspace, key=design.key).exists():
        raise ValidationFailed(KEY_TAKEN.format(key=design.key), field="key")
    experiment = Experiment(
        workspace=workspace,
        owner=actor if actor is not None and actor.is_authenticated else None,
        **{name: getattr(design, name) for name in _SCALAR_FIELDS},
    )
    experiment.targeting = dict(design.targeting)
    experiment.segments = list(design.segments)
    experiment.source_id = design.source
    experiment.full_clean()
    experiment.save()
    _write_children(experiment=experiment, design=design, metrics=metrics)
    experiment.key_results.set(key_results)
    plan_record_create(experiment=experiment, rule=design.decision_rule, template=template)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="experiment.create",
        obj=experiment,
        changes=_as_json(design) | ({"template": template.key} if template is not None else {}),
    )
    return experiment


def phase_snapshot(experiment: Experiment) -> dict[str, Any]:
    design = design_of(experiment)
    return {
        "coverage": design.coverage,
        "weights": {v.key: v.weight for v in design.variants},
        "metric_keys": {
            "primary": [design.primary_metric],
            "secondary": list(design.secondary_metrics),
            "guardrail": list(design.guardrail_metrics),
        },
    }


def phase_start(*, experiment: Experiment, reason: str) -> Phase:
    """End the current phase (if any) and start the next one with the current design."""
    now = timezone.now()
    current = experiment.phases.filter(ended_at__isnull=True).first()
    if current is not None:
        current.ended_at = now
        current.save(update_fields=["ended_at"])
    number = (
        experiment.phases.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    return Phase.objects.create(
        experiment=experiment,
        number=number,
        started_at=now,
        reason=reason,
        **phase_snapshot(experiment),
    )


@transaction.atomic
def experiment_update(
    *,
    experiment: Experiment,
    changes: Mapping[str, Any],
    actor: AbstractBaseUser | None,
    phase_reason: str = "",
    reason: str = "",
) -> Experiment:
    """Apply ``changes`` (design field → new value) to ``experiment``.

    On a running experiment, a change to variants, weights, coverage or metrics needs a
    ``phase_reason`` and starts a new phase, so no analysis mixes two designs. Once the plan is
    frozen (the experiment has started), a change to a planned field needs a ``reason`` and is
    recorded as an amendment (``experiments.services.plans``). One reason serves as both.
    """
    # Reload the caller's instance under the row lock, so it never goes stale (see lifecycle).
    experiment.refresh_from_db(from_queryset=Experiment.objects.select_for_update())
    if experiment.status in (ExperimentStatus.CONCLUDED, ExperimentStatus.ARCHIVED):
        raise Conflict(NOT_EDITABLE.format(status=experiment.status), field="status")
    before = design_of(experiment)
    if "key_results" in changes:
        changes = {**changes, "key_results": _key_result_ids(changes["key_results"])}
    after = replace(before, **changes)
    changed = {k for k in changes if getattr(before, k) != getattr(after, k)}
    if not changed:
        return experiment
    if "key" in changed:
        raise ValidationFailed("An experiment's key cannot change.", field="key")
    reason, phase_reason = (reason or phase_reason).strip(), (phase_reason or reason).strip()
    amended = amendment_reason_check(experiment=experiment, changed=changed, reason=reason)
    phase_changes = sorted(changed & set(PHASE_FIELDS))
    running = experiment.status == ExperimentStatus.RUNNING
    if running and phase_changes and not phase_reason.strip():
        raise Conflict(
            NEEDS_PHASE_REASON.format(what=", ".join(phase_changes)), field="phase_reason"
        )
    _check_length(phase_reason.strip(), MAX_PHASE_REASON_LENGTH, "phase_reason")
    metrics = _validate(workspace=experiment.workspace, design=after)
    key_results = _resolve_key_results(workspace=experiment.workspace, design=after)
    for name in _SCALAR_FIELDS:
        setattr(experiment, name, getattr(after, name))
    experiment.targeting = dict(after.targeting)
    experiment.segments = list(after.segments)
    experiment.source_id = after.source
    experiment.full_clean()
    experiment.save()
    _write_children(experiment=experiment, design=after, metrics=metrics)
    if "key_results" in changed:
        experiment.key_results.set(key_results)
    if "decision_rule" in changed:
        plan_rule_set(experiment=experiment, rule=after.decision_rule)
    if running and phase_changes:
        phase_start(experiment=experiment, reason=phase_reason.strip())
    before_json, after_json = _as_json(before), _as_json(after)
    audit_record(
        workspace=experiment.workspace,
        actor=actor,
        action="experiment.update",
        obj=experiment,
        changes={k: {"from": before_json[k], "to": after_json[k]} for k in sorted(changed)}
        | ({"phase_reason": phase_reason} if running and phase_changes else {}),
    )
    if amended:
        amendment_record(
            experiment=experiment,
            amended=amended,
            before=before_json,
            after=after_json,
            reason=reason,
            actor=actor,
        )
    return experiment
