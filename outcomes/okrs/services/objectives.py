"""Objectives: their period (a quarter or custom dates), alignment under a parent, and every
write, validated first, atomic, audited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from outcomes.okrs.models import Objective, PeriodKind
from outcomes.okrs.services.lookups import (
    UNKNOWN_FIELD,
    acting_user,
    clean_title,
    workspace_member,
    workspace_objective,
)
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

PERIOD_REVERSED = "The period ends ({end}) before it starts ({start})."
PERIOD_REQUIRED = "Give a quarter (YYYY-Qn) or both period_start and period_end."
PERIOD_BOTH = "Give either a quarter or custom dates, not both."
BAD_QUARTER = "A quarter is written YYYY-Qn, for example 2026-Q3."
PERIOD_TOO_LONG = "A period lasts at most {days} days."
PARENT_CYCLE = "An objective cannot be aligned under itself or one of its sub-objectives."
MAX_PERIOD_DAYS = 731
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
        title=clean_title(title),
        why_it_matters=why_it_matters,
        owner=workspace_member(workspace, owner_id, "owner"),
        team=team.strip(),
        period_kind=kind,
        quarter=quarter,
        period_start=start,
        period_end=end,
        parent=workspace_objective(workspace, parent_id, "parent"),
        created_by=acting_user(actor),
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
        objective.title = clean_title(changes["title"])
    if "why_it_matters" in changes:
        objective.why_it_matters = changes["why_it_matters"] or ""
    if "team" in changes:
        objective.team = (changes["team"] or "").strip()
    if "owner_id" in changes:
        objective.owner = workspace_member(workspace, changes["owner_id"], "owner")
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
        parent = workspace_objective(workspace, changes["parent_id"], "parent")
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
