"""The analysis service on generated data with planted effects, checked against numpy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from celery.exceptions import Retry
from django.db import OperationalError, connection
from django.utils import timezone
from scipy import stats
from statsmodels.stats.multitest import multipletests

from experiments.models import Experiment, PendingAnalysis, ResultSnapshot
from experiments.services.analysis.inputs import CUPED_PRE_PERIOD_DAYS, MAX_SEGMENT_VALUES
from experiments.services.analysis.locks import ADVISORY_LOCK_NAMESPACE, analysis_mutex
from experiments.services.analysis.refresh import (
    experiment_refresh_request,
    experiments_due_for_analysis,
)
from experiments.services.analysis.run import (
    RETRYING,
    AnalysisBusy,
    analysis_job_run,
    experiment_analyze,
    snapshot_store,
)
from experiments.stats import ENGINE_VERSION
from experiments.tasks import (
    ANALYSIS_BUSY_RETRY_SECONDS,
    analyze_due_experiments,
    analyze_experiment,
)
from plg_platform.celery import app as celery_app
from plg_platform.models import BackgroundJob, JobStatus
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    generate,
    metric_entry,
    planted_experiment,
)
from tests.worker import test_database_url as database_url

pytestmark = pytest.mark.django_db

PLANTED_LIFT = 0.15


@pytest.fixture(scope="module")
def planted():
    return generate(units_per_variant=(4000, 4000), activation_lift=PLANTED_LIFT)


def _analyze(experiment: Experiment, **kwargs):
    return experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False, **kwargs)


def test_analysis_finds_the_planted_lift_and_not_the_null_guardrail(workspace, planted):
    experiment = planted_experiment(workspace, planted, correction="none")

    outputs = _analyze(experiment).outputs.to_json()

    activated = metric_entry(outputs, "onboarding-activated")
    (lift,) = activated["comparisons"]
    control, treatment = (
        planted.activated[planted.mask("control")],
        planted.activated[planted.mask("treatment")],
    )
    # The numbers are the data's own: rates, relative and absolute lift, to rounding.
    assert [v["units"] for v in activated["variants"]] == [4000, 4000]
    assert activated["variants"][0]["value"] == pytest.approx(control.mean(), rel=1e-12)
    assert activated["variants"][1]["value"] == pytest.approx(treatment.mean(), rel=1e-12)
    assert lift["effect"] == pytest.approx(treatment.mean() / control.mean() - 1, rel=1e-9)
    assert lift["absolute_effect"] == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
    # The planted +15% is inside the interval, which excludes "no change".
    assert lift["ci_low"] < PLANTED_LIFT < lift["ci_high"]
    assert lift["ci_low"] > 0
    assert lift["significant"] is True
    assert lift["verdict"] == "win"
    assert "unlikely to be chance" in lift["summary"]
    # No effect was planted on unsubscribes: the interval covers 0 and nothing is claimed.
    (guardrail,) = metric_entry(outputs, "onboarding-unsubscribed")["comparisons"]
    assert guardrail["ci_low"] < 0 < guardrail["ci_high"]
    assert guardrail["significant"] is False
    assert guardrail["verdict"] == "inconclusive"
    assert "could be chance" in guardrail["summary"]


def test_frequentist_p_value_matches_welch_on_the_raw_zero_one_values(workspace, planted):
    """Absolute lift on a rate: Welch's t on the units' 0/1 values with p(1 − p) variances."""
    experiment = planted_experiment(workspace, planted, correction="none", cuped=False)

    outputs = _analyze(experiment).outputs.to_json()

    (lift,) = metric_entry(outputs, "onboarding-activated")["comparisons"]
    c, t = (planted.activated[planted.mask(v)].astype(float) for v in ("control", "treatment"))
    se = np.sqrt(c.mean() * (1 - c.mean()) / c.size + t.mean() * (1 - t.mean()) / t.size)
    # p-values of relative lifts use the delta method; check the absolute one exactly.
    z = (t.mean() - c.mean()) / se
    assert lift["absolute_effect"] == pytest.approx(t.mean() - c.mean(), rel=1e-12)
    assert lift["absolute_ci_high"] - lift["absolute_ci_low"] == pytest.approx(
        2 * stats.t.ppf(0.975, df=_welch_df(c, t)) * se, rel=1e-6
    )
    assert abs(z) > 3


def _welch_df(c: np.ndarray, t: np.ndarray) -> float:
    vc, vt = c.mean() * (1 - c.mean()) / c.size, t.mean() * (1 - t.mean()) / t.size
    return (vc + vt) ** 2 / (vc**2 / (c.size - 1) + vt**2 / (t.size - 1))


def test_cuped_uses_the_pre_period_and_shrinks_the_interval(workspace, planted):
    cuped = planted_experiment(workspace, planted, key="with-cuped", cuped=True)
    plain = planted_experiment(workspace, planted, key="no-cuped", cuped=False, write_data=False)
    # The same units and events: point the second experiment at the first one's exposures.
    from experiments.models import Exposure

    Exposure.objects.filter(experiment=cuped).update(experiment=plain, phase=plain.phases.get())

    plain_sessions = metric_entry(_analyze(plain).outputs, "no-cuped-sessions")
    Exposure.objects.filter(experiment=plain).update(experiment=cuped, phase=cuped.phases.get())
    computed = _analyze(cuped)
    cuped_sessions = metric_entry(computed.outputs, "with-cuped-sessions")

    assert computed.settings["covariate_days"] == CUPED_PRE_PERIOD_DAYS
    y, z = planted.sessions.astype(float), planted.pre_sessions.astype(float)
    c, t = planted.mask("control"), planted.mask("treatment")
    # θ pooled over both arms, then each arm's mean adjusted: Deng et al. (2013).
    n = y.size
    theta = (np.sum(y * z) - y.sum() * z.sum() / n) / (np.sum(z * z) - z.sum() ** 2 / n)
    adjusted = (y[t].mean() - theta * z[t].mean()) - (y[c].mean() - theta * z[c].mean())
    (with_cuped,) = cuped_sessions["comparisons"]
    (without,) = plain_sessions["comparisons"]
    assert with_cuped["absolute_effect"] == pytest.approx(adjusted, rel=1e-9)
    assert without["absolute_effect"] == pytest.approx(y[t].mean() - y[c].mean(), rel=1e-9)
    rho = np.corrcoef(y, z)[0, 1]
    width = with_cuped["absolute_ci_high"] - with_cuped["absolute_ci_low"]
    plain_width = without["absolute_ci_high"] - without["absolute_ci_low"]
    # The interval shrinks by about √(1 − ρ²), here ρ ≈ 0.5.
    assert width / plain_width == pytest.approx(np.sqrt(1 - rho**2), rel=0.03)
    assert with_cuped["variance_reduction"] == pytest.approx(rho**2, abs=0.03)


def test_segments_are_corrected_across_metrics_variants_and_segments(workspace, planted):
    experiment = planted_experiment(workspace, planted, correction="holm", segments=("country",))

    outputs = _analyze(experiment).outputs.to_json()

    segment_rows = [c for m in outputs["segments"] for c in m["comparisons"]]
    assert len(outputs["segments"]) == 3 * 4  # metrics × countries
    assert {m["segment"]["value"] for m in outputs["segments"]} == {"US", "DE", "FR", "BR"}
    raw = np.array([c["p_value_unadjusted"] for c in segment_rows])
    holm = multipletests(raw, method="holm")[1]
    assert [c["p_value"] for c in segment_rows] == pytest.approx(list(holm), rel=1e-9)
    # The headline family holds only the 3 overall comparisons: segments do not widen it.
    overall = [c for m in outputs["metrics"] for c in m["comparisons"]]
    assert [c["p_value"] for c in overall] == pytest.approx(
        list(multipletests([c["p_value_unadjusted"] for c in overall], method="holm")[1]),
        rel=1e-9,
    )
    # Each segment's numbers are its own units', and the segments add up to the whole.
    us = metric_entry(outputs, "onboarding-activated", {"property": "country", "value": "US"})
    in_us = planted.country == "US"
    assert [v["units"] for v in us["variants"]] == [
        int((planted.mask(v) & in_us).sum()) for v in ("control", "treatment")
    ]
    assert us["variants"][1]["value"] == pytest.approx(
        planted.activated[planted.mask("treatment") & in_us].mean(), rel=1e-12
    )
    assert "country = US" in us["summary"]


def test_segment_values_beyond_the_limit_are_pooled_into_other(workspace):
    data = generate(units_per_variant=(600, 600), seed=3)
    data.country = np.array([f"C{i % (MAX_SEGMENT_VALUES + 5)}" for i in range(1200)])
    experiment = planted_experiment(workspace, data, segments=("country",))

    outputs = _analyze(experiment).outputs.to_json()

    values = {m["segment"]["value"] for m in outputs["segments"]}
    assert len(values) == MAX_SEGMENT_VALUES
    assert "(other)" in values
    activated = [m for m in outputs["segments"] if m["key"] == "onboarding-activated"]
    assert sum(m["variants"][0]["units"] for m in activated) == 600


def test_time_to_event_reports_who_never_got_there(workspace, planted):
    from metrics.public import metric_create

    experiment = planted_experiment(workspace, planted)
    metric_create(
        workspace=workspace,
        key="hours-to-activation",
        name="Hours to activation",
        spec={"type": "time_to_event", "event": "activated", "window_days": 7},
        direction="decrease",
    )
    phase = experiment.phases.get()
    phase.metric_keys["secondary"].append("hours-to-activation")
    phase.save()

    entry = metric_entry(_analyze(experiment).outputs, "hours-to-activation")

    control = planted.activated[planted.mask("control")]
    assert entry["metric_type"] == "mean"
    assert entry["variants"][0]["n"] == int(control.sum())
    assert entry["variants"][0]["never_reached_share"] == pytest.approx(1 - control.mean())
    assert "never reached it" in entry["summary"]


def test_bayesian_summaries_speak_of_probability_not_p_values(workspace, planted):
    experiment = planted_experiment(workspace, planted, engine="bayesian")

    outputs = _analyze(experiment).outputs.to_json()

    (lift,) = metric_entry(outputs, "onboarding-activated")["comparisons"]
    assert lift["p_value"] is None
    assert lift["chance_to_win"] > 0.999
    assert lift["verdict"] == "win"
    assert "probability that Treatment is better than Control" in lift["summary"]
    assert "p =" not in lift["summary"]
    assert "chance" not in lift["summary"]


def test_snapshot_stores_inputs_settings_outputs_and_engine_version(workspace, planted):
    experiment = planted_experiment(workspace, planted, segments=("country",))
    computed = _analyze(experiment)

    snapshot = snapshot_store(experiment=experiment, computed=computed, run_seconds=0.5)

    snapshot.refresh_from_db()
    assert snapshot.engine_version == ENGINE_VERSION
    assert snapshot.data_cutoff == CUTOFF
    assert snapshot.settings["engine"] == "frequentist"
    assert snapshot.settings["covariate_days"] == CUPED_PRE_PERIOD_DAYS
    overall = [s for s in snapshot.inputs["statistics"] if s["segment_property"] is None]
    by_key = {(s["metric"], s["variant"]): s for s in overall}
    control = planted.mask("control")
    assert by_key[("onboarding-activated", "control")]["sum"] == planted.activated[control].sum()
    assert by_key[("onboarding-sessions", "control")]["covariate_sum"] == (
        planted.pre_sessions[control].sum()
    )
    assert snapshot.outputs["verdict"].startswith("treatment is better than control")
    assert snapshot.run_seconds == 0.5


def test_a_job_is_analysed_once_however_often_its_task_runs(workspace, planted, monkeypatch):
    experiment = planted_experiment(workspace, planted)
    monkeypatch.setattr("experiments.services.analysis.refresh._enqueue", lambda *args: None)
    ticket = experiment_refresh_request(experiment=experiment)

    first = analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk)
    again = analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk)

    assert first is not None
    assert again == first
    assert ResultSnapshot.objects.filter(experiment=experiment).count() == 1
    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert (job.status, job.progress, job.result["snapshot_id"]) == (
        JobStatus.SUCCEEDED,
        1.0,
        first.pk,
    )
    # How the metrics were computed, once (tests/experiments/test_exp_analysis_incremental.py).
    assert job.result["refresh"]["mode"] == "rebuild"
    assert not PendingAnalysis.objects.filter(experiment=experiment).exists()


def test_a_failed_run_keeps_the_last_good_snapshot(workspace, planted, monkeypatch):
    experiment = planted_experiment(workspace, planted)
    monkeypatch.setattr("experiments.services.analysis.refresh._enqueue", lambda *args: None)
    good = analysis_job_run(
        experiment_id=experiment.pk,
        job_id=experiment_refresh_request(experiment=experiment).job.pk,
    )

    def broken(**kwargs):
        raise RuntimeError("the database went away mid-query")

    monkeypatch.setattr("experiments.services.analysis.run.analysis_inputs_compute", broken)
    ticket = experiment_refresh_request(experiment=experiment)
    with pytest.raises(RuntimeError):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk)

    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert job.status == JobStatus.FAILED
    assert "database went away" in job.error
    assert list(ResultSnapshot.objects.filter(experiment=experiment)) == [good]
    # The failed job no longer blocks the next refresh.
    assert experiment_refresh_request(experiment=experiment).joined is False


@contextmanager
def _lock_held_elsewhere(experiment_id: int) -> Iterator[None]:
    """Hold the experiment's analysis lock as another process would (its own DB session)."""
    if connection.vendor == "postgresql":
        with psycopg.connect(database_url()) as other:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, experiment_id]
            )
            yield
        return
    with analysis_mutex(experiment_id) as held:  # a second open file: flock excludes it too
        assert held
        yield


