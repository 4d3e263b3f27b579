"""A learning's page (every field, the numbers behind its effects, the override history), the
effect override and edit forms, and adding a learning by hand.

Writes go through ``learnings.services``; their errors are shown beside the field they name and
nothing is written. Reads need the viewer role, changes the editor role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from experiments.models import Experiment
from learnings.forms import EffectOverrideForm, LearningCreateForm, LearningEditForm
from learnings.models import EffectDimension, Learning
from learnings.selectors import effect_overrides_list, product_areas_list
from learnings.services.effects import effect_override_current, learning_effect_override
from learnings.services.learnings import learning_create, learning_update
from learnings.views.base import (
    EDITORS_ONLY,
    NOT_MEASURED,
    ResultRow,
    forest_config,
    impact_text,
    learning_or_404,
    result_rows,
)
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors, workspace_page

NO_LEARNING_YET = "Experiment {key!r} has no learning yet: it is recorded when it is concluded."


@dataclass(frozen=True)
class EffectPanel:
    """One effect tag (acquisition or retention): in force, derived, and why."""

    dimension: str
    label: str
    value: str
    value_label: str
    derived_label: str
    override_reason: str
    comparisons: list[ResultRow]
    form: EffectOverrideForm | None


def _effect_label(value: str) -> str:
    return value.capitalize() if value else NOT_MEASURED


def _effect_panels(
    learning: Learning,
    difference: str,
    *,
    can_edit: bool,
    bound: EffectOverrideForm | None = None,
    bound_dimension: str = "",
) -> list[EffectPanel]:
    panels = []
    for dimension, label in EffectDimension.choices:
        value = getattr(learning, f"{dimension}_effect")
        evidence = learning.effect_evidence.get(dimension, {})
        override = effect_override_current(learning=learning, dimension=dimension)
        form = None
        if can_edit:
            form = (
                bound
                if bound is not None and bound_dimension == dimension
                else EffectOverrideForm(
                    prefix=dimension, initial={"value": value if override else ""}
                )
            )
        panels.append(
            EffectPanel(
                dimension=dimension,
                label=f"Effect on {label.lower()}",
                value=value,
                value_label=_effect_label(value),
                derived_label=_effect_label(evidence.get("derived", "")),
                override_reason=override.reason if override else "",
                comparisons=result_rows(evidence.get("comparisons", []), difference),
                form=form,
            )
        )
    return panels


def _detail_page(
    request: HttpRequest,
    membership: Membership,
    learning: Learning,
    *,
    bound: EffectOverrideForm | None = None,
    bound_dimension: str = "",
) -> HttpResponse:
    can_edit = membership.has_role(Role.EDITOR)
    primary = learning.primary_result or {}
    difference = primary.get("difference", "relative")
    results = result_rows([primary, *learning.guardrail_results], difference)
    return render(
        request,
        "learnings/detail.html",
        {
            "learning": learning,
            "results": results,
            "chart": forest_config(results, difference) if results else "",
            "relative": difference == "relative",
            "impact": impact_text(learning),
            "effects": _effect_panels(
                learning,
                difference,
                can_edit=can_edit,
                bound=bound,
                bound_dimension=bound_dimension,
            ),
            "overrides": list(effect_overrides_list(learning=learning)),
            "tags": [tag.name for tag in learning.tag_links.all()],
            "key_results": list(learning.key_results.all()),
            "can_edit": can_edit,
        },
    )


@workspace_page()
def learning_detail(request: HttpRequest, membership: Membership, learning_id: int) -> HttpResponse:
    return _detail_page(request, membership, learning_or_404(membership.workspace, learning_id))


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def effect_override(request: HttpRequest, membership: Membership, learning_id: int) -> HttpResponse:
    learning = learning_or_404(membership.workspace, learning_id)
    dimension = request.POST.get("dimension", "")
    if dimension not in EffectDimension.values:
        raise Http404("No such effect.")
    form = EffectOverrideForm(request.POST, prefix=dimension)
    if form.is_valid():
        try:
            learning_effect_override(
                learning=learning,
                dimension=dimension,
                value=form.cleaned_data["value"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, "Effect tag changed; the reason is kept in its history.")
            return redirect("learnings_web:detail", learning_id=learning.pk)
    learning = learning_or_404(membership.workspace, learning_id)
    return _detail_page(request, membership, learning, bound=form, bound_dimension=dimension)


def _areas(membership: Membership) -> list[Any]:
    return list(product_areas_list(workspace=membership.workspace))


@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def learning_edit(request: HttpRequest, membership: Membership, learning_id: int) -> HttpResponse:
    learning = learning_or_404(membership.workspace, learning_id)
    areas = _areas(membership)
    if request.method == "POST":
        form = LearningEditForm(request.POST, areas=areas)
        if form.is_valid():
            try:
                learning_update(learning=learning, actor=request.user, changes=form.changes())
            except DomainError as error:
                attach_errors(form, error)
            else:
                messages.success(request, "Changes saved.")
                return redirect("learnings_web:detail", learning_id=learning.pk)
    else:
        form = LearningEditForm(initial=LearningEditForm.initial_for(learning), areas=areas)
    return render(request, "learnings/form.html", {"form": form, "learning": learning})


@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def learning_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    areas = _areas(membership)
    if request.method == "POST":
        form = LearningCreateForm(request.POST, areas=areas)
        if form.is_valid():
            try:
                learning = learning_create(
                    workspace=membership.workspace, actor=request.user, **form.values()
                )
            except DomainError as error:
                attach_errors(form, error)
            else:
                messages.success(request, f"Learning “{learning.title}” added.")
                return redirect("learnings_web:detail", learning_id=learning.pk)
    else:
        form = LearningCreateForm(areas=areas)
    return render(request, "learnings/form.html", {"form": form, "learning": None})


@workspace_page()
def experiment_learning(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """The learning an experiment left (the experiment pages link here: they cannot look it up
    themselves, experiments being below learnings)."""
    experiment = get_object_or_404(Experiment, workspace=membership.workspace, key=key)
    learning = Learning.objects.filter(
        workspace=membership.workspace, experiment=experiment
    ).first()
    if learning is None:
        raise Http404(NO_LEARNING_YET.format(key=key))
    return redirect("learnings_web:detail", learning_id=learning.pk)
