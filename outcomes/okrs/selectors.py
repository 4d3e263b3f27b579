"""Reads of objectives and key results, scoped to one workspace: lists and lookups, a key
result's summary (progress and status) and detail, and the objective tree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import QuerySet

from outcomes.okrs.contracts import LinkedExperiment, linked_experiments_providers
from outcomes.okrs.models import (
    BaselineChange,
    CheckIn,
    Initiative,
    KeyResult,
    Objective,
    ValueSource,
)
from outcomes.okrs.progress import progress, status, time_elapsed
from plg_platform.clock import local_today
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

# --- objectives and key results -------------------------------------------------------------
OBJECTIVE_NOT_FOUND = "No objective {id} in this workspace."
KEY_RESULT_NOT_FOUND = "No key result {id} in this workspace."
CHECK_IN_NOT_FOUND = "No check-in {id} in this workspace."
INITIATIVE_NOT_FOUND = "No initiative {id} in this workspace."


def objectives_list(
    *, workspace: Workspace, on: date | None = None, team: str | None = None
) -> QuerySet[Objective]:
    """Return the workspace's objectives (those whose period holds ``on``, of ``team``)."""
    objectives = Objective.objects.filter(workspace=workspace)
    if on is not None:
        objectives = objectives.filter(period_start__lte=on, period_end__gte=on)
    if team:
        objectives = objectives.filter(team=team)
    return objectives.select_related("owner", "parent").order_by("-period_start", "title", "id")


def objective_get(*, workspace: Workspace, objective_id: int, field: str = "id") -> Objective:
    """Return the workspace's objective; another workspace's is simply not found (404)."""
    objective = (
        Objective.objects.filter(workspace=workspace, pk=objective_id)
        .select_related("owner", "parent", "workspace")
        .first()
    )
    if objective is None:
        raise NotFound(OBJECTIVE_NOT_FOUND.format(id=objective_id), field=field)
    return objective


def key_results_list(
    *, workspace: Workspace, objective_id: int | None = None
) -> QuerySet[KeyResult]:
    key_results = KeyResult.objects.filter(workspace=workspace)
    if objective_id is not None:
        key_results = key_results.filter(objective_id=objective_id)
    return (
        key_results.select_related("objective", "metric", "workspace")
        .prefetch_related("check_ins")
        .order_by("objective_id", "id")
    )


def key_results_under_way(*, around: date) -> QuerySet[KeyResult]:
    """Every workspace's key results whose period may hold ``around`` (a UTC date; a day of
    slack on each side covers every time zone: callers decide in the workspace's own zone)."""
    return (
        KeyResult.objects.filter(
            objective__period_start__lte=around + timedelta(days=1),
            objective__period_end__gte=around - timedelta(days=1),
        )
        .select_related("objective__owner", "metric", "workspace")
        .prefetch_related("check_ins")
        .order_by("workspace_id", "objective_id", "id")
    )


def key_result_get(*, workspace: Workspace, key_result_id: int) -> KeyResult:
    """Return the workspace's key result (the experiments app links experiments through this)."""
    key_result = (
        KeyResult.objects.filter(workspace=workspace, pk=key_result_id)
        .select_related("objective", "metric", "workspace")
        .first()
    )
    if key_result is None:
        raise NotFound(KEY_RESULT_NOT_FOUND.format(id=key_result_id), field="id")
    return key_result


def check_in_get(*, workspace: Workspace, check_in_id: int) -> CheckIn:
    check_in = (
        CheckIn.objects.filter(key_result__workspace=workspace, pk=check_in_id)
        .select_related("key_result__workspace")
        .first()
    )
    if check_in is None:
        raise NotFound(CHECK_IN_NOT_FOUND.format(id=check_in_id), field="id")
    return check_in


def check_ins_list(*, key_result: KeyResult) -> QuerySet[CheckIn]:
    return key_result.check_ins.select_related("created_by").order_by("date", "created_at", "id")


def initiatives_list(
    *, workspace: Workspace, key_result_id: int | None = None
) -> QuerySet[Initiative]:
    initiatives = Initiative.objects.filter(workspace=workspace)
    if key_result_id is not None:
        initiatives = initiatives.filter(key_results__pk=key_result_id)
    return (
        initiatives.prefetch_related("key_results")
        .select_related("owner")
        .order_by("-created_at", "id")
    )


