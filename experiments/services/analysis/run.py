"""Running an analysis: compute, then store one immutable snapshot, exactly once per job.

``experiment_analyze`` computes (it stores only the exposures' held-out marks);
``analysis_job_run`` is what the Celery task calls: it takes the experiment's analysis lock,
skips jobs already done (the snapshot's one-to-one link to its job is the idempotency key),
reports progress on the job, and stores the snapshot, its alerts, the job's success and the end
of the pending analysis in one transaction. A run that fails, times out or dies stores nothing,
so the last good snapshot stays the latest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from experiments.contracts import AnalysisOutputs, Health, Maturity
from experiments.holdouts.srm import (
    HeldOutExposures,
    exposures_mark_held_out,
    held_out_exposures,
)
from experiments.models import Experiment, PendingAnalysis, Phase, ResultSnapshot
from experiments.result_selectors import exposure_maturity
from experiments.services.alerts import alerts_for_snapshot
from experiments.services.analysis.cumulative import cumulative_lift
from experiments.services.analysis.health import SRM_THRESHOLD, experiment_health
from experiments.services.analysis.inputs import (
    DAY_US,
    MAX_SEGMENT_VALUES,
    AnalysisPlan,
    analysis_inputs_compute,
    analysis_plan,
)
from experiments.services.analysis.locks import analysis_mutex
from experiments.services.analysis.outputs import analysis_outputs, inputs_json
from experiments.services.analysis.warehouse import SourceFailed
from experiments.services.exposures import exposures_sync_from_events
from experiments.stats import ENGINE_VERSION, AnalysisSettings
from experiments.verdicts import results_verdict
from metrics.public import ExposureSummary
from plg_platform.models import BackgroundJob, JobStatus
from plg_platform.services.ingestion import from_epoch_us
from plg_platform.services.jobs import job_fail, job_progress, job_start, job_succeed

ANALYSIS_JOB_KIND = "experiment_analysis"
BUSY = "Another analysis of experiment {id} is running; this one waits for it."
RETRYING = "A database error interrupted the analysis; retrying."
EXPERIMENT_GONE = "The experiment was deleted before it could be analysed."

Progress = Callable[[float, str], None]


class AnalysisBusy(Exception):
    """Another process holds the experiment's analysis lock; try again later."""


def analysis_settings(experiment: Experiment) -> AnalysisSettings:
    return AnalysisSettings(
        engine=experiment.engine,  # type: ignore[arg-type]
        difference="relative",
        alpha=experiment.alpha,
        sequential=experiment.sequential,
        sequential_tuning=float(experiment.sequential_tuning),
        correction=experiment.correction,  # type: ignore[arg-type]
        cuped=experiment.cuped,
    )


def _settings_json(experiment: Experiment, plan: AnalysisPlan, s: AnalysisSettings) -> dict:
    return {
        "engine": s.engine,
        "difference": s.difference,
        "alpha": s.alpha,
        "sequential": s.sequential,
        "sequential_tuning": s.sequential_tuning,
        "correction": s.correction,
        "cuped": s.cuped,
        "covariate_days": plan.covariate_days,
        "segments": list(plan.segments),
        "max_segment_values": MAX_SEGMENT_VALUES,
        "srm_threshold": SRM_THRESHOLD,
        "multiple_exposure_threshold": experiment.multiple_exposure_threshold,
        "planned_mde": experiment.planned_mde,
        "min_days_for_alerts": experiment.min_days_for_alerts,
        "min_units_for_alerts": experiment.min_units_for_alerts,
        # Where exposures and events were read: an event source (warehouse-native), or ours.
        "source": (
            {"id": plan.source_id, "experiment_id": plan.source_experiment_id}
            if plan.source_id is not None
            else None
        ),
    }


