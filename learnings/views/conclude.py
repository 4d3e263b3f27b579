"""Concluding an experiment from its page: the decision dialog, then a link to the learning
the conclusion recorded.

It lives here rather than in ``experiments.views`` because it reads the learning afterwards,
and experiments sit below learnings. ``experiment_conclude`` records the learning through its
post-commit hook; if that did not happen (the hook failed, or a surrounding transaction has
not committed yet) the learning is recorded here, which is safe to repeat.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from experiments.models import Experiment, ExperimentStatus
from experiments.services.lifecycle import experiment_conclude
from learnings.forms import ConcludeForm
from learnings.models import Learning
from learnings.services import learning_record_from_experiment
from learnings.services.from_experiment import experiment_verdict
from learnings.views.base import is_htmx
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors, workspace_page

EDITORS_ONLY = "Only editors of this workspace can conclude experiments."
CONCLUDABLE = (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED)


def _learning_of(experiment: Experiment) -> Learning | None:
    return Learning.objects.filter(
        workspace_id=experiment.workspace_id, experiment=experiment
    ).first()


@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def conclude(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    """GET: the dialog's form (a fragment for htmx, a page otherwise); POST: conclude."""
    experiment = get_object_or_404(
        Experiment.objects.prefetch_related("variants"),
        workspace=membership.workspace,
        key=key,
    )
    variants = [(v.key, v.name or v.key) for v in experiment.variants.all() if not v.is_control]
    fragment = is_htmx(request)
    concludable = experiment.status in CONCLUDABLE
    if request.method == "POST":
        form = ConcludeForm(request.POST, variants=variants)
        if form.is_valid():
            data = form.cleaned_data
            try:
                experiment_conclude(
                    experiment=experiment,
                    decision=data["decision"],
                    rationale=data["rationale"],
                    variant=data["variant"] if data["decision"] == "ship" else "",
                    actor=request.user,
                )
            except DomainError as error:
                attach_errors(form, error)
            else:
                # Safe to repeat after the hook: it stores the insight the person wrote.
                learning = learning_record_from_experiment(
                    experiment=experiment, actor=request.user, learned=data["learned"]
                )
                if fragment:
                    return render(
                        request,
                        "learnings/_conclude_done.html",
                        {"experiment": experiment, "learning": learning},
                    )
                messages.success(
                    request,
                    f"“{experiment.name}” is concluded ({experiment.get_decision_display()}). "
                    "Its learning is recorded with what you learned.",
                )
                return redirect("learnings_web:detail", learning_id=learning.pk)
    else:
        verdict = experiment_verdict(experiment=experiment) if concludable else ""
        form = ConcludeForm(variants=variants, verdict=verdict)
    context = {
        "in_dialog": fragment,
        "form": form,
        "experiment": experiment,
        "concludable": concludable,
        "learning": None if concludable else _learning_of(experiment),
    }
    template = "learnings/_conclude_form.html" if fragment else "learnings/conclude.html"
    return render(request, template, context)
