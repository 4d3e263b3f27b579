"""Read queries of experiments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from experiments.models import (
    Decision,
    Experiment,
    ExperimentStatus,
    Exposure,
    Notification,
    PendingAnalysis,
    ResultSnapshot,
    Webhook,
    WebhookDelivery,
)
from outcomes.okrs.contracts import LinkedExperiment
from outcomes.okrs.models import KeyResult
from plg_platform.errors import NotFound
from plg_platform.models import BackgroundJob, Workspace


def experiments_list(
    *, workspace: Workspace, status: str | None = None, search: str | None = None
) -> QuerySet[Experiment]:
    queryset = (
        Experiment.objects.filter(workspace=workspace)
        .prefetch_related("variants", "phases", "metric_links__metric")
        .select_related("owner")
    )
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(key__icontains=search))
    return queryset.order_by("-created_at")


# --- Exposures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureCounts:
    """Exposed units of one experiment: those analysed, per phase and variant, and those left out
    because they saw more than one variant (a health check warns when their share is high)."""

    included: dict[int, dict[str, int]]  # phase number -> variant key -> units
    excluded_units: int

    @property
    def included_units(self) -> int:
        return sum(n for by_variant in self.included.values() for n in by_variant.values())

    @property
    def excluded_share(self) -> float:
        """Return the share of exposed units seen in more than one variant (0 when none)."""
        total = self.included_units + self.excluded_units
        return self.excluded_units / total if total else 0.0


def exposure_counts(*, experiment: Experiment) -> ExposureCounts:
    """Count exposed units in one grouped query (phase of first exposure × variant × excluded)."""
    rows = (
        Exposure.objects.filter(experiment=experiment)
        .values("phase__number", "variant", "excluded")
        .annotate(units=Count("id"))
        .order_by()
    )
    included: dict[int, dict[str, int]] = {}
    excluded = 0
    for row in rows:
        if row["excluded"]:
            excluded += row["units"]
        else:
            included.setdefault(row["phase__number"], {})[row["variant"]] = row["units"]
    return ExposureCounts(included=included, excluded_units=excluded)


# --- Results, as other apps see them (frozen dataclasses cross app boundaries) ---------------


@dataclass(frozen=True)
class ComparisonSummary:
    """One treatment against the control on one metric (overall, not a segment)."""

    metric_key: str
    metric_name: str
    metric_role: str  # primary | secondary | guardrail
    metric_tags: tuple[str, ...]  # e.g. ("acquisition",), ("retention",)
    higher_is_better: bool
    variant: str
    effect: float | None  # relative lift when difference == "relative", else absolute
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    verdict: str  # "win" | "loss" | "flat" | "inconclusive"
    summary: str  # the plain-language sentence


@dataclass(frozen=True)
class ResultSummary:
    """The latest analysis of an experiment, as learnings and outcomes need it."""

    experiment_key: str
    snapshot_id: int
    data_cutoff: datetime
    engine: str
    difference: str
    comparisons: tuple[ComparisonSummary, ...]
    srm_flag: bool

    def for_metric(self, metric_key: str) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_key == metric_key)

    @property
    def primary(self) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_role == "primary")


def experiment_result_summary(*, experiment: Experiment) -> ResultSummary | None:
    """Return the latest snapshot's overall comparisons, or None before the first analysis."""
    snapshot = experiment.snapshots.order_by("-data_cutoff", "-id").first()
    if snapshot is None:
        return None
    comparisons = []
    for metric in snapshot.outputs.get("metrics", []):
        if metric.get("segment") is not None:
            continue
        for c in metric["comparisons"]:
            comparisons.append(
                ComparisonSummary(
                    metric_key=metric["key"],
                    metric_name=metric["name"],
                    metric_role=metric["role"],
                    metric_tags=tuple(metric.get("tags", ())),
                    higher_is_better=metric.get("direction", "up") == "up",
                    variant=c["variant"],
                    effect=c.get("effect"),
                    ci_low=c.get("ci_low"),
                    ci_high=c.get("ci_high"),
                    p_value=c.get("p_value"),
                    chance_to_win=c.get("chance_to_win"),
                    significant=bool(c.get("significant")),
                    verdict=c.get("verdict", "inconclusive"),
                    summary=c.get("summary", ""),
                )
            )
    return ResultSummary(
        experiment_key=experiment.key,
        snapshot_id=snapshot.pk,
        data_cutoff=snapshot.data_cutoff,
        engine=snapshot.settings.get("engine", "frequentist"),
        difference=snapshot.settings.get("difference", "relative"),
        comparisons=tuple(comparisons),
        srm_flag=bool(snapshot.health.get("srm", {}).get("flag")),
    )


