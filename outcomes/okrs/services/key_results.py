"""Key results: bound to a metric (an outcome, not an output), with a target and a baseline
whose every change is kept with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from metrics.public import PROPERTY_NAME, Direction
from outcomes.okrs.models import BaselineChange, KeyResult, Objective, ValueSource
from outcomes.okrs.progress import key_result_measure, period_start_instant, target_direction_error
from outcomes.okrs.services.lookups import (
    UNKNOWN_FIELD,
    acting_user,
    clean_title,
    finite_number,
    key_result_metric,
)
from plg_platform.clock import local_today
from plg_platform.errors import ValidationFailed
from plg_platform.services.audit import audit_record
from plg_platform.services.queue import task_enqueue_on_commit

# The name ``outcomes/okrs/tasks.py`` registers the computed check-in task under.
CHECK_IN_TASK = "outcomes.tasks.compute_key_result_check_in"

SEGMENT_INCOMPLETE = "Give both the segment property and its value, or neither."
BAD_PROPERTY = "Property names use letters, digits, '_', '-' or '$' (at most 100 characters)."
BAD_COHORT_DAYS = "Give a whole number of days from 1 to 365."
BAD_DIRECTION = "Expected one of: increase, decrease."
REASON_REQUIRED = (
    "Say why the baseline changes: a baseline is computed at the period's start, so an edit "
    "needs a reason (kept in the history)."
)
MAX_COHORT_DAYS = 365


# --- key results --------------------------------------------------------------------------
def _segment(prop: str, value: str) -> tuple[str, str]:
    prop, value = (prop or "").strip(), (value or "").strip()
    if bool(prop) != bool(value):
        raise ValidationFailed(
            SEGMENT_INCOMPLETE, field="segment_value" if prop else "segment_property"
        )
    if prop and not PROPERTY_NAME.match(prop):
        raise ValidationFailed(BAD_PROPERTY, field="segment_property")
    return prop, value


def _direction(value: Any) -> str:
    if value not in Direction.values:
        raise ValidationFailed(BAD_DIRECTION, field="direction")
    return value


def _check_target(key_result: KeyResult) -> None:
    if key_result.baseline is None:
        return
    error = target_direction_error(
        direction=key_result.direction, baseline=key_result.baseline, target=key_result.target
    )
    if error:
        raise ValidationFailed(error, field="target")


def period_has_started(objective: Objective, now: datetime) -> bool:
    return local_today(objective.workspace, now) >= objective.period_start


@transaction.atomic
def key_result_create(
    *,
    objective: Objective,
    title: str,
    metric_key: str | None,
    target: Any,
    direction: str | None = None,
    segment_property: str = "",
    segment_value: str = "",
    start_event: str = "",
    cohort_days: int = 28,
    baseline: Any = None,
    baseline_reason: str = "",
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> KeyResult:
    """Create a key result on a metric; compute its baseline if the period has started.

    A baseline given by hand needs a reason (it replaces the computed one in the history).
    """
    now = now or timezone.now()
    workspace = objective.workspace
    title = clean_title(title)
    metric = key_result_metric(workspace, metric_key, title)
    prop, value = _segment(segment_property, segment_value)
    if (
        isinstance(cohort_days, bool)
        or not isinstance(cohort_days, int)
        or not (1 <= cohort_days <= MAX_COHORT_DAYS)
    ):
        raise ValidationFailed(BAD_COHORT_DAYS, field="cohort_days")
    key_result = KeyResult(
        workspace=workspace,
        objective=objective,
        title=title,
        metric=metric,
        segment_property=prop,
        segment_value=value,
        start_event=(start_event or "").strip(),
        cohort_days=cohort_days,
        direction=_direction(direction or metric.direction),
        target=finite_number(target, "target"),
        created_by=acting_user(actor),
    )
    change: BaselineChange | None = None
    if baseline is not None:
        if not (baseline_reason or "").strip():
            raise ValidationFailed(REASON_REQUIRED, field="baseline_reason")
        key_result.baseline = finite_number(baseline, "baseline")
        key_result.baseline_computed_at = None
        change = BaselineChange(
            baseline=key_result.baseline, source=ValueSource.MANUAL, reason=baseline_reason.strip()
        )
    elif period_has_started(objective, now):
        measured = key_result_measure(
            key_result=key_result,
            as_of=period_start_instant(objective, workspace.timezone),
        )
        if measured.value is not None:
            key_result.baseline = measured.value
            key_result.baseline_units = measured.units
            key_result.baseline_computed_at = now
            change = BaselineChange(baseline=measured.value, source=ValueSource.COMPUTED)
    _check_target(key_result)
    key_result.full_clean()
    key_result.save()
    if change is not None:
        change.key_result = key_result
        change.changed_by = acting_user(actor)
        change.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="key_result.create",
        obj=key_result,
        changes={
            "title": title,
            "metric": metric.key,
            "target": key_result.target,
            "baseline": key_result.baseline,
        },
    )
    return key_result


KEY_RESULT_FIELDS = ("title", "target", "direction")


@transaction.atomic
def key_result_update(
    *, key_result: KeyResult, changes: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> KeyResult:
    """Change the title, target or direction. The metric, segment and cohort define what is
    measured: changing them would break the check-in series, so create a new key result."""
    for name in changes:
        if name not in KEY_RESULT_FIELDS:
            raise ValidationFailed(UNKNOWN_FIELD, field=name)
    before = {name: getattr(key_result, name) for name in changes}
    if "title" in changes:
        key_result.title = clean_title(changes["title"])
    if "target" in changes:
        key_result.target = finite_number(changes["target"], "target")
    if "direction" in changes:
        key_result.direction = _direction(changes["direction"])
    _check_target(key_result)
    key_result.full_clean()
    key_result.save()
    audit_record(
        workspace=key_result.workspace,
        actor=actor,
        action="key_result.update",
        obj=key_result,
        changes={name: {"from": before[name], "to": getattr(key_result, name)} for name in changes},
    )
    return key_result


@transaction.atomic
def key_result_set_baseline(
    *,
    key_result: KeyResult,
    baseline: Any,
    reason: str,
    actor: AbstractBaseUser | None = None,
) -> KeyResult:
    """Replace the baseline by hand, with a reason; the history keeps every value."""
    if not (reason or "").strip():
        raise ValidationFailed(REASON_REQUIRED, field="reason")
    previous = key_result.baseline
    key_result.baseline = finite_number(baseline, "baseline")
    _check_target(key_result)
    key_result.full_clean()
    key_result.save(update_fields=["baseline", "updated_at"])
    BaselineChange.objects.create(
        key_result=key_result,
        previous=previous,
        baseline=key_result.baseline,
        source=ValueSource.MANUAL,
        reason=reason.strip(),
        changed_by=acting_user(actor),
    )
    audit_record(
        workspace=key_result.workspace,
        actor=actor,
        action="key_result.baseline",
        obj=key_result,
        changes={"from": previous, "to": key_result.baseline, "reason": reason.strip()},
    )
    return key_result


@transaction.atomic
def key_result_delete(*, key_result: KeyResult, actor: AbstractBaseUser | None = None) -> None:
    audit_record(
        workspace=key_result.workspace,
        actor=actor,
        action="key_result.delete",
        obj=key_result,
        changes={"title": key_result.title, "metric": key_result.metric.key},
    )
    key_result.delete()


def key_result_measure_request(*, key_result: KeyResult) -> None:
    """Queue today's computed check-in of ``key_result`` (the scheduled task's work, on
    demand) once the current transaction commits."""
    task_enqueue_on_commit(CHECK_IN_TASK, args=[key_result.pk])
