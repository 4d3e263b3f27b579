"""Creating, changing and deleting metric definitions.

Validation happens in ``metrics.engine.definition`` before anything is written, so a rejected
definition leaves no trace; every change writes an audit record in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, models, transaction

from metrics.engine.definition import (
    SPEC_FIELDS,
    EventFilter,
    FunnelStep,
    MetricDefinition,
    MetricDefinitionError,
    parse_definition,
)
from metrics.models import Direction, Metric, MetricKind, UnitOfAnalysis
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

KEY_TAKEN = "A metric with key {key!r} already exists in this workspace."
ACCOUNT_NEEDS_PROPERTY = "Account-level metrics need the unit property holding the account id."
BAD_CHOICE = "Expected one of: {choices}."

# Definition fields stored as they are on the model (the rest are JSON or renamed).
_DEFINITION_FIELDS = tuple(
    name
    for name in SPEC_FIELDS
    if name not in ("filters", "denominator_filters", "property", "tags", "steps")
)


# Who makes a change: a user, an anonymous request, or nobody (a command or a task).
Actor = AbstractBaseUser | AnonymousUser | None


def _choice(value: Any, name: str, choices: type[models.TextChoices]) -> str:
    if value not in choices.values:
        raise ValidationFailed(BAD_CHOICE.format(choices=", ".join(choices.values)), field=name)
    return value


def _signed_in(actor: Actor) -> Any:
    """Return the signed-in user behind ``actor``, or None (anonymous, or no user at all)."""
    return actor if actor is not None and actor.is_authenticated else None


def _filters_json(filters: tuple[EventFilter, ...]) -> list[dict[str, Any]]:
    return [
        {"property": f.property, "op": f.op, "value": list(f.value) if f.op == "in" else f.value}
        for f in filters
    ]


def _steps_json(steps: tuple[FunnelStep, ...]) -> list[dict[str, Any]]:
    return [
        {
            "event": s.event,
            "filters": _filters_json(s.filters),
            **({"name": s.name} if s.name else {}),
        }
        for s in steps
    ]


def _validated(spec: Mapping[str, Any]) -> MetricDefinition:
    try:
        return parse_definition(spec)
    except MetricDefinitionError as error:
        raise ValidationFailed(error.message, field=error.field) from error


@transaction.atomic
def metric_create(
    *,
    workspace: Workspace,
    key: str,
    name: str,
    spec: Mapping[str, Any],
    description: str = "",
    kind: str = MetricKind.VALUE_CREATION,
    direction: str = Direction.INCREASE,
    unit: str = UnitOfAnalysis.USER,
    actor: Actor = None,
) -> Metric:
    """Create a metric from a type-specific ``spec`` (see ``parse_definition``); validate first."""
    definition = _validated({**spec, "key": key})
    _choice(kind, "kind", MetricKind)
    _choice(direction, "direction", Direction)
    _choice(unit, "unit", UnitOfAnalysis)
    if unit == UnitOfAnalysis.ACCOUNT and not definition.unit_property:
        raise ValidationFailed(ACCOUNT_NEEDS_PROPERTY, field="unit_property")
    if Metric.objects.filter(workspace=workspace, key=key).exists():
        raise ValidationFailed(KEY_TAKEN.format(key=key), field="key")
    metric = Metric(
        workspace=workspace,
        key=key,
        name=name,
        description=description,
        type=definition.type,
        kind=kind,
        direction=direction,
        unit=unit,
        tags=list(definition.tags),
        filters=_filters_json(definition.filters),
        denominator_filters=_filters_json(definition.denominator_filters),
        steps=_steps_json(definition.steps),
        property=definition.property_name,
        created_by=_signed_in(actor),
        **{name_: getattr(definition, name_) for name_ in _DEFINITION_FIELDS},
    )
    metric.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            metric.save()
    except IntegrityError as error:  # a concurrent create of the same key
        raise ValidationFailed(KEY_TAKEN.format(key=key), field="key") from error
    audit_record(
        workspace=workspace,
        actor=actor,
        action="metric.create",
        obj=metric,
        changes={"definition": metric_spec(metric)},
    )
    return metric


def metric_spec(metric: Metric) -> dict[str, Any]:
    """Return the type-specific fields of a stored metric, as ``metric_create`` takes them."""
    spec: dict[str, Any] = {"type": metric.type, "tags": list(metric.tags)}
    for name in (*_DEFINITION_FIELDS, "property", "filters", "denominator_filters", "steps"):
        value = getattr(metric, name)
        if value not in (None, "", [], "none"):
            spec[name] = value
    return spec


def metric_definition(metric: Metric) -> MetricDefinition:
    """Return the compiler's view of a stored metric."""
    return parse_definition({**metric_spec(metric), "key": metric.key})


@transaction.atomic
def metric_delete(*, metric: Metric, actor: Actor = None) -> None:
    """Delete a metric that no experiment or key result uses (PROTECT refuses otherwise)."""
    audit_record(
        workspace=metric.workspace,
        actor=actor,
        action="metric.delete",
        obj=metric,
        changes={"definition": metric_spec(metric)},
    )
    metric.delete()
