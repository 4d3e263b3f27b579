"""Objectives, key results, baselines, check-ins and initiatives: every write, validated first,
atomic, audited.

Outcomes, not outputs: a key result is bound to a metric. A deliverable ("Ship offline mode")
is an initiative (or an experiment) linked to the key result it is meant to move.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from outcomes.metrics.definition import PROPERTY_NAME
from outcomes.models import (
    BaselineChange,
    CheckIn,
    Direction,
    Initiative,
    InitiativeStatus,
    KeyResult,
    Metric,
    Objective,
    PeriodKind,
    ValueSource,
)
from outcomes.services.key_result_values import (
    end_of_day,
    key_result_measure,
    period_start_instant,
    target_direction_error,
)
from outcomes.services.kpis import local_today
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import Membership, Workspace
from plg_platform.services.audit import audit_record

OUTPUT_NOT_KEY_RESULT = (
    "A key result must be bound to a metric: it measures an outcome (what users do), not an "
    "output. {title!r} reads like a deliverable: record it as an initiative (or an "
    "experiment) linked to the key result it should move, e.g. 7-day retention of new teams."
)
METRIC_NOT_FOUND = "No metric {key!r} in this workspace."
OBJECTIVE_NOT_FOUND = "No objective {id} in this workspace."
KEY_RESULT_NOT_FOUND = "No key result {id} in this workspace."
OWNER_NOT_MEMBER = "The owner must be a member of this workspace."
TITLE_REQUIRED = "Give a title."
PERIOD_REVERSED = "The period ends ({end}) before it starts ({start})."
PERIOD_REQUIRED = "Give a quarter (YYYY-Qn) or both period_start and period_end."
PERIOD_BOTH = "Give either a quarter or custom dates, not both."
BAD_QUARTER = "A quarter is written YYYY-Qn, for example 2026-Q3."
PERIOD_TOO_LONG = "A period lasts at most {days} days."
PARENT_CYCLE = "An objective cannot be aligned under itself or one of its sub-objectives."
SEGMENT_INCOMPLETE = "Give both the segment property and its value, or neither."
BAD_PROPERTY = "Property names use letters, digits, '_', '-' or '$' (at most 100 characters)."
BAD_COHORT_DAYS = "Give a whole number of days from 1 to 365."
BAD_NUMBER = "Give a finite number."
BAD_DIRECTION = "Expected one of: increase, decrease."
REASON_REQUIRED = (
    "Say why the baseline changes: a baseline is computed at the period's start, so an edit "
    "needs a reason (kept in the history)."
)
CONFIDENCE_RANGE = "Confidence is a whole number from 1 (no chance) to 10 (certain)."
CHECK_IN_IN_FUTURE = "A check-in cannot be dated after today ({today})."
ONLY_MANUAL_CHECK_INS = "Computed check-ins are the metric's history and cannot be deleted."
INITIATIVE_NEEDS_KEY_RESULT = (
    "Link the initiative to at least one key result: a deliverable is pursued to move an outcome."
)
BAD_STATUS = "Expected one of: {choices}."
UNKNOWN_FIELD = "This field cannot be changed."
MAX_PERIOD_DAYS = 731
MAX_COHORT_DAYS = 365
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


# --- periods ------------------------------------------------------------------------------
def quarter_period(quarter: str) -> tuple[date, date]:
    """Return the first and last day of quarter ``YYYY-Qn``."""
    match = _QUARTER.match(quarter or "")
    if not match:
        raise ValidationFailed(BAD_QUARTER, field="quarter")
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + (q == 4), (3 * q) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def _period(quarter: str, start: date | None, end: date | None) -> tuple[str, str, date, date]:
    """Return (kind, quarter, start, end) from a quarter or custom dates, validated."""
    if quarter and (start or end):
        raise ValidationFailed(PERIOD_BOTH, field="quarter")
    if quarter:
        first, last = quarter_period(quarter)
        return PeriodKind.QUARTER, quarter, first, last
    if start is None or end is None:
        raise ValidationFailed(
            PERIOD_REQUIRED, field="period_start" if start is None else "period_end"
        )
    if end < start:
        raise ValidationFailed(
            PERIOD_REVERSED.format(start=start.isoformat(), end=end.isoformat()), field="period_end"
        )
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed(PERIOD_TOO_LONG.format(days=MAX_PERIOD_DAYS), field="period_end")
    return PeriodKind.CUSTOM, "", start, end


# --- lookups within a workspace -----------------------------------------------------------
def _member(workspace: Workspace, user_id: int | None, field: str):
    if user_id is None:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(workspace=workspace, user_id=user_id)
        .first()
    )
    if membership is None:
        raise ValidationFailed(OWNER_NOT_MEMBER, field=field)
    return membership.user


def _objective(workspace: Workspace, objective_id: int | None, field: str) -> Objective | None:
    if objective_id is None:
        return None
    objective = Objective.objects.filter(workspace=workspace, pk=objective_id).first()
    if objective is None:
        raise NotFound(OBJECTIVE_NOT_FOUND.format(id=objective_id), field=field)
    return objective


def _metric(workspace: Workspace, key: str | None, title: str) -> Metric:
    if not key:
        raise ValidationFailed(OUTPUT_NOT_KEY_RESULT.format(title=title), field="metric")
    metric = Metric.objects.filter(workspace=workspace, key=key).first()
    if metric is None:
        raise NotFound(METRIC_NOT_FOUND.format(key=key), field="metric")
    return metric


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(TITLE_REQUIRED, field="title")
    return value.strip()


def _finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed(BAD_NUMBER, field=field)
    return float(value)


def _actor(actor: AbstractBaseUser | None):
    return actor if actor is not None and actor.is_authenticated else None


# --- objectives ---------------------------------------------------------------------------
def _check_parent(objective: Objective | None, parent: Objective | None) -> None:
    """Refuse a parent that is the objective itself or one of its descendants."""
    if objective is None or objective.pk is None or parent is None:
        return
    node: Objective | None = parent
    seen = set()
    while node is not None and node.pk not in seen:
        if node.pk == objective.pk:
            raise ValidationFailed(PARENT_CYCLE, field="parent")
        seen.add(node.pk)
        node = node.parent


@transaction.atomic
def objective_create(
    *,
    workspace: Workspace,
    title: str,
    why_it_matters: str = "",
    owner_id: int | None = None,
    team: str = "",
    quarter: str = "",
    period_start: date | None = None,
    period_end: date | None = None,
    parent_id: int | None = None,
    actor: AbstractBaseUser | None = None,
) -> Objective:
    """Create an objective for a quarter (``YYYY-Qn``) or custom dates."""
    kind, quarter, start, end = _period(quarter, period_start, period_end)
    objective = Objective(
        workspace=workspace,
        title=_title(title),
        why_it_matters=why_it_matters,
        owner=_member(workspace, owner_id, "owner"),
        team=team.strip(),
        period_kind=kind,
        quarter=quarter,
        period_start=start,
        period_end=end,
        parent=_objective(workspace, parent_id, "parent"),
        created_by=_actor(actor),
    )
    objective.full_clean()
    objective.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="objective.create",
        obj=objective,
        changes={"title": objective.title, "period": [start.isoformat(), end.isoformat()]},
    )
    return objective


OBJECTIVE_FIELDS = (
    "title",
    "why_it_matters",
    "owner_id",
    "team",
    "quarter",
    "period_start",
    "period_end",
    "parent_id",
)


@transaction.atomic
def objective_update(
    *, objective: Objective, changes: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> Objective:
    """Change some fields of an objective; a new quarter or new dates replace the period."""
    for name in changes:
        if name not in OBJECTIVE_FIELDS:
            raise ValidationFailed(UNKNOWN_FIELD, field=name)
    workspace = objective.workspace
    before = {
        "title": objective.title,
        "period": [objective.period_start.isoformat(), objective.period_end.isoformat()],
    }
    if "title" in changes:
        objective.title = _title(changes["title"])
    if "why_it_matters" in changes:
        objective.why_it_matters = changes["why_it_matters"] or ""
    if "team" in changes:
        objective.team = (changes["team"] or "").strip()
    if "owner_id" in changes:
        objective.owner = _member(workspace, changes["owner_id"], "owner")
    if {"quarter", "period_start", "period_end"} & set(changes):
        quarter = changes.get("quarter", "")
        if quarter:
            start = end = None
        else:
            start = changes.get("period_start", objective.period_start)
            end = changes.get("period_end", objective.period_end)
        kind, quarter, start, end = _period(quarter, start, end)
        objective.period_kind, objective.quarter = kind, quarter
        objective.period_start, objective.period_end = start, end
    if "parent_id" in changes:
        parent = _objective(workspace, changes["parent_id"], "parent")
        _check_parent(objective, parent)
        objective.parent = parent
    objective.full_clean()
    objective.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="objective.update",
        obj=objective,
        changes={"before": before, "fields": sorted(changes)},
    )
    return objective


@transaction.atomic
def objective_delete(*, objective: Objective, actor: AbstractBaseUser | None = None) -> None:
    """Delete an objective with its key results and check-ins; sub-objectives lose their parent."""
    audit_record(
        workspace=objective.workspace,
        actor=actor,
        action="objective.delete",
        obj=objective,
        changes={"title": objective.title, "key_results": objective.key_results.count()},
    )
    objective.delete()


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


def _period_started(objective: Objective, now: datetime) -> bool:
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
    title = _title(title)
    metric = _metric(workspace, metric_key, title)
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
        target=_finite(target, "target"),
        created_by=_actor(actor),
    )
    change: BaselineChange | None = None
    if baseline is not None:
        if not (baseline_reason or "").strip():
            raise ValidationFailed(REASON_REQUIRED, field="baseline_reason")
        key_result.baseline = _finite(baseline, "baseline")
        key_result.baseline_computed_at = None
        change = BaselineChange(
            baseline=key_result.baseline, source=ValueSource.MANUAL, reason=baseline_reason.strip()
        )
    elif _period_started(objective, now):
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
        change.changed_by = _actor(actor)
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
        key_result.title = _title(changes["title"])
    if "target" in changes:
        key_result.target = _finite(changes["target"], "target")
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
    key_result.baseline = _finite(baseline, "baseline")
    _check_target(key_result)
    key_result.full_clean()
    key_result.save(update_fields=["baseline", "updated_at"])
    BaselineChange.objects.create(
        key_result=key_result,
        previous=previous,
        baseline=key_result.baseline,
        source=ValueSource.MANUAL,
        reason=reason.strip(),
        changed_by=_actor(actor),
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


# --- computed values: baseline at the period start, one check-in per day ------------------
@transaction.atomic
def key_result_baseline_compute(*, key_result: KeyResult, now: datetime | None = None) -> bool:
    """Compute a missing baseline once the period has started; return whether one was set.

    A baseline that equals the target is not stored (progress would be undefined); the key
    result keeps asking for one, and an editor can set it with a reason.
    """
    now = now or timezone.now()
    key_result = (
        KeyResult.objects.select_for_update()
        .select_related("objective", "workspace", "metric")
        .get(pk=key_result.pk)
    )
    if key_result.baseline is not None or not _period_started(key_result.objective, now):
        return False
    measured = key_result_measure(
        key_result=key_result,
        as_of=period_start_instant(key_result.objective, key_result.workspace.timezone),
    )
    if measured.value is None or measured.value == key_result.target:
        return False
    key_result.baseline = measured.value
    key_result.baseline_units = measured.units
    key_result.baseline_computed_at = now
    key_result.save(
        update_fields=["baseline", "baseline_units", "baseline_computed_at", "updated_at"]
    )
    BaselineChange.objects.create(
        key_result=key_result, baseline=measured.value, source=ValueSource.COMPUTED
    )
    return True


def check_in_date(key_result: KeyResult, now: datetime) -> date | None:
    """Return the day a computed check-in made at ``now`` is for: today, the period's last day
    once it has ended, or None before the period starts."""
    today = local_today(key_result.workspace, now)
    objective = key_result.objective
    if today < objective.period_start:
        return None
    return min(today, objective.period_end)


def key_result_check_in_compute(
    *, key_result: KeyResult, now: datetime | None = None
) -> CheckIn | None:
    """Compute today's value (the period's last day's, once it has ended) and store it as the
    day's computed check-in, replacing an earlier one of the same day. Idempotent."""
    now = now or timezone.now()
    day = check_in_date(key_result, now)
    if day is None:
        return None
    key_result_baseline_compute(key_result=key_result, now=now)
    as_of = min(now, end_of_day(day, key_result.workspace.timezone))
    measured = key_result_measure(key_result=key_result, as_of=as_of)
    with transaction.atomic():
        check_in, _ = CheckIn.objects.update_or_create(
            key_result=key_result,
            date=day,
            source=ValueSource.COMPUTED,
            defaults={"value": measured.value, "units": measured.units},
        )
    return check_in


