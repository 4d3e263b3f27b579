"""What the experiment pages share beyond ``plg_platform.web``: their 403 message, re-rendering
a form with one more row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.http import QueryDict

from experiments.forms.base import MAX_VARIANTS
from plg_platform.models import Role
from plg_platform.web import pages
from plg_platform.web.pages import View

EDITORS_ONLY = "Only editors of this workspace can change experiments."


def workspace_page(role: str = Role.VIEWER, denied: str = EDITORS_ONLY) -> Callable[[View], View]:
    """``plg_platform.web.pages.workspace_page`` with the experiment pages' 403 message."""
    return pages.workspace_page(role, denied)


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
