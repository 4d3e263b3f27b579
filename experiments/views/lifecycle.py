"""Pages that move an experiment through its life: start (with the plan it freezes), stop and
archive. Concluding is a page of the learnings app (it records the learning)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from experiments.models import Experiment, ExperimentStatus, MetricRole
from experiments.plan_selectors import experiment_plan
from experiments.services.lifecycle import experiment_archive, experiment_start, experiment_stop
from experiments.views.base import percent, workspace_page
from experiments.views.plan_blocks import plan_facts
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role


def _experiment(membership: Membership, key: str) -> Experiment:
    return get_object_or_404(
        Experiment.objects.select_related("owner"), workspace=membership.workspace, key=key
    )


def _transition(
    request: HttpRequest, membership: Membership, key: str, action: Callable[..., Experiment]
) -> HttpResponse:
    experiment = _experiment(membership, key)
    try:
        action(experiment=experiment, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        status = experiment.get_status_display().lower()
        messages.success(request, f"“{experiment.name}” is now {status}.")
    return redirect(reverse("experiments_web:detail", kwargs={"key": experiment.key}))


@require_http_methods(["GET", "POST"])
@workspace_page(Role.EDITOR)
def start(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """GET: what starting does, with the design that starts; POST: start it."""
    if request.method == "POST":
        response = _transition(request, membership, key, experiment_start)
        response["Location"] += "#sdk-title"
        return response
    experiment = _experiment(membership, key)
    primary = experiment.metric_links.select_related("metric").filter(role=MetricRole.PRIMARY)
    plan = experiment_plan(experiment)
    return render(
        request,
        "experiments/start.html",
        {
            "experiment": experiment,
            "verb": "Resume" if experiment.status == ExperimentStatus.STOPPED else "Start",
            "variant_rows": [(v, percent(v.weight)) for v in experiment.variants.all()],
            "coverage_percent": percent(experiment.coverage),
            "primary_metrics": [link.metric for link in primary],
            "plan": plan,
            "plan_facts": plan_facts(plan.frozen or plan.current),
            "plan_rule": plan.frozen_rule_text or plan.current_rule_text,
        },
    )


@require_POST
@workspace_page(Role.EDITOR)
def stop(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    return _transition(request, membership, key, experiment_stop)


@require_POST
@workspace_page(Role.EDITOR)
def archive(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    return _transition(request, membership, key, experiment_archive)