# --- manual check-ins ---------------------------------------------------------------------
@transaction.atomic
def check_in_create(
    *,
    key_result: KeyResult,
    confidence: Any,
    comment: str = "",
    value: Any = None,
    day: date | None = None,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> CheckIn:
    """Record a person's check-in: their confidence (1–10), a comment, optionally a value."""
    now = now or timezone.now()
    today = local_today(key_result.workspace, now)
    day = day or today
    if day > today:
        raise ValidationFailed(CHECK_IN_IN_FUTURE.format(today=today.isoformat()), field="date")
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 1 <= confidence <= 10:
        raise ValidationFailed(CONFIDENCE_RANGE, field="confidence")
    check_in = CheckIn(
        key_result=key_result,
        date=day,
        source=ValueSource.MANUAL,
        value=_finite(value, "value") if value is not None else None,
        confidence=confidence,
        comment=(comment or "").strip(),
        created_by=_actor(actor),
    )
    check_in.full_clean(validate_constraints=False)
    check_in.save()
    audit_record(
        workspace=key_result.workspace,
        actor=actor,
        action="check_in.create",
        obj=check_in,
        changes={"key_result": key_result.pk, "confidence": confidence, "value": check_in.value},
    )
    return check_in


@transaction.atomic
def check_in_delete(*, check_in: CheckIn, actor: AbstractBaseUser | None = None) -> None:
    if check_in.source != ValueSource.MANUAL:
        raise ValidationFailed(ONLY_MANUAL_CHECK_INS, field="source")
    audit_record(
        workspace=check_in.key_result.workspace,
        actor=actor,
        action="check_in.delete",
        obj=check_in,
        changes={"key_result": check_in.key_result_id, "date": check_in.date.isoformat()},
    )
    check_in.delete()


# --- initiatives --------------------------------------------------------------------------
def _key_results(workspace: Workspace, ids: Sequence[int] | None) -> list[KeyResult]:
    if not ids:
        raise ValidationFailed(INITIATIVE_NEEDS_KEY_RESULT, field="key_results")
    found = {kr.pk: kr for kr in KeyResult.objects.filter(workspace=workspace, pk__in=list(ids))}
    for kr_id in ids:
        if kr_id not in found:
            raise NotFound(KEY_RESULT_NOT_FOUND.format(id=kr_id), field="key_results")
    return [found[kr_id] for kr_id in dict.fromkeys(ids)]


def _initiative_status(value: Any) -> str:
    if value not in InitiativeStatus.values:
        raise ValidationFailed(
            BAD_STATUS.format(choices=", ".join(InitiativeStatus.values)), field="status"
        )
    return value


@transaction.atomic
def initiative_create(
    *,
    workspace: Workspace,
    title: str,
    key_result_ids: Sequence[int],
    description: str = "",
    status: str = InitiativeStatus.PLANNED,
    owner_id: int | None = None,
    url: str = "",
    actor: AbstractBaseUser | None = None,
) -> Initiative:
    """Record a deliverable linked to the key results it should move."""
    key_results = _key_results(workspace, key_result_ids)
    initiative = Initiative(
        workspace=workspace,
        title=_title(title),
        description=description or "",
        status=_initiative_status(status),
        owner=_member(workspace, owner_id, "owner"),
        url=url or "",
        created_by=_actor(actor),
    )
    initiative.full_clean()
    initiative.save()
    initiative.key_results.set(key_results)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="initiative.create",
        obj=initiative,
        changes={"title": initiative.title, "key_results": [kr.pk for kr in key_results]},
    )
    return initiative