def test_an_experiment_is_analysed_by_one_process_at_a_time(workspace, planted, monkeypatch):
    experiment = planted_experiment(workspace, planted)
    monkeypatch.setattr("experiments.services.analysis.refresh._enqueue", lambda *args: None)
    ticket = experiment_refresh_request(experiment=experiment)

    with _lock_held_elsewhere(experiment.pk), pytest.raises(AnalysisBusy):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk)

    assert BackgroundJob.objects.get(pk=ticket.job.pk).status == JobStatus.QUEUED
    assert not ResultSnapshot.objects.exists()
    assert analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk) is not None


def test_the_task_waits_for_a_busy_experiment_and_retries_database_errors(
    workspace, planted, monkeypatch
):
    experiment = planted_experiment(workspace, planted)
    monkeypatch.setattr("experiments.services.analysis.refresh._enqueue", lambda *args: None)
    job_id = experiment_refresh_request(experiment=experiment).job.pk
    retries: list[dict] = []

    def record_retry(*args, **kwargs):
        retries.append(kwargs)
        raise Retry()

    monkeypatch.setattr(analyze_experiment, "retry", record_retry)
    with _lock_held_elsewhere(experiment.pk), pytest.raises(Retry):
        analyze_experiment.apply(args=[experiment.pk, job_id], throw=True)

    def flaky(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("experiments.services.analysis.run.analysis_inputs_compute", flaky)
    with pytest.raises(Retry):
        analyze_experiment.apply(args=[experiment.pk, job_id], throw=True)

    assert retries[0]["countdown"] == ANALYSIS_BUSY_RETRY_SECONDS
    assert isinstance(retries[1]["exc"], OperationalError)
    assert 0 <= retries[1]["countdown"] <= 2
    job = BackgroundJob.objects.get(pk=job_id)
    assert job.status == JobStatus.RUNNING  # a transient error keeps the job for the retry
    assert job.message == RETRYING
    assert (analyze_experiment.acks_late, analyze_experiment.reject_on_worker_lost) == (True, True)
    assert analyze_experiment.soft_time_limit < analyze_experiment.time_limit


def test_running_experiments_are_analysed_on_their_workspaces_schedule(
    workspace, planted, django_capture_on_commit_callbacks
):
    experiment = planted_experiment(workspace, planted)
    workspace.analysis_interval_minutes = 60
    workspace.save()
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert analyze_due_experiments.apply().get() == 1  # never analysed: due
        snapshot = ResultSnapshot.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            assert analyze_due_experiments.apply().get() == 0  # analysed just now
    finally:
        celery_app.conf.task_always_eager = previous
    assert snapshot.job.kind == "experiment_analysis"
    assert not PendingAnalysis.objects.exists()
    ResultSnapshot.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert [e.pk for e in experiments_due_for_analysis()] == [experiment.pk]


def test_ratio_metrics_are_analysed_by_the_delta_method(workspace, planted):
    from metrics.public import metric_create

    experiment = planted_experiment(workspace, planted)
    metric_create(
        workspace=workspace,
        key="activations-per-session",
        name="Activations per session",
        spec={
            "type": "ratio",
            "event": "activated",
            "denominator_event": "session",
            "window_days": 7,
        },
    )
    phase = experiment.phases.get()
    phase.metric_keys["secondary"].append("activations-per-session")
    phase.save()

    entry = metric_entry(_analyze(experiment).outputs, "activations-per-session")

    assert entry["metric_type"] == "ratio"
    ratios = [
        planted.activated[planted.mask(v)].sum() / planted.sessions[planted.mask(v)].sum()
        for v in ("control", "treatment")
    ]
    assert [v["value"] for v in entry["variants"]] == pytest.approx(ratios, rel=1e-12)
    (comparison,) = entry["comparisons"]
    assert comparison["status"] == "ok"
    assert comparison["effect"] == pytest.approx(ratios[1] / ratios[0] - 1, rel=1e-9)
    assert comparison["variance_reduction"] in (None, 0.0)  # no CUPED for ratios
