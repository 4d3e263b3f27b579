"""Pages of metric definitions: the workspace's metrics, and a form to define one (editors).
Rules live in ``metrics.services.metric_create``; its errors are shown beside their fields."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from metrics.metric_forms import MetricForm
from metrics.models import Metric
from metrics.selectors import metrics_list
from metrics.services import metric_create
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors, workspace_page

EDITORS_DEFINE = "Only editors of this workspace define metrics."
SAVED = "Saved the metric “{name}” ({key}). Use it in an experiment or a key result."


def describe(metric: Metric) -> str:
    """The metric in a few words: "p90 of Σ amount per unit, order, 14 days"."""
    window = f", {metric.window_days} days" if metric.window_days else ""
    if metric.type == "quantile" and metric.quantile is not None:
        what = (
            f"each event's {metric.property}"
            if metric.quantile_of == "event"
            else (f"Σ {metric.property} per unit" if metric.property else "hours to the event")
        )
        return f"p{metric.quantile * 100:g} of {what}: {metric.event}{window}"
    return f"{metric.get_type_display()}: {metric.event or 'any event'}{window}"


@workspace_page()
def metric_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's metric definitions."""
    metrics = [(m, describe(m)) for m in metrics_list(workspace=membership.workspace)]
    return render(
        request,
        "metrics/metrics.html",
        {"metrics": metrics, "can_edit": membership.has_role(Role.EDITOR)},
    )


@workspace_page(Role.EDITOR, EDITORS_DEFINE)
def metric_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = MetricForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            metric = metric_create(
                workspace=membership.workspace,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                kind=form.cleaned_data["kind"],
                direction=form.cleaned_data["direction"],
                unit=form.cleaned_data["unit"],
                spec=form.spec(),
                actor=request.user,
            )
        except DomainError as error:
            attach_errors(form, error)
        else:
            messages.success(request, SAVED.format(name=metric.name, key=metric.key))
            return redirect("metrics_web:metrics")
    return render(request, "metrics/metric_form.html", {"form": form, "sections": form.sections()})
