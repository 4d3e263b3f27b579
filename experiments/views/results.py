"""The results page of an experiment: the latest analysis per metric (table, forest plot, verdict),
health banners, lift over time, segment breakdowns, and "Refresh now" with a live progress bar.

Every number comes from ``experiments.result_selectors.experiment_results`` (the stored
snapshot); ``result_blocks`` formats it with the engine's own formatting functions.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from experiments.models import Experiment
from experiments.result_selectors import analysis_job_get, experiment_results
from experiments.selectors import experiment_get
from experiments.services.analysis.refresh import experiment_refresh_request
from experiments.services.analysis.run import refresh_summary
from experiments.views.base import workspace_page
from experiments.views.result_blocks import metric_blocks, segment_tables
from experiments.views.result_notes import health_checks, interval_levels_note
from plg_platform.errors import Conflict, NotFound
from plg_platform.models import BackgroundJob, JobStatus, Membership, Role

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


# --- Views ----------------------------------------------------------------------------------------


def _experiment(membership: Membership, key: str) -> Experiment:
    try:
        return experiment_get(workspace=membership.workspace, key=key)
    except NotFound as error:
        raise Http404(str(error)) from error


def _body_context(membership: Membership, experiment: Experiment) -> dict[str, Any]:
    results = experiment_results(experiment=experiment)
    return {
        "experiment": experiment,
        "results": results,
        "blocks": metric_blocks(results),
        "segments": segment_tables(results),
        "bayesian": results.settings.get("engine") == "bayesian",
        "health_checks": health_checks(results),
        "levels_note": interval_levels_note(results),
        # A finished experiment collects nothing new: a refresh would change nothing.
        "can_refresh": membership.has_role(Role.EDITOR) and not results.finished,
    }


@workspace_page()
def results_page(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """The latest analysis of the experiment (empty state before the first one)."""
    experiment = _experiment(membership, key)
    context = _body_context(membership, experiment)
    pending = context["results"].pending
    job_id = request.GET.get("job")
    if job_id and job_id.isdigit():
        context["progress"] = _progress_context(experiment, int(job_id))
    elif pending is not None:
        context["progress"] = _progress_context(experiment, pending.job_id)
    return render(request, "experiments/results.html", context)


@workspace_page()
def results_body(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """The results without the page around them (htmx swaps it in after a refresh)."""
    experiment = _experiment(membership, key)
    return render(request, "experiments/_results_body.html", _body_context(membership, experiment))


def _progress_context(experiment: Experiment, job_id: int) -> dict[str, Any]:
    try:
        job: BackgroundJob = analysis_job_get(experiment=experiment, job_id=job_id)
    except NotFound as error:
        raise Http404(str(error)) from error
    done = job.status == JobStatus.SUCCEEDED
    return {
        "job": job,
        "percent": 100 if done else round(max(0.0, min(job.progress, 1.0)) * 100),
        "finished": job.status in FINISHED,
        "succeeded": done,
        "poll_url": reverse("results_web:job", kwargs={"key": experiment.key, "job_id": job.pk}),
        "body_url": reverse("results_web:body", kwargs={"key": experiment.key}),
        # How the metrics were computed and what it cost: what a team's warehouse bill follows.
        "refresh": refresh_summary(job.result.get("refresh") or {}) if done else "",
    }


@workspace_page()
def job_progress(
    request: HttpRequest, membership: Membership, key: str, job_id: int
) -> HttpResponse:
    """The progress bar of one analysis job; it polls itself every second until the job ends,
    then asks for the new results."""
    experiment = _experiment(membership, key)
    return render(
        request,
        "experiments/_results_progress.html",
        {"experiment": experiment, "progress": _progress_context(experiment, job_id)},
    )


@workspace_page(Role.EDITOR, denied="Only editors of this workspace can refresh results.")
def refresh(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """Queue an analysis now (or join the one under way) and show its progress."""
    if request.method != "POST":
        return redirect("results_web:page", key=key)
    experiment = _experiment(membership, key)
    try:
        ticket = experiment_refresh_request(experiment=experiment, actor=request.user)
    except Conflict as error:
        context = {"experiment": experiment, "refresh_error": error.message}
        if request.headers.get("HX-Request"):
            return render(request, "experiments/_results_progress.html", context)
        context.update(_body_context(membership, experiment))
        return render(request, "experiments/results.html", context, status=409)
    if request.headers.get("HX-Request"):
        return render(
            request,
            "experiments/_results_progress.html",
            {"experiment": experiment, "progress": _progress_context(experiment, ticket.job.pk)},
        )
    page = reverse("results_web:page", kwargs={"key": experiment.key})
    return redirect(f"{page}?job={ticket.job.pk}")