def initiative_get(*, workspace: Workspace, initiative_id: int) -> Initiative:
    initiative = (
        Initiative.objects.filter(workspace=workspace, pk=initiative_id)
        .prefetch_related("key_results")
        .first()
    )
    if initiative is None:
        raise NotFound(INITIATIVE_NOT_FOUND.format(id=initiative_id), field="id")
    return initiative


@dataclass(frozen=True)
class KeyResultSummary:
    """Where a key result stands today (see ``outcomes.okrs.progress``)."""

    key_result: KeyResult
    baseline: float | None
    target: float
    current: float | None
    current_date: date | None
    progress: float | None
    time_elapsed: float
    status: str
    confidence: int | None
    last_comment: str


def key_result_summary(*, key_result: KeyResult, today: date | None = None) -> KeyResultSummary:
    """Return baseline, target, current value (the latest check-in with a value), progress,
    the share of the period elapsed, status, and the latest manual confidence and comment."""
    objective = key_result.objective
    today = today or local_today(key_result.workspace)
    check_ins = sorted(key_result.check_ins.all(), key=lambda c: (c.date, c.created_at, c.pk))
    with_value = [c for c in check_ins if c.value is not None]
    manual = [c for c in check_ins if c.source == ValueSource.MANUAL]
    current = with_value[-1] if with_value else None
    progress_value = progress(
        baseline=key_result.baseline,
        target=key_result.target,
        current=current.value if current else None,
    )
    elapsed = time_elapsed(
        period_start=objective.period_start,
        period_end=objective.period_end,
        on=min(today, objective.period_end),
    )
    return KeyResultSummary(
        key_result=key_result,
        baseline=key_result.baseline,
        target=key_result.target,
        current=current.value if current else None,
        current_date=current.date if current else None,
        progress=progress_value,
        time_elapsed=elapsed,
        status=status(progress_value=progress_value, elapsed=elapsed),
        confidence=manual[-1].confidence if manual else None,
        last_comment=manual[-1].comment if manual else "",
    )


def key_result_experiments(*, key_result: KeyResult) -> list[LinkedExperiment]:
    """Return the experiments linked to the key result, from every registered provider."""
    return [e for provider in linked_experiments_providers for e in provider(key_result)]


@dataclass(frozen=True)
class KeyResultDetail:
    summary: KeyResultSummary
    check_ins: list[CheckIn]
    baseline_history: list[BaselineChange]
    initiatives: list[Initiative]
    experiments: list[LinkedExperiment]


def key_result_detail(*, key_result: KeyResult, today: date | None = None) -> KeyResultDetail:
    """Return everything a key result's page shows."""
    return KeyResultDetail(
        summary=key_result_summary(key_result=key_result, today=today),
        check_ins=list(check_ins_list(key_result=key_result)),
        baseline_history=list(key_result.baseline_changes.select_related("changed_by")),
        initiatives=list(key_result.initiatives.select_related("owner").order_by("-created_at")),
        experiments=key_result_experiments(key_result=key_result),
    )


@dataclass(frozen=True)
class ObjectiveNode:
    objective: Objective
    key_results: list[KeyResultSummary]
    children: list[ObjectiveNode]
    status: str  # the worst status of its key results


_STATUS_ORDER = ("off_track", "at_risk", "on_track", "no_data")


def objective_tree(
    *, workspace: Workspace, on: date | None = None, today: date | None = None
) -> list[ObjectiveNode]:
    """Return the objectives (of the period holding ``on``, if given) as an alignment tree,
    each with its key results' summaries. Three queries whatever the size."""
    objectives = list(objectives_list(workspace=workspace, on=on))
    ids = {o.pk for o in objectives}
    summaries: dict[int, list[KeyResultSummary]] = defaultdict(list)
    for key_result in key_results_list(workspace=workspace).filter(objective_id__in=ids):
        summaries[key_result.objective_id].append(
            key_result_summary(key_result=key_result, today=today)
        )
    children: dict[int | None, list[Objective]] = defaultdict(list)
    for objective in objectives:
        parent = objective.parent_id if objective.parent_id in ids else None
        children[parent].append(objective)

    def node(objective: Objective) -> ObjectiveNode:
        krs = summaries.get(objective.pk, [])
        worst = min(
            (s.status for s in krs if s.status != "no_data"),
            key=_STATUS_ORDER.index,
            default="no_data",
        )
        return ObjectiveNode(
            objective=objective,
            key_results=krs,
            children=[node(child) for child in children.get(objective.pk, [])],
            status=worst,
        )

    return [node(root) for root in children.get(None, [])]
