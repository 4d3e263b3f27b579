"""Pages of experiments: the list, one experiment (with its pre-registered plan), and the design
flow (create, from a template or not, and edit, with a live plan estimate). Start, stop and
archive are in ``lifecycle``, templates in ``templates``. Concluding is a page of the learnings
app (it records the experiment's learning, and experiments sit below learnings); the detail page
opens it in a dialog.

Writes go through ``experiments.services.design``; its errors are shown beside the field they
name. Reads need the viewer role, changes the editor role; another workspace's experiment is
simply not found.

At about 430 lines it stays one module for now: the design form page, its live plan estimate
and the detail page share the traffic and plan helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from experiments.decision_rules import DecisionRule
from experiments.forms.base import MAX_VARIANTS
from experiments.forms.design import (
    ExperimentFilterForm,
    ExperimentForm,
    ExperimentPlanForm,
    VariantFormSet,
    variant_specs,
)
from experiments.forms.templates import DecisionRuleForm
from experiments.models import Experiment, ExperimentStatus, ExperimentTemplate, MetricRole
from experiments.plan_selectors import experiment_plan
from experiments.selectors import experiments_list, exposure_counts
from experiments.services.design import (
    design_of,
    experiment_create,
    experiment_update,
)
from experiments.stats import StatsInputError, plan
from experiments.traffic import (
    DAILY_ACTIVES,
    SIGNUPS,
    DailyTraffic,
    daily_traffic_read,
    traffic_source,
)
from experiments.views.base import (
    percent,
    posted_rows,
    rows_plus_one,
    unbound_initial,
    workspace_page,
)
from experiments.views.calculator import LONG_RUN, LONG_RUN_DAYS, SHORTER_GENERIC, plan_view
from experiments.views.plan_blocks import amendment_rows, plan_facts
from experiments.views.templates import new_design, template_from_query, template_initial
from metrics.public import metrics_list, sources_list
from plg_platform.errors import DomainError
from plg_platform.models import ApiKeyKind, Membership, Role, Workspace
from plg_platform.selectors import api_keys_list
from plg_platform.web.pages import attach_errors

PAGE_SIZE = 25
NOT_EDITABLE_PAGE = "A {status} experiment cannot be edited."
NO_SIZE_REASON = (
    "Not computed: the plan has no baseline of the primary metric. Edit the plan and give "
    "the current rate (or mean and standard deviation) to compute it."
)
NO_DURATION_REASON = "Not computed: the plan was saved without the daily traffic."


def _experiment(membership: Membership, key: str) -> Experiment:
    return get_object_or_404(
        Experiment.objects.select_related("owner"), workspace=membership.workspace, key=key
    )


@dataclass(frozen=True)
class ExperimentRow:
    experiment: Experiment
    primary_metric: str
    variants: int
    days_running: int | None


def _days_running(experiment: Experiment) -> int | None:
    if experiment.started_at is None:
        return None
    end = experiment.stopped_at if experiment.status != ExperimentStatus.RUNNING else None
    return max(((end or timezone.now()) - experiment.started_at).days, 0)


@workspace_page()
def experiment_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    filters = ExperimentFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    queryset = experiments_list(
        workspace=membership.workspace,
        status=values.get("status") or None,
        search=values.get("q") or None,
    )
    if values.get("funnel_stage"):
        queryset = queryset.filter(funnel_stage=values["funnel_stage"])
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for experiment in page:
        links = list(experiment.metric_links.all())  # prefetched with their metrics
        primary = next((link.metric for link in links if link.role == MetricRole.PRIMARY), None)
        rows.append(
            ExperimentRow(
                experiment=experiment,
                primary_metric=primary.name if primary is not None else "—",
                variants=len(experiment.variants.all()),
                days_running=_days_running(experiment),
            )
        )
    counts = dict(
        Experiment.objects.filter(workspace=membership.workspace)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "experiments/list.html",
        {
            "filters": filters,
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "status_counts": [
                (value, label, counts[value])
                for value, label in ExperimentStatus.choices
                if counts.get(value)
            ],
            "total": sum(counts.values()),
            "filtered": any(values.values()),
            "can_edit": membership.has_role(Role.EDITOR),
        },
    )


@workspace_page()
def experiment_detail(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    experiment = _experiment(membership, key)
    links = list(experiment.metric_links.select_related("metric"))
    by_role = {role: [link.metric for link in links if link.role == role] for role in MetricRole}
    status = experiment.status
    exposures = exposure_counts(experiment=experiment)
    plan = experiment_plan(experiment)
    exposed: dict[str, int] = {}
    for by_variant in exposures.included.values():
        for variant_key, units in by_variant.items():
            exposed[variant_key] = exposed.get(variant_key, 0) + units
    return render(
        request,
        "experiments/detail.html",
        {
            "experiment": experiment,
            "variant_rows": [
                (v, percent(v.weight), exposed.get(v.key, 0)) for v in experiment.variants.all()
            ],
            "coverage_percent": percent(experiment.coverage),
            "planned_mde_percent": (
                percent(experiment.planned_mde) if experiment.planned_mde else None
            ),
            "primary_metrics": by_role[MetricRole.PRIMARY],
            "secondary_metrics": by_role[MetricRole.SECONDARY],
            "guardrail_metrics": by_role[MetricRole.GUARDRAIL],
            "no_size_reason": NO_SIZE_REASON,
            "no_duration_reason": NO_DURATION_REASON,
            "long_run": _saved_long_run(experiment),
            "phases": list(experiment.phases.all()),
            "plan": plan,
            "plan_facts": plan_facts(plan.frozen or plan.current),
            "amendments": amendment_rows(plan),
            "exposures": exposures,
            "days_running": _days_running(experiment),
            "can_edit": membership.has_role(Role.EDITOR),
            "sdk": _sdk_snippets(request, experiment)
            if status == ExperimentStatus.RUNNING
            else None,
            "editable": status not in (ExperimentStatus.CONCLUDED, ExperimentStatus.ARCHIVED),
            "can_start": status in (ExperimentStatus.DRAFT, ExperimentStatus.STOPPED),
            "can_stop": status == ExperimentStatus.RUNNING,
            "can_conclude": status in (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED),
            "can_archive": status
            in (ExperimentStatus.DRAFT, ExperimentStatus.STOPPED, ExperimentStatus.CONCLUDED),
        },
    )


def _sdk_snippets(request: HttpRequest, experiment: Experiment) -> dict[str, Any]:
    """What a running experiment's integration needs: the payload URL and the keys."""
    sdk_key = (
        api_keys_list(workspace=experiment.workspace)
        .filter(kind=ApiKeyKind.SDK, revoked_at__isnull=True)
        .first()
    )
    return {
        "base_url": request.build_absolute_uri("/").rstrip("/"),
        "key_prefix": sdk_key.prefix if sdk_key is not None else None,
        "variant_keys": [v.key for v in experiment.variants.all()],
    }