# --- Results of the analyses: what the results page and the results API show ------------------

# Lift-over-time charts show at most this many analyses (the most recent ones).
HISTORY_LIMIT = 200
EXPERIMENT_NOT_FOUND = "No experiment {key!r} in this workspace."
JOB_NOT_FOUND = "No analysis job {id} for this experiment."
NOTIFICATION_NOT_FOUND = "No notification {id} in this workspace."
WEBHOOK_NOT_FOUND = "No webhook {id} in this workspace."
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
    """Results of every metric in each value of one segment property (snapshot entries)."""

    property: str
    values: tuple[str, ...]
    metrics: tuple[dict[str, Any], ...]


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

    ``metrics`` are the snapshot's overall entries (JSON as stored: ``variants`` with units and
    values, ``comparisons`` with effect, interval, p-value or chance to win, verdict and the
    plain-language ``summary``), ``summaries`` one paragraph per metric, ``banners`` the health
    warnings (SRM, guardrails, multiple exposures, too little data), most serious first.
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
    banners: tuple[dict[str, str], ...]
    metrics: tuple[dict[str, Any], ...]
    summaries: dict[str, str]
    forest: tuple[ForestPoint, ...]
    history: tuple[ComparisonHistory, ...]
    segments: tuple[SegmentBreakdown, ...]
    health: dict[str, Any]
    pending: PendingJob | None


def experiment_get(*, workspace: Workspace, key: str) -> Experiment:
    """Return the workspace's experiment ``key``, or a 404 naming it."""
    experiment = Experiment.objects.filter(workspace=workspace, key=key).first()
    if experiment is None:
        raise NotFound(EXPERIMENT_NOT_FOUND.format(key=key), field="key")
    return experiment


def _pending_job(experiment: Experiment) -> PendingJob | None:
    pending = PendingAnalysis.objects.filter(experiment=experiment).select_related("job").first()
    if pending is None:
        return None
    job = pending.job
    return PendingJob(job.pk, pending.task_id, job.status, job.progress, job.message)


