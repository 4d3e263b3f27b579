"""The product-area taxonomy page: every area with its learnings; editors add, rename, merge
and delete (empty) areas. Learnings point at areas by id, so none loses its tag.

Several small forms share the page; a refused one is shown again, with its error, in its own
row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from learnings.forms import AreaCreateForm, AreaMergeForm, AreaRenameForm
from learnings.models import AREA_SEPARATOR, Learning, ProductArea
from learnings.selectors import product_area_get, product_areas_list
from learnings.services.areas import (
    product_area_create,
    product_area_delete,
    product_area_merge,
    product_area_update,
)
from learnings.views.base import EDITORS_ONLY
from plg_platform.errors import DomainError, NotFound
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors, workspace_page


@dataclass(frozen=True)
class AreaRow:
    area: ProductArea
    depth: int
    parent_path: str
    own: int  # learnings tagged with exactly this area
    total: int  # … with it or one of its sub-areas
    has_children: bool
    rename: AreaRenameForm | None
    merge: AreaMergeForm | None


def _area_or_404(membership: Membership, area_id: int) -> ProductArea:
    try:
        return product_area_get(workspace=membership.workspace, area_id=area_id)
    except NotFound as error:
        raise Http404(error.message) from None


def _page(
    request: HttpRequest,
    membership: Membership,
    *,
    create: AreaCreateForm | None = None,
    bound: AreaRenameForm | AreaMergeForm | None = None,
    bound_area: int | None = None,
) -> HttpResponse:
    areas = list(product_areas_list(workspace=membership.workspace))
    can_edit = membership.has_role(Role.EDITOR)
    own = Counter(
        dict(
            Learning.objects.filter(workspace=membership.workspace, product_area__isnull=False)
            .values_list("product_area")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    rows = []
    for area in areas:
        subtree = [a for a in areas if a.id_path.startswith(area.id_path)]
        rename = merge = None
        if can_edit:
            rename = AreaRenameForm(prefix=f"rename-{area.pk}", initial={"name": area.name})
            merge = AreaMergeForm(prefix=f"merge-{area.pk}", area=area, areas=areas)
            if bound is not None and bound_area == area.pk:
                if isinstance(bound, AreaRenameForm):
                    rename = bound
                else:
                    merge = bound
        rows.append(
            AreaRow(
                area=area,
                depth=area.id_path.count("/") - 2,
                parent_path=area.path.rpartition(AREA_SEPARATOR)[0],
                own=own[area.pk],
                total=sum(own[a.pk] for a in subtree),
                has_children=len(subtree) > 1,
                rename=rename,
                merge=merge,
            )
        )
    return render(
        request,
        "learnings/areas.html",
        {
            "rows": rows,
            "create": create or (AreaCreateForm(areas=areas) if can_edit else None),
            "can_edit": can_edit,
            "bound_area": bound_area,
            "search_url": reverse("learnings_web:search"),
        },
    )


@workspace_page()
def areas(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _page(request, membership)


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def area_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = AreaCreateForm(
        request.POST, areas=list(product_areas_list(workspace=membership.workspace))
    )
    if form.is_valid():
        try:
            area = product_area_create(
                workspace=membership.workspace,
                name=form.cleaned_data["name"],
                parent=form.areas.get(form.cleaned_data["parent"]),
                actor=request.user,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Area “{area.path}” added.")
            return redirect("learnings_web:areas")
    return _page(request, membership, create=form)


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def area_rename(request: HttpRequest, membership: Membership, area_id: int) -> HttpResponse:
    area = _area_or_404(membership, area_id)
    form = AreaRenameForm(request.POST, prefix=f"rename-{area.pk}")
    if form.is_valid():
        old = area.path
        try:
            area = product_area_update(
                area=area, actor=request.user, name=form.cleaned_data["name"]
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"“{old}” is now “{area.path}”; its learnings follow.")
            return redirect("learnings_web:areas")
    return _page(request, membership, bound=form, bound_area=area.pk)


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def area_merge(request: HttpRequest, membership: Membership, area_id: int) -> HttpResponse:
    area = _area_or_404(membership, area_id)
    areas = list(product_areas_list(workspace=membership.workspace))
    form = AreaMergeForm(request.POST, prefix=f"merge-{area.pk}", area=area, areas=areas)
    if form.is_valid():
        source = area.path
        try:
            target = product_area_merge(
                source=area, target=form.targets[form.cleaned_data["into"]], actor=request.user
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(
                request, f"“{source}” is merged into “{target.path}”, with its learnings."
            )
            return redirect("learnings_web:areas")
    return _page(request, membership, bound=form, bound_area=area.pk)


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def area_delete(request: HttpRequest, membership: Membership, area_id: int) -> HttpResponse:
    area = _area_or_404(membership, area_id)
    try:
        product_area_delete(area=area, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Area “{area.path}” deleted.")
    return redirect("learnings_web:areas")