def _saved_long_run(experiment: Experiment) -> dict[str, str] | None:
    days = experiment.planned_duration_days
    if days is None or days <= LONG_RUN_DAYS:
        return None
    return {
        "warning": LONG_RUN.format(days=days, weeks=LONG_RUN_DAYS // 7),
        "generic": SHORTER_GENERIC,
    }


def _metric_choices(workspace: Workspace) -> list[tuple[str, str]]:
    return [(m.key, f"{m.name} ({m.key})") for m in metrics_list(workspace=workspace)]


def _plan_values(form: ExperimentPlanForm, n_variants: int) -> dict[str, Any] | None:
    """Planned sizes and duration from the form's baseline and MDE (None when not given)."""
    if not form.has_plan():
        return None
    response = plan(form.power_request(n_variants=n_variants))
    return {
        "planned_sample_size_per_variant": response.sample_size_per_variant,
        "planned_duration_days": response.duration_days,
    }


def _traffic(workspace: Workspace) -> dict[str, DailyTraffic]:
    """Both candidate daily traffics by KPI key; the stage picks which one pre-fills."""
    return {
        source.kpi: daily_traffic_read(workspace=workspace, source=source)
        for source in (SIGNUPS, DAILY_ACTIVES)
    }


def _prefilled_traffic(workspace: Workspace, funnel_stage: str) -> int | None:
    source = traffic_source(funnel_stage)
    return daily_traffic_read(workspace=workspace, source=source).rounded


BLANK_VARIANT_ROW = {"key": "", "name": "", "weight": ""}
NEW_VARIANTS = [
    {"key": "control", "name": "Control", "weight": 50},
    {"key": "treatment", "name": "Treatment", "weight": 50},
]


def _design_form_page(
    request: HttpRequest,
    membership: Membership,
    *,
    experiment: Experiment | None,
    initial: dict[str, Any],
    initial_variants: list[dict[str, Any]],
    template: ExperimentTemplate | None = None,
) -> HttpResponse:
    """The create and edit flow: one form, one formset of variants, one service call."""
    workspace = membership.workspace
    running = experiment is not None and experiment.status == ExperimentStatus.RUNNING
    plan = experiment_plan(experiment) if experiment is not None else None
    kwargs = {
        "metric_choices": _metric_choices(workspace),
        "source_choices": [(s.pk, s.name) for s in sources_list(workspace=workspace)],
        "editing": experiment is not None,
        "running": running,
        "needs_reason": plan is not None and plan.frozen is not None,
    }
    variant_errors: list[str] = []
    if request.method == "POST":
        form = ExperimentForm(request.POST, initial=initial, **kwargs)
        variants = VariantFormSet(request.POST, prefix="variants")
        if "add_variant" in request.POST:
            form = ExperimentForm(
                initial={**initial, **unbound_initial(form, request.POST)}, **kwargs
            )
            variants = VariantFormSet(
                prefix="variants",
                initial=rows_plus_one(VariantFormSet, request.POST, "variants", BLANK_VARIANT_ROW),
            )
        elif form.is_valid() and variants.is_valid():
            specs = variant_specs(variants)
            try:
                planned = _plan_values(form, len(specs))
                if experiment is None:
                    saved = experiment_create(
                        workspace=workspace,
                        design=new_design(form, specs, planned, template),
                        actor=request.user,
                        template=template,
                    )
                    messages.success(request, f"Experiment “{saved.name}” saved as a draft.")
                else:
                    changes = form.design_changes(specs)
                    if planned is not None:
                        changes.update(planned)
                    elif changes["planned_mde"] != experiment.planned_mde:
                        # A new MDE without a baseline: the old sizes no longer apply.
                        changes.update(
                            planned_sample_size_per_variant=None, planned_duration_days=None
                        )
                    changes["decision_rule"] = form.decision_rule(plan.current.decision_rule)
                    reason = form.cleaned_data.get("phase_reason", "")
                    saved = experiment_update(
                        experiment=experiment,
                        changes=changes,
                        actor=request.user,
                        phase_reason=reason,
                        reason=reason,
                    )
                    messages.success(request, "Changes saved.")
                return redirect("experiments_web:detail", key=saved.key)
            except (DomainError, StatsInputError) as error:
                attach_errors(
                    form,
                    error,
                    fields={"reason": "phase_reason"},
                    outside={"variants": variant_errors},
                )
    else:
        form = ExperimentForm(initial=initial, **kwargs)
        variants = VariantFormSet(prefix="variants", initial=initial_variants)
    stage = form["funnel_stage"].value() or ""
    traffic = _traffic(workspace)
    return render(
        request,
        "experiments/form.html",
        {
            "form": form,
            "variants": variants,
            "variant_errors": variant_errors,
            "experiment": experiment,
            "running": running,
            "traffic": traffic[traffic_source(stage).kpi],
            "other_traffic": next(
                t for kpi, t in traffic.items() if kpi != traffic_source(stage).kpi
            ),
            "has_metrics": bool(form.fields["primary_metric"].choices[1:]),
            "max_variants": MAX_VARIANTS,
            "template": template,
            "plan": plan,
        },
    )


@workspace_page(Role.EDITOR)
def experiment_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    """A new draft; ``?template=<key>`` fills in the template's metrics, plan, settings and
    decision rule (the form posts the key back, and the template is copied on save)."""
    template = template_from_query(
        membership, request.POST.get("template") or request.GET.get("template")
    )
    initial: dict[str, Any] = {
        "coverage": 100,
        "alpha": 0.05,
        "funnel_stage": request.GET.get("funnel_stage", ""),
        "daily_traffic": _prefilled_traffic(
            membership.workspace, request.GET.get("funnel_stage", "")
        ),
        **DecisionRuleForm.rule_initial(DecisionRule()),
    }
    if template is not None:
        initial.update(template_initial(template))
    return _design_form_page(
        request,
        membership,
        experiment=None,
        initial=initial,
        initial_variants=NEW_VARIANTS,
        template=template,
    )


@workspace_page(Role.EDITOR)
def experiment_edit(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    experiment = _experiment(membership, key)
    if experiment.status in (ExperimentStatus.CONCLUDED, ExperimentStatus.ARCHIVED):
        messages.error(request, NOT_EDITABLE_PAGE.format(status=experiment.get_status_display()))
        return redirect("experiments_web:detail", key=experiment.key)
    design = design_of(experiment)
    initial = {
        name: getattr(design, name)
        for name in (
            "key",
            *ExperimentForm.DESIGN_FIELDS,
            "secondary_metrics",
            "guardrail_metrics",
        )
    }
    initial["coverage"] = percent(design.coverage)
    initial["planned_mde"] = percent(design.planned_mde) if design.planned_mde else None
    initial["daily_traffic"] = _prefilled_traffic(membership.workspace, design.funnel_stage)
    initial["source"] = design.source
    initial["source_experiment_id"] = design.source_experiment_id
    initial.update(DecisionRuleForm.rule_initial(design.decision_rule))
    ordered = sorted(design.variants, key=lambda v: not v.is_control)  # control first
    initial_variants = [
        {"key": v.key, "name": v.name, "weight": percent(v.weight)} for v in ordered
    ]
    return _design_form_page(
        request,
        membership,
        experiment=experiment,
        initial=initial,
        initial_variants=initial_variants,
    )


@require_POST
@workspace_page(Role.EDITOR)
def plan_preview(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The design form's live estimate (htmx): sizes and duration for the plan as typed."""
    form = ExperimentPlanForm(request.POST)
    n_variants = sum(
        1
        for i in range(posted_rows(request.POST, "variants"))
        if request.POST.get(f"variants-{i}-key", "").strip()
    )
    context: dict[str, Any] = {"form": form, "n_variants": max(n_variants, 2)}
    if form.is_valid() and form.has_plan():
        try:
            power_request = form.power_request(n_variants=context["n_variants"])
            context["plan"] = plan_view(power_request, plan(power_request))
        except StatsInputError as error:
            context["error"] = error.message
    return render(request, "experiments/_plan_preview.html", context)