INITIATIVE_FIELDS = ("title", "description", "status", "owner_id", "url", "key_result_ids")


@transaction.atomic
def initiative_update(
    *, initiative: Initiative, changes: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> Initiative:
    for name in changes:
        if name not in INITIATIVE_FIELDS:
            raise ValidationFailed(UNKNOWN_FIELD, field=name)
    workspace = initiative.workspace
    key_results = (
        _key_results(workspace, changes["key_result_ids"]) if "key_result_ids" in changes else None
    )
    if "title" in changes:
        initiative.title = _title(changes["title"])
    if "description" in changes:
        initiative.description = changes["description"] or ""
    if "status" in changes:
        initiative.status = _initiative_status(changes["status"])
    if "owner_id" in changes:
        initiative.owner = _member(workspace, changes["owner_id"], "owner")
    if "url" in changes:
        initiative.url = changes["url"] or ""
    initiative.full_clean()
    initiative.save()
    if key_results is not None:
        initiative.key_results.set(key_results)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="initiative.update",
        obj=initiative,
        changes={"fields": sorted(changes)},
    )
    return initiative


@transaction.atomic
def initiative_delete(*, initiative: Initiative, actor: AbstractBaseUser | None = None) -> None:
    audit_record(
        workspace=initiative.workspace,
        actor=actor,
        action="initiative.delete",
        obj=initiative,
        changes={"title": initiative.title},
    )
    initiative.delete()
