"""The OKR pages: the board of a quarter (objectives aligned under their parents, key results
with progress, status and a check-in trend), a key result's page (check-ins, baseline history,
initiatives, linked experiments) and the forms that create and change them.

Reads go through ``outcomes.okrs.selectors`` and writes through ``outcomes.okrs.services``; a domain
error is shown beside the field it names. Viewers read, editors write.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from metrics.public import metrics_list
from outcomes.okrs.board import (
    board_objectives,
    initiatives_by_key_result,
    key_result_view,
    walk_objectives,
)
from outcomes.okrs.forms import (
    BaselineForm,
    CheckInForm,
    InitiativeForm,
    KeyResultEditForm,
    KeyResultForm,
    ObjectiveForm,
    objective_initial,
    quarter_choices,
    quarter_label,
    quarter_of,
    quarter_shift,
)
from outcomes.okrs.models import KeyResult, Objective, ValueSource
from outcomes.okrs.progress import AT_RISK_MAX_LAG, ON_TRACK_MAX_LAG
from outcomes.okrs.selectors import (
    key_result_detail,
    key_result_get,
    objective_get,
    objective_tree,
    objectives_list,
)
from outcomes.okrs.services.check_ins import check_in_create
from outcomes.okrs.services.initiatives import initiative_create
from outcomes.okrs.services.key_results import (
    key_result_create,
    key_result_set_baseline,
    key_result_update,
)
from outcomes.okrs.services.objectives import objective_create, objective_update, quarter_period
from outcomes.okrs.tasks import compute_key_result_check_in
from outcomes.presentation import (
    STATUS_LABELS,
    STATUS_SYMBOLS,
    chart_json,
    format_value,
    metric_unit,
    series_points,
    value_input,
    workspace_page,
)
from plg_platform.clock import local_today
from plg_platform.errors import DomainError, ValidationFailed
from plg_platform.models import Membership, Role, Workspace
from plg_platform.selectors import memberships_list
from plg_platform.web.pages import attach_errors, found_or_404

BAD_QUARTER_SHOWN = "“{quarter}” is not a quarter (YYYY-Qn); showing {current}."


MEASURING = (
    "Measuring “{title}” from events now: the new value appears here within a minute "
    "(reload the page)."
)


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
    objectives = board_objectives(tree, start, end, initiatives_by_key_result(workspace))
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


def _board_url(objective: Objective) -> str:
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
            return redirect(_board_url(objective))
    return render(
        request,
        "outcomes/objective_form.html",
        {"form": form, "objective": objective, "current": "board"},
    )


# --- key results ----------------------------------------------------------------------------
def _key_result_or_404(workspace: Workspace, key_result_id: int) -> KeyResult:
    return found_or_404(key_result_get, workspace=workspace, key_result_id=key_result_id)


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


def _key_result_page(
    request: HttpRequest,
    membership: Membership,
    key_result: KeyResult,
    *,
    check_in_form: CheckInForm | None = None,
    baseline_form: BaselineForm | None = None,
    initiative_form: InitiativeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    detail = key_result_detail(key_result=key_result)
    view = key_result_view(
        detail.summary, initiatives=detail.initiatives, experiments=detail.experiments
    )
    metric = key_result.metric
    history_chart = None
    if len(view.trend_rows) >= 2:
        computed = {c.date: c.value for c in detail.check_ins if c.source == ValueSource.COMPUTED}
        manual = {
            c.date: c.value
            for c in detail.check_ins
            if c.source == ValueSource.MANUAL and c.value is not None
        }
        days = sorted(set(computed) | set(manual))
        history_chart = chart_json(
            {
                "labels": [d.isoformat() for d in days],
                "computed": series_points(computed.get(d) for d in days),
                "manual": series_points(manual.get(d) for d in days),
                "baseline": key_result.baseline,
                "target": key_result.target,
                "unit": view.unit,
            }
        )
    can_edit = membership.has_role(Role.EDITOR)
    return render(
        request,
        "outcomes/key_result.html",
        {
            "current": "board",
            "kr": view,
            "key_result": key_result,
            "objective": key_result.objective,
            "metric": metric,
            "check_ins": [
                (c, format_value(c.value, view.unit)) for c in reversed(detail.check_ins)
            ],
            "baseline_history": [
                (b, format_value(b.previous, view.unit), format_value(b.baseline, view.unit))
                for b in detail.baseline_history
            ],
            "history_chart": history_chart,
            "can_edit": can_edit,
            "check_in_form": check_in_form or CheckInForm(metric=metric),
            "baseline_form": baseline_form
            or BaselineForm(
                metric=metric, initial={"baseline": value_input(key_result.baseline, metric)}
            ),
            "initiative_form": initiative_form or InitiativeForm(),
            "board_url": _board_url(key_result.objective),
        },
        status=status,
    )


@workspace_page()
def key_result_page(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    return _key_result_page(request, membership, key_result)


@workspace_page(Role.EDITOR)
def key_result_edit(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    metric = key_result.metric
    form = KeyResultEditForm(
        request.POST or None,
        metric=metric,
        initial={
            "title": key_result.title,
            "direction": key_result.direction,
            "target": value_input(key_result.target, metric),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            key_result_update(key_result=key_result, changes=form.cleaned_data, actor=request.user)
        except DomainError as error:
            attach_errors(form, error)
            key_result.refresh_from_db()
        else:
            messages.success(request, f"Key result “{key_result.title}” saved.")
            return redirect("outcomes_web:key-result", key_result_id=key_result.pk)
    return render(
        request,
        "outcomes/key_result_edit.html",
        {
            "form": form,
            "key_result": key_result,
            "objective": key_result.objective,
            "metric": metric,
            "baseline": format_value(key_result.baseline, metric_unit(metric)),
            "current": "board",
        },
    )


@require_POST
@workspace_page(Role.EDITOR)
def check_in_new(request: HttpRequest, membership: Membership, key_result_id: int) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = CheckInForm(request.POST, metric=key_result.metric)
    if form.is_valid():
        try:
            check_in_create(key_result=key_result, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, "Check-in recorded.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#check-ins-title"
            )
    return _key_result_page(request, membership, key_result, check_in_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def baseline_change(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = BaselineForm(request.POST, metric=key_result.metric)
    if form.is_valid():
        try:
            key_result_set_baseline(
                key_result=key_result,
                baseline=form.cleaned_data["baseline"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except DomainError as error:
            # A baseline on the wrong side of the target is the baseline's problem here.
            attach_errors(form, error, {"target": "baseline"})
            key_result.refresh_from_db()
        else:
            messages.success(request, "Baseline changed; the history keeps the previous one.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#baseline-title"
            )
    return _key_result_page(request, membership, key_result, baseline_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def initiative_new(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    form = InitiativeForm(request.POST)
    if form.is_valid():
        try:
            initiative_create(
                workspace=membership.workspace,
                key_result_ids=[key_result.pk],
                actor=request.user,
                **form.cleaned_data,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Initiative “{form.cleaned_data['title']}” linked.")
            return redirect(
                reverse("outcomes_web:key-result", args=[key_result.pk]) + "#initiatives-title"
            )
    return _key_result_page(request, membership, key_result, initiative_form=form)


@require_POST
@workspace_page(Role.EDITOR)
def key_result_measure(
    request: HttpRequest, membership: Membership, key_result_id: int
) -> HttpResponse:
    """Queue today's computed check-in (the scheduled task's work, on demand)."""
    key_result = _key_result_or_404(membership.workspace, key_result_id)
    transaction.on_commit(lambda: compute_key_result_check_in.delay(key_result.pk))
    messages.info(request, MEASURING.format(title=key_result.title))
    return redirect("outcomes_web:key-result", key_result_id=key_result.pk)
