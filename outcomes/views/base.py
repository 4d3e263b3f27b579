"""What the outcomes pages share: the workspace and role check, a 404 for another workspace's
objects, a service's error shown beside its field, and numbers written the way people read
them (rates as percentages, users with thousands separators, hours with their unit)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from outcomes.forms.base import metric_is_rate
from outcomes.models import Metric, MetricType
from plg_platform.errors import DomainError, NotFound
from plg_platform.models import Role
from plg_platform.permissions import request_membership

EDITORS_ONLY = "Only editors of this workspace can change objectives, key results and KPI settings."
View = Callable[..., HttpResponse]
T = TypeVar("T")

STATUS_LABELS = {
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "no_data": "No data yet",
}
# A shape beside the words, so that status never rests on colour alone (nor on the shape).
STATUS_SYMBOLS = {"on_track": "●", "at_risk": "▲", "off_track": "■", "no_data": "○"}


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
    form: forms.Form, error: DomainError, fields: Mapping[str, str] | None = None
) -> None:
    """Show a service's error beside the field it names (``fields`` maps the service's field
    names to the form's where they differ); errors on no field of the form go on top."""
    for field, messages in error.as_errors().items():
        name = (fields or {}).get(field, field)
        for message in messages:
            if name in form.fields and not form.fields[name].disabled:
                form.add_error(name, message)
            else:
                form.add_error(None, message)


def chart_json(config: Mapping[str, Any]) -> str:
    """A chart's data for ``data-config`` (the template escapes it into the attribute)."""
    return json.dumps(config, separators=(",", ":"), allow_nan=False)


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


# --- numbers as people read them ------------------------------------------------------------
def metric_unit(metric: Metric) -> str:
    """The unit of a metric's values, as the charts name it: share, hours or number."""
    if metric_is_rate(metric):
        return "share"
    if metric.type == MetricType.TIME_TO_EVENT:
        return "hours"
    return "number"


def number_text(value: float) -> str:
    """1,234 for large numbers; three significant digits for small ones (0.0123, 12.3)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_value(value: float | None, unit: str) -> str:
    """Write a value of a KPI unit (users, share, ratio, hours, score, currency) or a metric
    unit (share, hours, number); "—" when there is none."""
    number = finite(value)
    if number is None:
        return "—"
    if unit == "share":
        return f"{number * 100:.1f}%"
    if unit == "users":
        return f"{number:,.0f}" if number == int(number) else f"{number:,.1f}"
    if unit == "currency":
        return f"${number:,.0f}"
    if unit == "hours":
        return f"{number:.1f} h" if number < 100 else f"{number:,.0f} h"
    if unit == "score":
        return f"{number:.1f}"
    if unit == "ratio":
        return f"{number:.2f}"
    return number_text(number)


def change_text(current: float | None, previous: float | None, unit: str) -> str:
    """How a value moved since the previous window: "up 2.1 pp", "down 12", "no change"."""
    now, before = finite(current), finite(previous)
    if now is None or before is None:
        return ""
    delta = now - before
    if delta == 0:
        return "no change"
    word = "up" if delta > 0 else "down"
    if unit == "share":
        return f"{word} {abs(delta) * 100:.1f} pp"
    return f"{word} {format_value(abs(delta), unit)}"


def percent_input(value: float | None) -> float | int | None:
    """0.36 → 36, 0.3333 → 33.33: a stored fraction as it reads well in an input."""
    if value is None:
        return None
    number = round(value * 100, 4)
    return int(number) if number == int(number) else number


def plain_input(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == int(value) else value


def value_input(value: float | None, metric: Metric) -> float | int | None:
    """A metric's stored value as typed in a form (percentages for rate metrics)."""
    return percent_input(value) if metric_is_rate(metric) else plain_input(value)


def series_points(values: Iterable[float | None]) -> list[float | None]:
    """Values for a chart's JSON: non-finite numbers become gaps."""
    return [finite(v) for v in values]
