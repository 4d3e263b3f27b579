"""Experiment templates: a team's reusable plan (metrics, smallest change worth detecting,
minimum runtime, planned units, statistics settings, decision rule) and experiments created
from one.

Creating an experiment from a template copies the template's values into the design; any value
the request gives itself wins. The experiment's plan remembers the template (and the frozen plan
its key); later changes of the template change no experiment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from experiments.decision_rules import DecisionRule
from experiments.models import (
    Correction,
    Engine,
    Experiment,
    ExperimentTemplate,
    ExperimentTemplateMetric,
    MetricRole,
)
from experiments.services.design import (
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    TOO_LONG,
    ExperimentDesign,
    experiment_create,
    metrics_resolve,
)
from metrics.public import Metric
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

KEY_TAKEN = "A template with key {key!r} already exists in this workspace."
BAD_KEY = "Use lower-case letters, digits and hyphens, e.g. activation-test."
BAD_ALPHA = "Alpha must be between 0 and 0.5."
BAD_MDE = "The smallest change worth detecting is relative and above 0 (0.05 for 5%), at most 10."
BAD_DAYS = "The minimum runtime is a whole number of days from 1 to {max:,}."
BAD_UNITS = "Planned units per variant is a whole number from 1 to {max:,}."
BAD_TUNING = "The sequential tuning (expected units) is a whole number of at least 100."
BAD_CHOICE = "Must be one of: {choices}."
MAX_DESCRIPTION_LENGTH = 2000
MAX_RUNTIME_DAYS = 3650
MAX_UNITS_PER_VARIANT = 1_000_000_000
MAX_MDE = 10.0
MIN_SEQUENTIAL_TUNING = 100


@dataclass(frozen=True)
class TemplateSpec:
    """Everything a template fixes."""

    key: str
    name: str
    primary_metric: str
    description: str = ""
    secondary_metrics: tuple[str, ...] = ()
    guardrail_metrics: tuple[str, ...] = ()
    planned_mde: float | None = None
    min_runtime_days: int | None = None
    planned_units_per_variant: int | None = None
    engine: str = Engine.FREQUENTIST
    sequential: bool = False
    sequential_tuning: int = 5000
    alpha: float = 0.05
    cuped: bool = True
    correction: str = Correction.HOLM
    decision_rule: DecisionRule = DecisionRule()


_SCALARS = tuple(
    f.name
    for f in fields(TemplateSpec)
    if f.name not in {"primary_metric", "secondary_metrics", "guardrail_metrics", "decision_rule"}
)


def template_spec_of(template: ExperimentTemplate) -> TemplateSpec:
    links = list(template.metric_links.select_related("metric"))
    by_role = {r: [link.metric.key for link in links if link.role == r] for r in MetricRole.values}
    primary = by_role[MetricRole.PRIMARY]
    return TemplateSpec(
        **{name: getattr(template, name) for name in _SCALARS},
        primary_metric=primary[0] if primary else "",
        secondary_metrics=tuple(by_role[MetricRole.SECONDARY]),
        guardrail_metrics=tuple(by_role[MetricRole.GUARDRAIL]),
        decision_rule=DecisionRule.from_json(template.decision_rule),
    )


def _spec_json(spec: TemplateSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, DecisionRule):
            value = value.to_json()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _validate(*, workspace: Workspace, spec: TemplateSpec) -> list[tuple[Metric, str]]:
    try:
        validate_slug(spec.key)
    except ValidationError:
        raise ValidationFailed(BAD_KEY, field="key") from None
    for name, limit in (
        ("key", MAX_KEY_LENGTH),
        ("name", MAX_NAME_LENGTH),
        ("description", MAX_DESCRIPTION_LENGTH),
    ):
        text = getattr(spec, name)
        if len(text) > limit:
            raise ValidationFailed(TOO_LONG.format(max=limit, length=len(text)), field=name)
    if not spec.name.strip():
        raise ValidationFailed("A template needs a name.", field="name")
    if spec.engine not in Engine.values:
        raise ValidationFailed(BAD_CHOICE.format(choices=", ".join(Engine.values)), field="engine")
    if spec.correction not in Correction.values:
        choices = ", ".join(Correction.values)
        raise ValidationFailed(BAD_CHOICE.format(choices=choices), field="correction")
    if not (0 < spec.alpha < 0.5) or not math.isfinite(spec.alpha):
        raise ValidationFailed(BAD_ALPHA, field="alpha")
    if spec.planned_mde is not None and not (
        math.isfinite(spec.planned_mde) and 0 < spec.planned_mde <= MAX_MDE
    ):
        raise ValidationFailed(BAD_MDE, field="planned_mde")
    if spec.min_runtime_days is not None and not _whole(spec.min_runtime_days, 1, MAX_RUNTIME_DAYS):
        raise ValidationFailed(BAD_DAYS.format(max=MAX_RUNTIME_DAYS), field="min_runtime_days")
    if spec.planned_units_per_variant is not None and not _whole(
        spec.planned_units_per_variant, 1, MAX_UNITS_PER_VARIANT
    ):
        message = BAD_UNITS.format(max=MAX_UNITS_PER_VARIANT)
        raise ValidationFailed(message, field="planned_units_per_variant")
    if not _whole(spec.sequential_tuning, MIN_SEQUENTIAL_TUNING, 10**12):
        raise ValidationFailed(BAD_TUNING, field="sequential_tuning")
    return metrics_resolve(
        workspace=workspace,
        primary=spec.primary_metric,
        secondary=spec.secondary_metrics,
        guardrail=spec.guardrail_metrics,
    )


def _write(
    template: ExperimentTemplate, spec: TemplateSpec, metrics: list[tuple[Metric, str]]
) -> None:
    for name in _SCALARS:
        setattr(template, name, getattr(spec, name))
    template.decision_rule = spec.decision_rule.to_json()
    template.full_clean()
    template.save()
    template.metric_links.all().delete()
    ExperimentTemplateMetric.objects.bulk_create(
        ExperimentTemplateMetric(template=template, metric=metric, role=role, position=i)
        for i, (metric, role) in enumerate(metrics)
    )


@transaction.atomic
def template_create(
    *, workspace: Workspace, spec: TemplateSpec, actor: AbstractBaseUser | None
) -> ExperimentTemplate:
    """Create a template; nothing is written if any rule fails."""
    metrics = _validate(workspace=workspace, spec=spec)
    if ExperimentTemplate.objects.filter(workspace=workspace, key=spec.key).exists():
        raise ValidationFailed(KEY_TAKEN.format(key=spec.key), field="key")
    template = ExperimentTemplate(workspace=workspace)
    _write(template, spec, metrics)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="experiment_template.create",
        obj=template,
        changes=_spec_json(spec),
    )
    return template


@transaction.atomic
def template_update(
    *,
    template: ExperimentTemplate,
    changes: Mapping[str, Any],
    actor: AbstractBaseUser | None,
) -> ExperimentTemplate:
    """Apply ``changes`` (spec field → new value). Experiments made from it keep their values."""
    template = ExperimentTemplate.objects.select_for_update().get(pk=template.pk)
    before = template_spec_of(template)
    after = replace(before, **changes)
    if after.key != before.key:
        raise ValidationFailed("A template's key cannot change.", field="key")
    changed = sorted(k for k in changes if getattr(before, k) != getattr(after, k))
    if not changed:
        return template
    metrics = _validate(workspace=template.workspace, spec=after)
    _write(template, after, metrics)
    before_json, after_json = _spec_json(before), _spec_json(after)
    audit_record(
        workspace=template.workspace,
        actor=actor,
        action="experiment_template.update",
        obj=template,
        changes={k: {"from": before_json[k], "to": after_json[k]} for k in changed},
    )
    return template


@transaction.atomic
def template_delete(*, template: ExperimentTemplate, actor: AbstractBaseUser | None) -> None:
    """Delete a template; experiments made from it keep their plans (and its key in them)."""
    audit_record(
        workspace=template.workspace,
        actor=actor,
        action="experiment_template.delete",
        obj=template,
        changes=_spec_json(template_spec_of(template)),
    )
    template.delete()


def template_design_values(template: ExperimentTemplate) -> dict[str, Any]:
    """The ``ExperimentDesign`` fields a template sets, for an experiment created from it."""
    spec = template_spec_of(template)
    return {
        "primary_metric": spec.primary_metric,
        "secondary_metrics": spec.secondary_metrics,
        "guardrail_metrics": spec.guardrail_metrics,
        "planned_mde": spec.planned_mde,
        "planned_duration_days": spec.min_runtime_days,
        "planned_sample_size_per_variant": spec.planned_units_per_variant,
        "engine": spec.engine,
        "sequential": spec.sequential,
        "sequential_tuning": spec.sequential_tuning,
        "alpha": spec.alpha,
        "cuped": spec.cuped,
        "correction": spec.correction,
        "decision_rule": spec.decision_rule,
    }


@transaction.atomic
def experiment_create_from_template(
    *,
    workspace: Workspace,
    template: ExperimentTemplate,
    design: Mapping[str, Any],
    actor: AbstractBaseUser | None,
) -> Experiment:
    """Create a draft experiment with the template's plan; ``design`` gives the rest (key,
    name, hypothesis, variants...) and overrides any planned value it names."""
    if template.workspace_id != workspace.pk:
        raise ValidationFailed("No such template in this workspace.", field="template")
    values = {**template_design_values(template), **design}
    return experiment_create(
        workspace=workspace, design=ExperimentDesign(**values), actor=actor, template=template
    )