@dataclass(frozen=True)
class ComputedAnalysis:
    """Everything a snapshot stores, before it is stored."""

    plan: AnalysisPlan
    settings: dict[str, Any]
    inputs: dict[str, Any]
    outputs: AnalysisOutputs
    health: Health
    # How the metrics were computed and what it cost (mode, statements, seconds, rows read):
    # for the job's status, not part of the snapshot.
    refresh: dict[str, Any] = field(default_factory=dict)


def _no_progress(progress: float, message: str) -> None:
    return None


def experiment_analyze(
    *,
    experiment: Experiment,
    cutoff: datetime | None = None,
    sync_exposures: bool = True,
    on_progress: Progress = _no_progress,
) -> ComputedAnalysis:
    """Analyse the experiment's current (or last) phase with data up to ``cutoff`` (now).

    Merges newly received ``$exposure`` events first, those still settling included, so a
    refresh right after exposures arrive analyses them; then marks the exposures of units the
    workspace holdout held out, which the analysis leaves out (``experiments.holdouts.srm``).
    """
    if sync_exposures and experiment.source_id is None:  # a source holds its own exposures
        on_progress(0.05, "Merging new exposures")
        exposures_sync_from_events(experiment=experiment, include_settling=True)
    cutoff = cutoff or timezone.now().replace(microsecond=0)
    plan = analysis_plan(experiment=experiment, cutoff=cutoff)
    held: HeldOutExposures | None = None
    if plan.source_id is None and not plan.routed_store:  # our exposures table is analysed
        held = held_out_exposures(experiment=experiment)
        exposures_mark_held_out(experiment=experiment, held=held)
    settings = analysis_settings(experiment)
    on_progress(0.1, "Computing metrics")

    def step(done: int, total: int) -> None:
        on_progress(0.1 + 0.7 * done / total, f"Computed metrics ({done} of {total} passes)")

    inputs = analysis_inputs_compute(plan=plan, on_step=step)
    on_progress(0.85, f"Comparing variants (metrics: {refresh_summary(inputs.refresh)})")
    outputs = analysis_outputs(
        plan=plan, inputs=inputs, settings=settings, planned_mde=experiment.planned_mde
    )
    health = experiment_health(
        experiment=experiment,
        plan=plan,
        inputs=inputs,
        outputs=outputs,
        settings=settings,
        held_out=held,
    )
    if inputs.exposures is not None:
        maturity = warehouse_maturity(inputs.exposures, maturity_days=plan.maturity_days)
    else:
        maturity = exposure_maturity(
            phase=Phase.objects.get(pk=plan.phase_id),
            maturity_days=plan.maturity_days,
            cutoff=plan.cutoff,
        )
    return ComputedAnalysis(
        plan=plan,
        settings=_settings_json(experiment, plan, settings),
        inputs=inputs_json(plan, inputs),
        outputs=outputs.with_verdict(results_verdict(outputs, health))
        .with_maturity(maturity)
        .with_cumulative(
            cumulative_lift(
                plan=plan, inputs=inputs, settings=settings, planned_mde=experiment.planned_mde
            )
        ),
        health=health,
        refresh=inputs.refresh,
    )


def warehouse_maturity(counted: ExposureSummary, *, maturity_days: int) -> Maturity:
    """The maturity note from a source's exposure counts (matured by the same rule)."""
    window_us = maturity_days * DAY_US
    first, last = counted.first_exposure_us, counted.last_exposure_us
    return Maturity(
        units_exposed=sum(counted.units.values()),
        units_matured=sum(counted.matured.values()),
        maturity_days=maturity_days,
        first_exposed_at=from_epoch_us(first) if first is not None else None,
        first_result_at=from_epoch_us(first + window_us) if first is not None else None,
        all_matured_at=from_epoch_us(last + window_us) if last is not None else None,
    )


