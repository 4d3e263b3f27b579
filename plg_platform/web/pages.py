"""The page views' common ground: who may see a page, what is not found, where errors go."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, Protocol, TypeVar

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from plg_platform.errors import DomainError, NotFound
from plg_platform.models import Role
from plg_platform.permissions import request_membership

EDITORS_ONLY = "Only editors of this workspace can make this change."

View = Callable[..., HttpResponse]
T = TypeVar("T")


class FieldError(Protocol):
    """An error naming one input: what the statistics engine raises (``StatsInputError``)."""

    field: str
    message: str


def workspace_page(role: str = Role.VIEWER, denied: str = EDITORS_ONLY) -> Callable[[View], View]:
    """Sign-in required; the view gets the request's membership, which needs ``role``
    (``denied`` is the 403 page's message otherwise)."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = request_membership(request)
            if membership is None:
                return redirect("home")
            if not membership.has_role(role):
                raise PermissionDenied(denied)
            return view(request, membership, *args, **kwargs)

        return wrapped

    return decorate


def found_or_404(read: Callable[..., T], **kwargs: Any) -> T:
    """Call a selector; another workspace's object (or none) is simply not found."""
    try:
        return read(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from None


def attach_errors(
    form: forms.Form,
    error: DomainError | FieldError,
    fields: Mapping[str, str] | None = None,
    outside: Mapping[str, list[str]] | None = None,
) -> None:
    """Show a service's (or the engine's) error beside the field it names.

    ``fields`` maps the service's field names to the form's where they differ; a name such as
    ``variants[0].key`` counts as ``variants``. Messages of a field in ``outside`` are collected
    there (e.g. a formset's rows, shown outside the form); errors on no field of the form go on
    top.
    """
    if isinstance(error, DomainError):
        items = error.as_errors()
    else:
        items = {error.field: [error.message]}
    for field, messages in items.items():
        name = (fields or {}).get(field, field)
        if name not in form.fields:
            name = name.split(".")[0].split("[")[0]
        for message in messages:
            if outside is not None and name in outside:
                outside[name].append(message)
            elif name in form.fields and not form.fields[name].disabled:
                form.add_error(name, message)
            else:
                form.add_error(None, message)
