"""The search synonyms page: everyone sees the groups the search uses; editors change them or
go back to the defaults. Parsing and rules are ``learnings.services.synonyms``'."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from learnings.forms import SynonymsForm
from learnings.search.synonyms import synonyms_are_default, synonyms_as_text, workspace_synonyms
from learnings.search.terms import DEFAULT_SYNONYMS
from learnings.services.synonyms import search_synonyms_reset, search_synonyms_update
from learnings.views.base import EDITORS_ONLY
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors, workspace_page

SAVED = "Synonyms saved: searches use them from now on."
RESET = "Back to the default synonyms."


@workspace_page()
def synonyms(request: HttpRequest, membership: Membership) -> HttpResponse:
    """GET: the groups (a form for editors); POST (editors): save them, or reset."""
    workspace = membership.workspace
    can_edit = membership.has_role(Role.EDITOR)
    form = SynonymsForm(
        initial={"synonyms": synonyms_as_text(workspace_synonyms(workspace=workspace))}
    )
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(EDITORS_ONLY)
        if "reset" in request.POST:
            search_synonyms_reset(workspace=workspace, actor=request.user)
            messages.success(request, RESET)
            return redirect("learnings_web:synonyms")
        form = SynonymsForm(request.POST)
        if form.is_valid():
            try:
                search_synonyms_update(
                    workspace=workspace, text=form.cleaned_data["synonyms"], actor=request.user
                )
            except DomainError as error:
                attach_errors(form, error)
            else:
                messages.success(request, SAVED)
                return redirect("learnings_web:synonyms")
    return render(
        request,
        "learnings/synonyms.html",
        {
            "form": form,
            "can_edit": can_edit,
            "groups": workspace_synonyms(workspace=workspace),
            "is_default": synonyms_are_default(workspace=workspace),
            "defaults": DEFAULT_SYNONYMS,
        },
        status=400 if form.errors else 200,
    )
