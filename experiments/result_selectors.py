"""Results of the analyses: what the results page and the results API show.

Every value is read from stored snapshots through ``experiments.contracts``; nothing here
computes a statistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from experiments.contracts import (
    AnalysisOutputs,
    Banner,
    CumulativePoint,
    Health,
    Maturity,
    MetricResult,
    ResultsDecision,
)
from experiments.models import (
    Experiment,
    ExperimentStatus,
    Exposure,
    PendingAnalysis,
    Phase,
    ResultSnapshot,
)
from experiments.plan_decisions import plan_decision
from experiments.plan_selectors import ExperimentPlanView, experiment_plan, plan_progress
from experiments.verdicts import (
    ROLL_BACK,
    SHIP,
    results_decision,
    results_verdict,
)
from metrics.public import metric_definition, metric_get
from plg_platform.errors import NotFound
from plg_platform.models import BackgroundJob
from plg_platform.services.ingestion import from_epoch_us, to_epoch_us

# Lift-over-time charts show at most this many analyses (the most recent ones).
HISTORY_LIMIT = 200
JOB_NOT_FOUND = "No analysis job {id} for this experiment."
SNAPSHOT_NOT_FOUND = "No snapshot {id} for this experiment."


@dataclass(frozen=True)
class HistoryPoint:
    """One analysis of one comparison: the lift and its interval at a data cut-off."""

    snapshot_id: int
    data_cutoff: datetime
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool
    units: int  # the smaller variant's units with a value


@dataclass(frozen=True)
class ComparisonHistory:
    """Lift over time of one metric × treatment variant (for a lift-over-time chart)."""

    metric_key: str
    metric_name: str
    variant: str
    points: tuple[HistoryPoint, ...]


@dataclass(frozen=True)
class ForestPoint:
    """One row of a forest plot: a metric × variant lift with its interval."""

    metric_key: str
    metric_name: str
    role: str
    variant: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    significant: bool
    verdict: str
    higher_is_better: bool


@dataclass(frozen=True)
class SegmentBreakdown:
    """Results of every metric in each value of one segment property."""

    property: str
    values: tuple[str, ...]
    metrics: tuple[MetricResult, ...]


@dataclass(frozen=True)
class PendingJob:
    job_id: int
    task_id: str
    status: str
    progress: float
    message: str


@dataclass(frozen=True)
class ExperimentResults:
    """Everything a results page shows for the latest analysis of an experiment's phase.

    ``metrics`` are the snapshot's overall results (``variants`` with units and values,
    ``comparisons`` with effect, interval, p-value or chance to win, verdict and the
    plain-language ``summary``), ``summaries`` one paragraph per metric, ``banners`` the health
    warnings (SRM, guardrails, multiple exposures, too little data), most serious first;
    ``health`` is None before the first analysis.
    """

    experiment_key: str
    experiment_name: str
    status: str
    snapshot_id: int | None
    phase: int | None
    data_cutoff: datetime | None
    engine_version: str | None
    run_seconds: float | None
    settings: dict[str, Any]
    verdict: str
    banners: tuple[Banner, ...]
    metrics: tuple[MetricResult, ...]
    summaries: dict[str, str]
    forest: tuple[ForestPoint, ...]
    history: tuple[ComparisonHistory, ...]
    segments: tuple[SegmentBreakdown, ...]
    health: Health | None
    pending: PendingJob | None
    decision: ResultsDecision | None = None
    maturity: Maturity | None = None
    variant_names: dict[str, str] = field(default_factory=dict)
    finished: bool = False
    cumulative: tuple[CumulativePoint, ...] = ()  # lift by day of first exposure
    # The pre-registered plan; ``decision`` follows its frozen rule when there is one, and
    # ``amended_decision`` is what the amended (current) plan would say, when that differs.
    plan: ExperimentPlanView | None = None
    amended_decision: ResultsDecision | None = None


DAY_US = 86_400_000_000
FINISHED_STATUSES = (
    ExperimentStatus.STOPPED,
    ExperimentStatus.CONCLUDED,
    ExperimentStatus.ARCHIVED,
)


def exposure_maturity(*, phase: Phase, maturity_days: int, cutoff: datetime) -> Maturity:
    """Units of the phase exposed (units seen in two variants or held out left out) and matured
    by ``cutoff``, by the rule the metric compiler applies: exposed + window ≤ cut-off."""
    window_us = maturity_days * DAY_US
    counts = Exposure.objects.filter(phase=phase, excluded=False, held_out=False).aggregate(
        exposed=Count("id"),
        matured=Count("id", filter=Q(exposed_at_us__lte=to_epoch_us(cutoff) - window_us)),
        first=Min("exposed_at_us"),
        last=Max("exposed_at_us"),
    )
    first, last = counts["first"], counts["last"]
    return Maturity(
        units_exposed=counts["exposed"],
        units_matured=counts["matured"],
        maturity_days=maturity_days,
        first_exposed_at=from_epoch_us(first) if first is not None else None,
        first_result_at=from_epoch_us(first + window_us) if first is not None else None,
        all_matured_at=from_epoch_us(last + window_us) if last is not None else None,
    )


def _live_maturity(experiment: Experiment) -> Maturity | None:
    """Exposed and matured units now, before the first analysis (None before the start)."""
    phase = experiment.phases.order_by("-number").first()
    if phase is None:
        return None
    keys = phase.metric_keys.get("primary") or []
    days = 0
    if keys:
        try:
            days = metric_definition(
                metric_get(workspace=experiment.workspace, key=keys[0])
            ).maturity_days
        except NotFound:
            days = 0
    return exposure_maturity(phase=phase, maturity_days=days, cutoff=timezone.now())


def _pending_job(experiment: Experiment) -> PendingJob | None:
    pending = PendingAnalysis.objects.filter(experiment=experiment).select_related("job").first()
    if pending is None:
        return None
    job = pending.job
    return PendingJob(job.pk, pending.task_id, job.status, job.progress, job.message)


def _forest(metrics: tuple[MetricResult, ...]) -> tuple[ForestPoint, ...]:
    return tuple(
        ForestPoint(
            metric_key=m.key,
            metric_name=m.name,
            role=m.role,
            variant=c.variant,
            effect=c.effect,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            ci_level=c.ci_level,
            significant=c.significant,
            verdict=c.verdict,
            higher_is_better=m.higher_is_better,
        )
        for m in metrics
        for c in m.comparisons
    )


def results_history(
    *, experiment: Experiment, phase_id: int, limit: int = HISTORY_LIMIT
) -> tuple[ComparisonHistory, ...]:
    """Lift and interval of every overall comparison in each analysis of the phase, oldest
    first. Only the snapshots' overall results are read from the database, not their inputs
    or segments."""
    rows = list(
        ResultSnapshot.objects.filter(experiment=experiment, phase_id=phase_id)
        .order_by("-data_cutoff", "-id")
        .annotate(overall=KeyTransform("metrics", "outputs"))
        .values("id", "data_cutoff", "overall")[:limit]
    )
    rows.reverse()
    series: dict[tuple[str, str], list[HistoryPoint]] = {}
    names: dict[str, str] = {}
    for row in rows:
        for metric in (MetricResult.from_json(m) for m in row["overall"] or []):
            names[metric.key] = metric.name
            for c in metric.comparisons:
                series.setdefault((metric.key, c.variant), []).append(
                    HistoryPoint(
                        snapshot_id=row["id"],
                        data_cutoff=row["data_cutoff"],
                        effect=c.effect,
                        ci_low=c.ci_low,
                        ci_high=c.ci_high,
                        significant=c.significant,
                        units=metric.smallest_n,
                    )
                )
    return tuple(
        ComparisonHistory(metric_key=key, metric_name=names[key], variant=variant, points=tuple(p))
        for (key, variant), p in series.items()
    )


def _breakdowns(entries: tuple[MetricResult, ...]) -> tuple[SegmentBreakdown, ...]:
    by_property: dict[str, list[MetricResult]] = {}
    for entry in entries:
        if entry.segment is not None:
            by_property.setdefault(entry.segment.property, []).append(entry)
    return tuple(
        SegmentBreakdown(
            property=prop,
            values=tuple(dict.fromkeys(e.segment.value for e in rows if e.segment is not None)),
            metrics=tuple(rows),
        )
        for prop, rows in by_property.items()
    )


def experiment_results(
    *, experiment: Experiment, phase_number: int | None = None
) -> ExperimentResults:
    """The latest snapshot of the experiment's phase (the latest phase by default), its
    history and health; empty results (with any pending job) before the first analysis."""
    snapshots = ResultSnapshot.objects.filter(experiment=experiment).select_related("phase")
    if phase_number is not None:
        snapshots = snapshots.filter(phase__number=phase_number)
    snapshot = snapshots.order_by("-phase__number", "-data_cutoff", "-id").first()
    pending = _pending_job(experiment)
    names = dict(experiment.variants.values_list("key", "name"))
    finished = experiment.status in FINISHED_STATUSES
    plan = experiment_plan(experiment)
    if snapshot is None:
        return ExperimentResults(
            experiment_key=experiment.key,
            experiment_name=experiment.name,
            status=experiment.status,
            snapshot_id=None,
            phase=phase_number,
            data_cutoff=None,
            engine_version=None,
            run_seconds=None,
            settings={},
            verdict="No analysis yet.",
            banners=(),
            metrics=(),
            summaries={},
            forest=(),
            history=(),
            segments=(),
            health=None,
            pending=pending,
            maturity=_live_maturity(experiment),
            variant_names=names,
            finished=finished,
            plan=plan,
        )
    outputs = AnalysisOutputs.from_json(snapshot.outputs)
    health = Health.from_json(snapshot.health)
    decision, amended = _decisions(experiment, plan, snapshot, outputs, health, names)
    banners = health.banners
    if finished or decision.action in (SHIP, ROLL_BACK):
        # "Too little data, keep collecting" would contradict the decision (older snapshots
        # stored it beside decisive results; a finished experiment collects nothing more).
        banners = tuple(b for b in banners if b.check != "power")
    return ExperimentResults(
        experiment_key=experiment.key,
        experiment_name=experiment.name,
        status=experiment.status,
        snapshot_id=snapshot.pk,
        phase=snapshot.phase.number,
        data_cutoff=snapshot.data_cutoff,
        engine_version=snapshot.engine_version,
        run_seconds=snapshot.run_seconds,
        settings=snapshot.settings,
        verdict=results_verdict(outputs, health, finished=True) if finished else outputs.verdict,
        banners=banners,
        metrics=outputs.metrics,
        summaries={m.key: m.summary for m in outputs.metrics},
        forest=_forest(outputs.metrics),
        history=results_history(experiment=experiment, phase_id=snapshot.phase_id),
        segments=_breakdowns(outputs.segments),
        health=health,
        pending=pending,
        decision=decision,
        maturity=outputs.maturity,
        variant_names=names,
        finished=finished,
        cumulative=outputs.cumulative,
        plan=plan,
        amended_decision=amended,
    )


def _decisions(
    experiment: Experiment,
    plan: ExperimentPlanView,
    snapshot: ResultSnapshot,
    outputs: AnalysisOutputs,
    health: Health,
    names: dict[str, str],
) -> tuple[ResultsDecision, ResultsDecision | None]:
    """The decision by the frozen plan's rule (the plain decision line for experiments started
    before plans were frozen), and the amended plan's when it says something else."""
    finished = experiment.status in FINISHED_STATUSES
    if plan.frozen is None:
        return results_decision(outputs, health, finished=finished, names=names), None
    progress = plan_progress(experiment=experiment, outputs=outputs, cutoff=snapshot.data_cutoff)
    decision = plan_decision(plan.frozen, outputs, health, progress, finished=finished, names=names)
    if not plan.amendments:
        return decision, None
    amended = plan_decision(plan.current, outputs, health, progress, finished=finished, names=names)
    same = (amended.action, amended.clause) == (decision.action, decision.clause)
    return decision, None if same else amended


def snapshot_get(*, experiment: Experiment, snapshot_id: int) -> ResultSnapshot:
    snapshot = (
        ResultSnapshot.objects.filter(experiment=experiment, pk=snapshot_id)
        .select_related("phase")
        .first()
    )
    if snapshot is None:
        raise NotFound(SNAPSHOT_NOT_FOUND.format(id=snapshot_id), field="snapshot")
    return snapshot


def analysis_job_get(*, experiment: Experiment, job_id: int) -> BackgroundJob:
    """An analysis job of the experiment (its subject is the experiment's key), or a 404."""
    job = BackgroundJob.objects.filter(
        workspace_id=experiment.workspace_id, pk=job_id, subject=experiment.key
    ).first()
    if job is None:
        raise NotFound(JOB_NOT_FOUND.format(id=job_id), field="job")
    return job
