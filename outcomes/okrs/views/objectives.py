"""OKR pages about objectives: the board for a period, creating and editing an objective, and
adding a key result to it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from metrics.public import metrics_list
from outcomes.okrs.board import (
    board_objectives,
    initiatives_by_key_result,
    walk_objectives,
)
from outcomes.okrs.forecasting import (
    INTERVAL_LEVEL,
    MIN_POINTS,
    OFF_TRACK_PROBABILITY,
    ON_TRACK_PROBABILITY,
)
from outcomes.okrs.forms import (
    KeyResultForm,
    ObjectiveForm,
    objective_initial,
    quarter_choices,
    quarter_label,
    quarter_of,
    quarter_shift,
)
from outcomes.okrs.models import Objective
from outcomes.okrs.progress import AT_RISK_MAX_LAG, ON_TRACK_MAX_LAG
from outcomes.okrs.selectors import (
    objective_get,
    objective_tree,
    objectives_list,
)
from outcomes.okrs.services.key_results import (
    key_result_create,
)
from outcomes.okrs.services.objectives import objective_create, objective_update, quarter_period
from outcomes.presentation import (
    STATUS_LABELS,
    STATUS_SYMBOLS,
    workspace_page,
)
from plg_platform.clock import local_today
from plg_platform.errors import DomainError, ValidationFailed
from plg_platform.models import Membership, Role, Workspace
from plg_platform.selectors import memberships_list
from plg_platform.web.pages import attach_errors, found_or_404

BAD_QUARTER_SHOWN = "“{quarter}” is not a quarter (YYYY-Qn); showing {current}."


@workspace_page()
def board(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The OKR board of one quarter (``?quarter=2026-Q4``, the current one by default)."""
    workspace = membership.workspace
    today = local_today(workspace)
    current = quarter_of(today)
    quarter = request.GET.get("quarter") or current
    try:
        start, end = quarter_period(quarter)
    except ValidationFailed:
        messages.warning(request, BAD_QUARTER_SHOWN.format(quarter=quarter[:20], current=current))
        quarter = current
        start, end = quarter_period(quarter)
    tree = objective_tree(workspace=workspace, today=today)
    objectives = board_objectives(
        tree, start, end, initiatives_by_key_result(workspace), today=today
    )
    key_results = [kr for view in walk_objectives(objectives) for kr in view.key_results]
    counts = {status: 0 for status in STATUS_LABELS}
    for kr in key_results:
        counts[kr.status] += 1
    quarters_with_objectives = {
        q for o in objectives_list(workspace=workspace) for q in (quarter_of(o.period_start),)
    }
    return render(
        request,
        "outcomes/board.html",
        {
            "current": "board",
            "quarter": quarter,
            "quarter_label": quarter_label(quarter),
            "quarters": quarter_choices(today, quarters_with_objectives | {quarter}),
            "previous_quarter": quarter_shift(quarter, -1),
            "next_quarter": quarter_shift(quarter, 1),
            "is_current_quarter": quarter == current,
            "objectives": objectives,
            "objective_count": sum(1 for _ in walk_objectives(objectives)),
            "key_result_count": len(key_results),
            "status_counts": [
                (status, f"{n} {STATUS_LABELS[status].lower()}", STATUS_SYMBOLS[status])
                for status, n in counts.items()
                if n
            ],
            "on_track_lag": round(ON_TRACK_MAX_LAG * 100),
            "at_risk_lag": round(AT_RISK_MAX_LAG * 100),
            "on_track_probability": round(ON_TRACK_PROBABILITY * 100),
            "off_track_probability": round(OFF_TRACK_PROBABILITY * 100),
            "forecast_min_weeks": MIN_POINTS,
            "interval_level": round(INTERVAL_LEVEL * 100),
            "can_edit": membership.has_role(Role.EDITOR),
        },
    )


# --- objectives -----------------------------------------------------------------------------
def _objective_form(
    workspace: Workspace, today: date, objective: Objective | None = None, **kwargs: Any
) -> ObjectiveForm:
    members = [
        (m.user_id, m.user.email or m.user.get_username())
        for m in memberships_list(workspace=workspace)
    ]
    parents = [
        o for o in objectives_list(workspace=workspace) if objective is None or o.pk != objective.pk
    ]
    also = [objective.quarter] if objective is not None and objective.quarter else []
    return ObjectiveForm(
        members=members, parents=parents, quarters=quarter_choices(today, also), **kwargs
    )


def board_url(objective: Objective) -> str:
    return (
        f"{reverse('outcomes_web:board')}?quarter={quarter_of(objective.period_start)}"
        f"#objective-{objective.pk}"
    )


@workspace_page(Role.EDITOR)
def objective_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace = membership.workspace
    today = local_today(workspace)
    initial = {
        "quarter": request.GET.get("quarter") or quarter_of(today),
        "owner": request.user.pk,
        "parent": request.GET.get("parent"),
    }
    form = _objective_form(workspace, today, data=request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            objective = objective_create(workspace=workspace, actor=request.user, **form.values())
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(
                request, f"Objective “{objective.title}” created. Now add its first key result."
            )
            return redirect("outcomes_web:key-result-create", objective_id=objective.pk)
    return render(request, "outcomes/objective_form.html", {"form": form, "current": "board"})


@workspace_page(Role.EDITOR)
def objective_edit(request: HttpRequest, membership: Membership, objective_id: int) -> HttpResponse:
    workspace = membership.workspace
    objective = found_or_404(objective_get, workspace=workspace, objective_id=objective_id)
    form = _objective_form(
        workspace,
        local_today(workspace),
        objective,
        data=request.POST or None,
        initial=objective_initial(objective),
    )
    if request.method == "POST" and form.is_valid():
        try:
            objective = objective_update(
                objective=objective, changes=form.values(), actor=request.user
            )
        except DomainError as error:
            attach_errors(form, error)
            objective.refresh_from_db()
        else:
            messages.success(request, f"Objective “{objective.title}” saved.")
            return redirect(board_url(objective))
    return render(
        request,
        "outcomes/objective_form.html",
        {"form": form, "objective": objective, "current": "board"},
    )


@workspace_page(Role.EDITOR)
def key_result_new(request: HttpRequest, membership: Membership, objective_id: int) -> HttpResponse:
    workspace = membership.workspace
    objective = found_or_404(objective_get, workspace=workspace, objective_id=objective_id)
    metrics = list(metrics_list(workspace=workspace))
    form = KeyResultForm(request.POST or None, metrics=metrics)
    if request.method == "POST" and form.is_valid():
        try:
            key_result = key_result_create(objective=objective, actor=request.user, **form.values())
        except DomainError as error:
            attach_errors(form, error, {"metric_key": "metric"})
        else:
            messages.success(request, f"Key result “{key_result.title}” created.")
            return redirect("outcomes_web:key-result", key_result_id=key_result.pk)
    return render(
        request,
        "outcomes/key_result_form.html",
        {
            "form": form,
            "objective": objective,
            "has_metrics": bool(metrics),
            "current": "board",
        },
    )
