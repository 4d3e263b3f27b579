"""Experiment analyses read the phase's partial aggregates, refreshed incrementally, and give
the numbers of an analysis that reads every event: day after day, with late events, with
CUPED and segments. The job's status says how the metrics were computed and what it cost."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from experiments.models import ResultSnapshot
from experiments.services.analysis.refresh import experiment_refresh_request
from experiments.services.analysis.run import analysis_job_run, experiment_analyze
from plg_platform.models import BackgroundJob, Event
from plg_platform.services.ingestion import to_epoch_us
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    DAY_US,
    generate,
    planted_experiment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def planted():
    return generate(units_per_variant=(700, 700), activation_lift=0.2, seed=5)


def _analyze(experiment, cutoff, *, incremental: bool, settings):
    settings.METRICS_INCREMENTAL_ANALYSIS = incremental
    return experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)


def _numbers(inputs: dict) -> list[tuple]:
    """Every sufficient statistic of a snapshot's inputs, in a stable order."""
    rows = []
    for row in inputs["statistics"]:
        key = (row["metric"], row["variant"], str(row["segment_property"]), str(row["segment"]))
        rows.append((key, {k: v for k, v in row.items() if isinstance(v, int | float)}))
    return sorted(rows, key=lambda r: r[0])


def _assert_same_inputs(incremental: dict, full: dict) -> None:
    a, b = _numbers(incremental), _numbers(full)
    assert [key for key, _ in a] == [key for key, _ in b]
    for (key, x), (_, y) in zip(a, b, strict=True):
        assert x.keys() == y.keys(), key
        for name in x:
            assert x[name] == pytest.approx(y[name], rel=1e-9, abs=1e-9), (key, name)


def _late_events(experiment, planted, cutoff_us: int) -> int:
    """Activations and sessions dated in the day before ``cutoff_us``, inside the units'
    windows, written now: they arrive after the analysis that had that cut-off."""
    rows = []
    for i, unit in enumerate(planted.unit):
        start = int(planted.exposed_us[i])
        moment = max(start, cutoff_us - DAY_US) + 1_000
        if moment < min(start + 7 * DAY_US, cutoff_us) and not planted.activated[i]:
            rows.append((experiment.workspace_id, "activated", unit, moment))
            rows.append((experiment.workspace_id, "session", unit, moment + 1))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Event._meta.db_table} "  # noqa: S608 - our own table name
            "(workspace_id, event, distinct_id, timestamp_us, properties, received_at) "
            "VALUES (%s, %s, %s, %s, '{}', %s)",
            [(*row, timezone.now()) for row in rows],
        )
    return len(rows)


def test_daily_incremental_analyses_equal_analyses_of_every_event(workspace, planted, settings):
    """Four daily analyses with CUPED and a segment breakdown; between the first two, events
    of the day before the first cut-off arrive late (inside the lookback)."""
    experiment = planted_experiment(workspace, planted, cuped=True, segments=["country"])
    cutoffs = [CUTOFF - timedelta(days=d, hours=d) for d in (6, 5, 4, 0)]
    modes = []
    for day, cutoff in enumerate(cutoffs):
        if day == 1:
            assert _late_events(experiment, planted, to_epoch_us(cutoffs[0])) > 10
        incremental = _analyze(experiment, cutoff, incremental=True, settings=settings)
        full = _analyze(experiment, cutoff, incremental=False, settings=settings)
        modes.append((incremental.refresh["mode"], full.refresh["mode"]))
        _assert_same_inputs(incremental.inputs, full.inputs)
        # The outputs follow from the inputs: the same results, lift over time included.
        _assert_close(incremental.outputs.to_json(), full.outputs.to_json())
    assert modes == [("rebuild", "direct")] + [("incremental", "direct")] * 3


def _assert_close(a, b, where: str = "") -> None:
    """Equal JSON, numbers to 1e-9 relative (sums added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), where
    else:
        assert a == b, where


def test_the_job_status_reports_how_the_metrics_were_computed(
    workspace, planted, settings, on_postgres
):
    settings.METRICS_INCREMENTAL_ANALYSIS = True
    experiment = planted_experiment(workspace, planted)

    def run(**kwargs):
        ticket = experiment_refresh_request(experiment=experiment, **kwargs)
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)
        return BackgroundJob.objects.get(pk=ticket.job.pk)

    first, second, rebuilt = run(), run(), run(rebuild=True)
    reports = [job.result["refresh"] for job in (first, second, rebuilt)]
    assert [r["mode"] for r in reports] == ["rebuild", "incremental", "rebuild"]
    assert reports[2]["reason"] == "A full rebuild was asked for."
    for report in reports:
        assert report["statements"] >= 3
        assert report["seconds"] > 0
        assert report["rows_read"] > 0
        assert report["rows_read_source"]
        assert report["lookback_days"] == 2
    if on_postgres:  # what its scans read (on tables this small: whole tables)
        assert reports[0]["rows_read_source"].startswith("reported by PostgreSQL")
    else:  # the same cut-off again: only the last days are re-read
        assert reports[0]["rows_read_source"].startswith("counted")
        assert reports[1]["rows_read"] < reports[0]["rows_read"]
    snapshots = list(ResultSnapshot.objects.filter(experiment=experiment).order_by("pk"))
    assert first.result["snapshot_id"] == snapshots[0].pk
    for snapshot in snapshots[1:]:
        _assert_same_inputs(snapshot.inputs, snapshots[0].inputs)


def test_the_refresh_api_takes_a_rebuild_and_names_a_bad_one(editor, planted):
    experiment = planted_experiment(editor.workspace, planted)
    url = f"/api/v1/experiments/{experiment.key}/refresh"

    response = editor.client.post(url, {"rebuild": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "rebuild" in str(response.json())
    response = editor.client.post(url, {"rebuild": True}, format="json")
    assert response.status_code == 202


def test_the_planted_lift_survives_an_incremental_analysis(workspace, planted, settings):
    experiment = planted_experiment(workspace, planted)
    _analyze(experiment, CUTOFF - timedelta(days=1), incremental=True, settings=settings)
    computed = _analyze(experiment, CUTOFF, incremental=True, settings=settings)
    assert computed.refresh["mode"] == "incremental"
    activated = next(
        m for m in computed.outputs.to_json()["metrics"] if m["key"].endswith("activated")
    )
    rates = [v["value"] for v in activated["variants"]]
    control = planted.activated[planted.mask("control")].mean()
    treatment = planted.activated[planted.mask("treatment")].mean()
    assert rates == pytest.approx([control, treatment], rel=1e-12)
    assert np.isfinite(activated["comparisons"][0]["effect"])
