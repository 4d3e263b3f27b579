"""Pages of event sources: the list, a form to connect or change one (admins), and its dry run
(editors). Everyone in the workspace reads them; another workspace's source is not found."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from metrics.forms import SHOWN_FOR, SourceForm, form_field_of
from metrics.models import EventSource
from metrics.sources.probes import source_dry_run
from metrics.sources.selectors import source_get, sources_list
from metrics.sources.services import source_create, source_delete, source_update
from metrics.sources.validation import (
    CONNECTION_FIELDS,
    EVENT_FIELDS,
    EXPOSURE_FIELDS,
    source_root,
)
from metrics.store_moves import STORE_MOVE_JOB_KIND, TARGETS, store_move_request
from plg_platform.errors import DomainError
from plg_platform.models import BackgroundJob, EventStore, Membership, Role
from plg_platform.web.pages import attach_errors, found_or_404, workspace_page

ADMINS_ONLY = "Only admins of this workspace connect, change or delete event sources."
SAVED = "Saved “{name}”. Run a dry run to check its tables."
DRY_RUN_OK = "Dry run passed: the tables and columns of “{name}” are usable."
DRY_RUN_FAILED = "The dry run found problems with “{name}”; see below."
DELETED = "Deleted the source “{name}”."
MOVE_ADMINS_ONLY = "Only admins of this workspace move its events to another store."
MOVE_QUEUED = (
    "Moving this workspace's events to {store}: the old store stays in use until the copy "
    "is verified."
)


def _form_errors(form: SourceForm, error: DomainError) -> None:
    fields = {name: form_field_of(name) for name in error.as_errors()}
    attach_errors(form, error, fields=fields)


def _sections(form: SourceForm) -> dict[str, list]:
    """The form's fields by section, each with the engines it is shown for (if limited)."""

    def shown(names: tuple[str, ...]) -> list:
        return [(form[name], SHOWN_FOR.get(name, "")) for name in names]

    return {
        "connection": shown((*CONNECTION_FIELDS, "secret", "remove_secret")),
        "events": shown(tuple(EVENT_FIELDS.values())),
        "exposures": shown(tuple(EXPOSURE_FIELDS.values())),
    }


def _render_form(
    request: HttpRequest,
    membership: Membership,
    form: SourceForm,
    source: EventSource | None = None,
) -> HttpResponse:
    can_admin = membership.has_role(Role.ADMIN)
    if not can_admin:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "metrics/source_form.html",
        {
            "form": form,
            "sections": _sections(form),
            "source": source,
            "report": source.last_check if source is not None else None,
            "can_admin": can_admin,
            "can_edit": membership.has_role(Role.EDITOR),
            "root": source_root(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@workspace_page()
def source_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's sources and the state of their last dry run."""
    workspace = membership.workspace
    return render(
        request,
        "metrics/sources.html",
        {
            "sources": sources_list(workspace=workspace),
            "can_admin": membership.has_role(Role.ADMIN),
            "store": EventStore(workspace.event_store).label,
            "move_targets": [
                (name, EventStore(kind).label)
                for name, kind in TARGETS.items()
                if kind != workspace.event_store
                and name != "clickhouse"  # shown once, as chdb
                and (kind != EventStore.CLICKHOUSE or settings.METRICS_CLICKHOUSE_URL)
            ],
            "last_move": BackgroundJob.objects.filter(
                workspace=workspace, kind=STORE_MOVE_JOB_KIND
            ).first(),
        },
    )


@require_POST
@workspace_page(Role.ADMIN, MOVE_ADMINS_ONLY)
def store_move_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Start moving the workspace's events to another store (``metrics.store_moves``)."""
    to = request.POST.get("to", "")
    try:
        store_move_request(workspace=membership.workspace, to=to, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, MOVE_QUEUED.format(store=EventStore(TARGETS[to]).label))
    return redirect("metrics_web:sources")


@workspace_page(Role.ADMIN, ADMINS_ONLY)
def source_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = source_create(
                workspace=membership.workspace,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                engine=form.cleaned_data["engine"],
                connection=form.connection(),
                events=form.events(),
                exposures=form.exposures(),
                secret=form.new_secret() or "",
                actor=request.user,
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, SAVED.format(name=source.name))
            return redirect("metrics_web:source", source_id=source.pk)
    return _render_form(request, membership, form)


@workspace_page()
def source_page(request: HttpRequest, membership: Membership, source_id: int) -> HttpResponse:
    """One source: its settings (admins change them here) and its last dry run."""
    source = found_or_404(source_get, workspace=membership.workspace, source_id=source_id)
    if request.method == "POST" and not membership.has_role(Role.ADMIN):
        raise PermissionDenied(ADMINS_ONLY)
    form = SourceForm(request.POST or None, initial=SourceForm.initial_from(source))
    if request.method == "POST" and form.is_valid():
        try:
            source = source_update(
                source=source,
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                engine=form.cleaned_data["engine"],
                connection=form.connection(),
                events=form.events(),
                exposures=form.exposures(),
                secret=form.new_secret(),
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, SAVED.format(name=source.name))
            return redirect("metrics_web:source", source_id=source.pk)
    return _render_form(request, membership, form, source)


@require_POST
@workspace_page(Role.EDITOR)
def source_dry_run_page(
    request: HttpRequest, membership: Membership, source_id: int
) -> HttpResponse:
    source = found_or_404(source_get, workspace=membership.workspace, source_id=source_id)
    report = source_dry_run(source)
    if report["ok"]:
        messages.success(request, DRY_RUN_OK.format(name=source.name))
    else:
        messages.warning(request, DRY_RUN_FAILED.format(name=source.name))
    return redirect("metrics_web:source", source_id=source.pk)


@require_POST
@workspace_page(Role.ADMIN, ADMINS_ONLY)
def source_delete_page(
    request: HttpRequest, membership: Membership, source_id: int
) -> HttpResponse:
    source = found_or_404(source_get, workspace=membership.workspace, source_id=source_id)
    try:
        source_delete(source=source, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("metrics_web:source", source_id=source.pk)
    messages.success(request, DELETED.format(name=source.name))
    return redirect("metrics_web:sources")