def failure_message(error: Exception) -> str:
    """What a failed job says: a source's failure in its own words (it names the source and
    column), anything else with its type."""
    if isinstance(error, SourceFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"


def refresh_summary(report: dict[str, Any]) -> str:
    """One line on how the metrics were computed and what it cost, for the job's message."""
    if not report:
        return "nothing to compute"
    rows = report.get("rows_read")
    read = f"{rows:,} event rows read" if rows is not None else "rows read not reported"
    mode = {
        "incremental": f"incremental, the last {report.get('lookback_days', 0) + 1} days re-read",
        "rebuild": "built from all events",
    }.get(report.get("mode", ""), "from all events")
    cost = f"{report.get('statements', 0)} statements, {report.get('seconds', 0):.2f} s"
    return f"{mode}; {cost}, {read}"


def _maturity_days(plan: AnalysisPlan) -> int:
    """The primary metric's window: when a unit counts for the headline result."""
    primary = next((m for m in plan.metrics if m.role == "primary"), None)
    metrics = (primary,) if primary is not None else plan.metrics
    return max((m.definition.maturity_days for m in metrics), default=0)


@transaction.atomic
def snapshot_store(
    *,
    experiment: Experiment,
    computed: ComputedAnalysis,
    run_seconds: float,
    job: BackgroundJob | None = None,
) -> ResultSnapshot:
    """Store the snapshot, raise its alerts and, for a job, finish it: all or nothing."""
    snapshot = ResultSnapshot.objects.create(
        experiment=experiment,
        phase_id=computed.plan.phase_id,
        job=job,
        data_cutoff=computed.plan.cutoff,
        engine_version=ENGINE_VERSION,
        settings=computed.settings,
        inputs=computed.inputs,
        outputs=computed.outputs.to_json(),
        health=computed.health.to_json(),
        run_seconds=run_seconds,
    )
    alerts_for_snapshot(experiment=experiment, snapshot=snapshot)
    if job is not None:
        job_succeed(job=job, result={"snapshot_id": snapshot.pk, "refresh": computed.refresh})
        _pending_release(job)
    return snapshot


def _pending_release(job: BackgroundJob) -> None:
    PendingAnalysis.objects.filter(job=job).delete()


def analysis_job_fail(*, job_id: int, error: str) -> None:
    """Record that the job's analysis failed for good; the last good snapshot stays."""
    job = BackgroundJob.objects.filter(pk=job_id).first()
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return
    job_fail(job=job, error=error)
    _pending_release(job)


def analysis_job_run(
    *,
    experiment_id: int,
    job_id: int,
    transient_errors: tuple[type[Exception], ...] = (),
    cutoff: datetime | None = None,
) -> ResultSnapshot | None:
    """Run the job's analysis unless it is already done; return its snapshot (None if none).

    The data cut-off is now, unless ``cutoff`` fixes it (benchmarks, reruns of history).

    Raises ``AnalysisBusy`` when another process is analysing the experiment. Errors in
    ``transient_errors`` leave the job running (the caller retries it); any other error fails
    the job and re-raises.
    """
    with analysis_mutex(experiment_id) as held:
        if not held:
            raise AnalysisBusy(BUSY.format(id=experiment_id))
        job = BackgroundJob.objects.filter(pk=job_id).first()
        if job is None:
            return None
        done = ResultSnapshot.objects.filter(job_id=job_id).first()
        if done is not None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            # A redelivery of a finished job: nothing to do (and nothing pending any more).
            _pending_release(job)
            return done
        experiment = Experiment.objects.filter(pk=experiment_id).select_related("workspace").first()
        if experiment is None:
            job_fail(job=job, error=EXPERIMENT_GONE)
            return None
        job_start(job=job, message="Starting")
        started = time.perf_counter()

        def progress(value: float, message: str) -> None:
            job_progress(job=job, progress=value, message=message)

        try:
            computed = experiment_analyze(
                experiment=experiment, cutoff=cutoff, on_progress=progress
            )
            progress(0.95, "Storing the snapshot")
            return snapshot_store(
                experiment=experiment,
                computed=computed,
                run_seconds=time.perf_counter() - started,
                job=job,
            )
        except transient_errors:
            progress(0.0, RETRYING)
            raise
        except Exception as error:
            job_fail(job=job, error=failure_message(error))
            _pending_release(job)
            raise
