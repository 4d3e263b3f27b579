"""Check-ins: the computed ones (the baseline at the period's start, then one value per day from
the metric) and the manual ones people add with a confidence and a comment.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from outcomes.okrs.models import BaselineChange, CheckIn, KeyResult, ValueSource
from outcomes.okrs.progress import end_of_day, key_result_measure, period_start_instant
from outcomes.okrs.services.key_results import period_has_started
from outcomes.okrs.services.lookups import acting_user, finite_number
from plg_platform.clock import local_today
from plg_platform.errors import ValidationFailed
from plg_platform.services.audit import audit_record

CONFIDENCE_RANGE = "Confidence is a whole number from 1 (no chance) to 10 (certain)."
CHECK_IN_IN_FUTURE = "A check-in cannot be dated after today ({today})."
ONLY_MANUAL_CHECK_INS = "Computed check-ins are the metric's history and cannot be deleted."


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
    if key_result.baseline is not None or not period_has_started(key_result.objective, now):
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
        value=finite_number(value, "value") if value is not None else None,
        confidence=confidence,
        comment=(comment or "").strip(),
        created_by=acting_user(actor),
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