def _forest(metrics: list[dict[str, Any]]) -> tuple[ForestPoint, ...]:
    return tuple(
        ForestPoint(
            metric_key=m["key"],
            metric_name=m["name"],
            role=m["role"],
            variant=c["variant"],
            effect=c.get("effect"),
            ci_low=c.get("ci_low"),
            ci_high=c.get("ci_high"),
            ci_level=c.get("ci_level"),
            significant=bool(c.get("significant")),
            verdict=c.get("verdict", "inconclusive"),
            higher_is_better=m.get("direction", "up") == "up",
        )
        for m in metrics
        for c in m["comparisons"]
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
        for metric in row["overall"] or []:
            names[metric["key"]] = metric["name"]
            units = min((v.get("n", 0) for v in metric.get("variants", [])), default=0)
            for c in metric["comparisons"]:
                series.setdefault((metric["key"], c["variant"]), []).append(
                    HistoryPoint(
                        snapshot_id=row["id"],
                        data_cutoff=row["data_cutoff"],
                        effect=c.get("effect"),
                        ci_low=c.get("ci_low"),
                        ci_high=c.get("ci_high"),
                        significant=bool(c.get("significant")),
                        units=units,
                    )
                )
    return tuple(
        ComparisonHistory(metric_key=key, metric_name=names[key], variant=variant, points=tuple(p))
        for (key, variant), p in series.items()
    )


def _breakdowns(entries: list[dict[str, Any]]) -> tuple[SegmentBreakdown, ...]:
    by_property: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_property.setdefault(entry["segment"]["property"], []).append(entry)
    return tuple(
        SegmentBreakdown(
            property=prop,
            values=tuple(dict.fromkeys(e["segment"]["value"] for e in rows)),
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
            health={},
            pending=pending,
        )
    outputs, health = snapshot.outputs, snapshot.health
    metrics = list(outputs.get("metrics", []))
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
        verdict=outputs.get("verdict", ""),
        banners=tuple(health.get("banners", [])),
        metrics=tuple(metrics),
        summaries={m["key"]: m.get("summary", "") for m in metrics},
        forest=_forest(metrics),
        history=results_history(experiment=experiment, phase_id=snapshot.phase_id),
        segments=_breakdowns(outputs.get("segments", [])),
        health=health,
        pending=pending,
    )


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


# --- Notifications and webhooks ------------------------------------------------------------------


def notifications_list(
    *, workspace: Workspace, unread: bool | None = None, experiment_key: str | None = None
) -> QuerySet[Notification]:
    queryset = Notification.objects.filter(workspace=workspace).select_related("experiment")
    if unread is True:
        queryset = queryset.filter(read_at__isnull=True)
    elif unread is False:
        queryset = queryset.filter(read_at__isnull=False)
    if experiment_key:
        queryset = queryset.filter(experiment__key=experiment_key)
    return queryset.order_by("-created_at", "-id")


def notification_get(*, workspace: Workspace, notification_id: int) -> Notification:
    notification = (
        Notification.objects.filter(workspace=workspace, pk=notification_id)
        .select_related("experiment")
        .first()
    )
    if notification is None:
        raise NotFound(NOTIFICATION_NOT_FOUND.format(id=notification_id), field="id")
    return notification


def webhooks_list(*, workspace: Workspace) -> QuerySet[Webhook]:
    return Webhook.objects.filter(workspace=workspace).order_by("-created_at", "-id")


def webhook_get(*, workspace: Workspace, webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(workspace=workspace, pk=webhook_id).first()
    if webhook is None:
        raise NotFound(WEBHOOK_NOT_FOUND.format(id=webhook_id), field="id")
    return webhook


def webhook_deliveries_list(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return webhook.deliveries.select_related("notification").order_by("-created_at", "-id")


# --- Experiments linked to a key result (registered with outcomes in ExperimentsConfig.ready) --

_OUTCOME_OF_DECISION = {
    Decision.SHIP: "won",
    Decision.ROLLBACK: "lost",
    Decision.ITERATE: "inconclusive",
}
_OUTCOME_OF_VERDICT = {"win": "won", "loss": "lost"}


def _impact_comparison(
    experiment: Experiment, comparisons: tuple[ComparisonSummary, ...]
) -> ComparisonSummary | None:
    """The comparison that stands for the experiment's impact: the decided variant's, else the
    best-looking one (the largest effect in the metric's good direction)."""
    if not comparisons:
        return None
    if experiment.decision_variant:
        for c in comparisons:
            if c.variant == experiment.decision_variant:
                return c
    with_effect = [c for c in comparisons if c.effect is not None]
    if not with_effect:
        return comparisons[0]
    return max(with_effect, key=lambda c: c.effect if c.higher_is_better else -c.effect)


def _format_effect(effect: float, difference: str) -> str:
    return f"{effect:+.1%}" if difference == "relative" else f"{effect:+.4g}"


def linked_experiment(*, experiment: Experiment, key_result: KeyResult) -> LinkedExperiment:
    """Describe ``experiment`` for the page of ``key_result`` it serves: its status, its outcome
    (won / lost / inconclusive / running / draft) and its estimated impact on the key result's
    metric from the latest result snapshot (None when the experiment does not measure it)."""
    summary = experiment_result_summary(experiment=experiment)
    on_kr_metric = summary.for_metric(key_result.metric.key) if summary else ()
    chosen = _impact_comparison(experiment, on_kr_metric or (summary.primary if summary else ()))
    if experiment.status == ExperimentStatus.DRAFT:
        outcome = "draft"
    elif experiment.status == ExperimentStatus.RUNNING:
        outcome = "running"
    elif experiment.decision:
        outcome = _OUTCOME_OF_DECISION.get(experiment.decision, "inconclusive")
    else:
        outcome = _OUTCOME_OF_VERDICT.get(chosen.verdict if chosen else "", "inconclusive")
    parts = []
    if chosen is not None and chosen.effect is not None and summary is not None:
        measured = "" if on_kr_metric else " (the key result's metric is not measured)"
        parts.append(
            f"{_format_effect(chosen.effect, summary.difference)} on {chosen.metric_name} "
            f"for {chosen.variant!r}{measured}"
        )
    if experiment.decision:
        decided = f" {experiment.decision_variant!r}" if experiment.decision_variant else ""
        parts.append(f"decision: {experiment.get_decision_display().lower()}{decided}")
    return LinkedExperiment(
        key=experiment.key,
        name=experiment.name,
        status=experiment.status,
        outcome=outcome,
        estimated_impact=chosen.effect if chosen is not None and on_kr_metric else None,
        impact_description="; ".join(parts),
    )


def key_result_linked_experiments(key_result: KeyResult) -> list[LinkedExperiment]:
    """The experiments of the key result's workspace that serve it, newest first (the provider
    ``outcomes.okrs.selectors.key_result_experiments`` calls)."""
    experiments = Experiment.objects.filter(
        workspace_id=key_result.workspace_id, key_results=key_result
    ).order_by("-created_at", "-pk")
    return [linked_experiment(experiment=e, key_result=key_result) for e in experiments]
