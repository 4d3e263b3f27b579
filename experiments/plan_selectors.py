"""Reads of templates and pre-registered plans: the workspace's templates, an experiment's plan
(current and frozen, with its amendments from the audit log), and how far an experiment has come
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from experiments.contracts import AnalysisOutputs
from experiments.decision_rules import DecisionRule, MetricRef, PlanProgress, PlanSpec, rule_text
from experiments.models import (
    Experiment,
    ExperimentPlan,
    ExperimentTemplate,
    MetricRole,
)
from plg_platform.errors import NotFound
from plg_platform.models import AuditLog, Workspace

TEMPLATE_NOT_FOUND = "No experiment template {key!r} in this workspace."
AMENDMENT_ACTION = "experiment.plan_amend"


def templates_list(*, workspace: Workspace) -> QuerySet[ExperimentTemplate]:
    """The workspace's templates by name, each with ``experiments_count`` (experiments
    created from it)."""
    return (
        ExperimentTemplate.objects.filter(workspace=workspace)
        .prefetch_related("metric_links__metric")
        .annotate(experiments_count=Count("experiment_plans"))
        .order_by("name", "id")
    )


def template_get(*, workspace: Workspace, key: str) -> ExperimentTemplate:
    """Return the workspace's template ``key``, or a 404 naming it."""
    template = ExperimentTemplate.objects.filter(workspace=workspace, key=key).first()
    if template is None:
        raise NotFound(TEMPLATE_NOT_FOUND.format(key=key), field="template")
    return template


@dataclass(frozen=True)
class MetricsByRole:
    primary: MetricRef | None
    secondary: tuple[MetricRef, ...]
    guardrail: tuple[MetricRef, ...]

    @classmethod
    def of(cls, links: list[Any]) -> MetricsByRole:
        """From metric links (of an experiment or a template) with their metrics loaded."""
        refs = {
            role: tuple(MetricRef(x.metric.key, x.metric.name) for x in links if x.role == role)
            for role in MetricRole.values
        }
        primary = refs[MetricRole.PRIMARY]
        return cls(
            primary=primary[0] if primary else None,
            secondary=refs[MetricRole.SECONDARY],
            guardrail=refs[MetricRole.GUARDRAIL],
        )


def template_metrics(template: ExperimentTemplate) -> MetricsByRole:
    """The template's metrics by role (reads prefetched links when there are)."""
    return MetricsByRole.of(list(template.metric_links.all()))


def template_plan(template: ExperimentTemplate) -> PlanSpec:
    """The plan an experiment created from ``template`` starts with."""
    metrics = template_metrics(template)
    return PlanSpec(
        primary_metric=metrics.primary,
        secondary_metrics=metrics.secondary,
        guardrail_metrics=metrics.guardrail,
        planned_mde=template.planned_mde,
        min_runtime_days=template.min_runtime_days,
        planned_units_per_variant=template.planned_units_per_variant,
        engine=template.engine,
        alpha=template.alpha,
        sequential=template.sequential,
        sequential_tuning=template.sequential_tuning,
        correction=template.correction,
        cuped=template.cuped,
        decision_rule=DecisionRule.from_json(template.decision_rule),
        template=template.key,
    )


# --- An experiment's plan ----------------------------------------------------------------------


def plan_record(experiment: Experiment) -> ExperimentPlan | None:
    """The experiment's plan row (None for an experiment created before plans existed)."""
    return ExperimentPlan.objects.filter(experiment=experiment).select_related("template").first()


def current_plan(experiment: Experiment, record: ExperimentPlan | None = None) -> PlanSpec:
    """The plan as the experiment's fields say now (what would be frozen if it started now)."""
    metrics = MetricsByRole.of(list(experiment.metric_links.select_related("metric")))
    return PlanSpec(
        primary_metric=metrics.primary,
        secondary_metrics=metrics.secondary,
        guardrail_metrics=metrics.guardrail,
        planned_mde=experiment.planned_mde,
        min_runtime_days=experiment.planned_duration_days,
        planned_units_per_variant=experiment.planned_sample_size_per_variant,
        engine=experiment.engine,
        alpha=experiment.alpha,
        sequential=experiment.sequential,
        sequential_tuning=experiment.sequential_tuning,
        correction=experiment.correction,
        cuped=experiment.cuped,
        decision_rule=DecisionRule.from_json(record.decision_rule if record else None),
        template=record.template.key if record is not None and record.template else "",
    )


@dataclass(frozen=True)
class AmendmentChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Amendment:
    """One change of planned fields after the plan was frozen, as the audit log recorded it."""

    at: datetime
    actor: str  # e-mail, or "" when made by the system
    reason: str
    changes: tuple[AmendmentChange, ...]


@dataclass(frozen=True)
class ExperimentPlanView:
    """An experiment's plan: the current one, the frozen one (None before the first start, or
    for experiments started before plans were frozen) and the amendments since."""

    current: PlanSpec
    current_rule_text: str
    frozen: PlanSpec | None
    frozen_at: datetime | None
    frozen_rule_text: str
    template_key: str
    template_name: str  # "" when it was deleted since
    amendments: tuple[Amendment, ...]


def plan_amendments(experiment: Experiment) -> tuple[Amendment, ...]:
    """The plan's amendments, oldest first."""
    rows = (
        AuditLog.objects.filter(
            workspace_id=experiment.workspace_id,
            object_type=Experiment._meta.label_lower,
            object_id=str(experiment.pk),
            action=AMENDMENT_ACTION,
        )
        .select_related("actor")
        .order_by("created_at", "id")
    )
    return tuple(
        Amendment(
            at=row.created_at,
            actor=getattr(row.actor, "email", "") if row.actor is not None else "",
            reason=row.changes.get("reason", ""),
            changes=tuple(
                AmendmentChange(field=name, before=change.get("from"), after=change.get("to"))
                for name, change in row.changes.get("fields", {}).items()
            ),
        )
        for row in rows
    )


def experiment_plan(experiment: Experiment) -> ExperimentPlanView:
    record = plan_record(experiment)
    current = current_plan(experiment, record)
    frozen = PlanSpec.from_json(record.frozen) if record and record.frozen else None
    template = record.template if record is not None else None
    return ExperimentPlanView(
        current=current,
        current_rule_text=rule_text(current),
        frozen=frozen,
        frozen_at=record.frozen_at if record is not None else None,
        frozen_rule_text=rule_text(frozen) if frozen is not None else "",
        template_key=frozen.template if frozen is not None else current.template,
        template_name=template.name if template is not None else "",
        amendments=plan_amendments(experiment) if frozen is not None else (),
    )


def plan_progress(
    *, experiment: Experiment, outputs: AnalysisOutputs, cutoff: datetime
) -> PlanProgress:
    """Whole days from the experiment's first phase to the cut-off (or its stop, if earlier),
    and the primary metric's matured units in its smallest variant."""
    first = experiment.phases.order_by("number").values_list("started_at", flat=True).first()
    start = first or experiment.started_at
    end = cutoff
    if experiment.stopped_at is not None and experiment.stopped_at < end:
        end = experiment.stopped_at
    days = max((end - start).days, 0) if start is not None else 0
    primary = outputs.primary
    units = min((v.units for v in primary.variants), default=0) if primary is not None else 0
    return PlanProgress(days_run=days, units_per_variant=units)
