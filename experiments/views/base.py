"""What the page views share: the workspace and role check, errors shown beside their field,
re-rendering a form with one more row, and the workspace's daily traffic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils import timezone

from experiments.forms.base import MAX_VARIANTS
from experiments.stats import StatsInputError
from plg_platform.errors import DomainError
from plg_platform.models import Role, Workspace
from plg_platform.permissions import request_membership
from plg_platform.selectors import events_list

EDITORS_ONLY = "Only editors of this workspace can change experiments."
TRAFFIC_WINDOW_DAYS = 28

View = Callable[..., HttpResponse]


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


def daily_traffic(workspace: Workspace) -> int | None:
    """Distinct users active in the last 28 days ÷ 28: roughly how many new units a day an
    experiment open to everyone would see. None without recent events."""
    since = timezone.now() - timedelta(days=TRAFFIC_WINDOW_DAYS)
    users = events_list(workspace=workspace, after=since).values("distinct_id").distinct().count()
    return round(users / TRAFFIC_WINDOW_DAYS) or None


def attach_errors(
    form: forms.Form, error: DomainError | StatsInputError, variant_errors: list[str] | None = None
) -> None:
    """Show a service's or the engine's error next to the field it names."""
    if isinstance(error, StatsInputError):
        items = {error.field: [error.message]}
    else:
        items = error.as_errors()
    for field, field_messages in items.items():
        name = field.split(".")[0].split("[")[0]
        for message in field_messages:
            if variant_errors is not None and name == "variants":
                variant_errors.append(message)
            elif name in form.fields and not form.fields[name].disabled:
                form.add_error(name, message)
            else:
                form.add_error(None, message)


def unbound_initial(form: forms.Form, data: QueryDict) -> dict[str, Any]:
    """The posted values as ``initial`` of a fresh form, to re-render without errors."""
    initial: dict[str, Any] = {}
    for name, field in form.fields.items():
        if isinstance(field, forms.MultipleChoiceField):
            initial[name] = data.getlist(name)
        elif isinstance(field, forms.BooleanField):
            initial[name] = name in data
        elif name in data:
            initial[name] = data.get(name)
    return initial


def posted_rows(data: QueryDict, prefix: str) -> int:
    """How many formset rows were posted (0 for a missing or broken management form)."""
    try:
        return max(min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), MAX_VARIANTS), 0)
    except ValueError:
        return 0


def rows_plus_one(formset_class: Any, data: QueryDict, prefix: str, blank: dict) -> list[dict]:
    """The posted formset rows as dicts, plus one blank row (up to the maximum)."""
    total = posted_rows(data, prefix)
    names = list(formset_class.form.base_fields)
    rows = [{name: data.get(f"{prefix}-{i}-{name}", "") for name in names} for i in range(total)]
    if len(rows) < MAX_VARIANTS:
        rows.append(dict(blank))
    return rows


def percent(value: float) -> float | int:
    """50.0 → 50, 33.3333 → 33.3333: percentages that read well in an input."""
    number = round(value * 100, 4)
    return int(number) if number == int(number) else number
