"""The cumulative impact of a holdout: everyone else against the holdout on the key-result
metrics, computed in the database over the units seen, beside the shipped experiments' shrunk
lifts; the holdouts API and its rules."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from experiments.assignment import HoldoutSpec, holdout_arm
from experiments.holdouts.models import Holdout, HoldoutReport, HoldoutUnit
from experiments.holdouts.services import (
    HoldoutInput,
    holdout_create,
    holdout_report_create,
    holdout_reports_due,
    holdout_units_sync_from_events,
)
from experiments.models import Decision, Experiment, ExperimentStatus
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from learnings.models import Learning, Source
from learnings.shrinkage import shrink
from outcomes.okrs.models import KeyResult, Objective
from plg_platform.models import AuditLog, Event
from plg_platform.services.ingestion import to_epoch_us

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, tzinfo=UTC)
END = T0 + timedelta(days=60)
UNITS = 8_000
SHARE = 0.2
BASE_RATE, PLANTED_LIFT = 0.20, 0.30


# A holdout's seed is random; the planted data are drawn against this one, so which units are
# held out (and the one interval checked for covering the planted lift) is the same every run.
SEED = "5f0c8f1d2a3b4c5d6e7f8091a2b3c4d5"


def _holdout(workspace, **extra) -> Holdout:
    data = {"key": "h1", "name": "H1 holdout", "share": SHARE, "starts_at": T0, "ends_at": END}
    holdout = holdout_create(
        workspace=workspace, data=HoldoutInput(**{**data, **extra}), actor=None, now=T0
    )
    Holdout.objects.filter(pk=holdout.pk).update(hash_seed=SEED)
    holdout.refresh_from_db()
    return holdout


def _key_result(workspace, metric) -> KeyResult:
    objective = Objective.objects.create(
        workspace=workspace,
        title="Grow activation",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
    )
    return KeyResult.objects.create(
        workspace=workspace, objective=objective, title="Activation 25%", metric=metric, target=0.25
    )


def _plant(workspace, holdout) -> dict[str, np.ndarray]:
    """Units seen in the first 30 days; everyone else activates 30% more than the holdout."""
    rng = np.random.default_rng(5)
    spec = HoldoutSpec(holdout.key, holdout.hash_seed, SHARE)
    units = [f"u{i}" for i in range(UNITS)]
    held = np.array([holdout_arm(spec, attributes={"id": u}) == "holdout" for u in units])
    seen = to_epoch_us(T0) + (rng.random(UNITS) * 30 * 86_400e6).astype(np.int64)
    rate = np.where(held, BASE_RATE, BASE_RATE * (1 + PLANTED_LIFT))
    activated = rng.random(UNITS) < rate
    # Half the units are recorded by server-side assignment, half arrive as SDK tracking events.
    HoldoutUnit.objects.bulk_create(
        HoldoutUnit(
            workspace=workspace,
            holdout=holdout,
            unit_id=u,
            arm="holdout" if held[i] else "general",
            first_seen_us=int(seen[i]),
        )
        for i, u in enumerate(units)
        if i % 2 == 0
    )
    events = [
        Event(
            workspace=workspace,
            event="$exposure",
            distinct_id=u,
            timestamp_us=int(seen[i]),
            insert_id=f"x{i}",
            properties={
                "experiment": "$holdout:h1",
                "variant": "holdout" if held[i] else "general",
            },
        )
        for i, u in enumerate(units)
        if i % 2 == 1
    ]
    events += [
        Event(
            workspace=workspace,
            event="activated-event",
            distinct_id=u,
            timestamp_us=int(seen[i]) + 3_600_000_000,
            insert_id=f"a{i}",
        )
        for i, u in enumerate(units)
        if activated[i]
    ]
    Event.objects.bulk_create(events)
    Event.objects.update(received_at=T0)
    return {"held": held, "activated": activated}


def _shipped(workspace, make_metric, key: str, *, concluded: datetime, impact: float, se: float):
    design = ExperimentDesign(
        key=key,
        name=key,
        hypothesis_change="a change",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("b", 0.5)),
        primary_metric="activated",
    )
    experiment = experiment_create(workspace=workspace, design=design, actor=None)
    Experiment.objects.filter(pk=experiment.pk).update(
        status=ExperimentStatus.CONCLUDED,
        decision=Decision.SHIP,
        decision_variant="b",
        concluded_at=concluded,
    )
    Learning.objects.create(
        workspace=workspace,
        source=Source.EXPERIMENT,
        experiment=experiment,
        title=key,
        decision="ship",
        impact=impact,
        impact_se=se,
        learned_on=concluded.date(),
        quarter="2026-Q1",
    )
    return experiment


def test_report_measures_the_planted_lift_and_sets_the_shrunk_sum_beside_it(workspace, make_metric):
    metric = make_metric(workspace, "activated", window_days=7)
    _key_result(workspace, metric)
    holdout = _holdout(workspace)
    planted = _plant(workspace, holdout)
    # Shipped during the holdout: two; before it: one (already reached the holdout); and
    # three more learnings that only inform the prior.
    _shipped(workspace, make_metric, "a", concluded=T0 + timedelta(days=10), impact=0.08, se=0.03)
    _shipped(workspace, make_metric, "b", concluded=T0 + timedelta(days=20), impact=0.05, se=0.02)
    _shipped(workspace, make_metric, "old", concluded=T0 - timedelta(days=5), impact=0.3, se=0.1)
    for i, (impact, se) in enumerate([(0.01, 0.02), (-0.02, 0.03), (0.0, 0.02)]):
        _shipped(
            workspace, make_metric, f"p{i}", concluded=T0 - timedelta(days=40), impact=impact, se=se
        )

    report = holdout_report_create(holdout=holdout, now=END + timedelta(days=1))

    assert report.final is True
    assert report.data_cutoff == END
    results = report.results
    held, activated = planted["held"], planted["activated"]
    assert results["holdout_units"] == int(held.sum())
    assert results["general_units"] == int((~held).sum())
    assert results["observed_share"] == pytest.approx(held.mean())
    (m,) = results["metrics"]
    assert m["key"] == "activated"
    assert m["key_results"] == ["Activation 25%"]
    p_h, p_g = activated[held].mean(), activated[~held].mean()
    n_h, n_g = int(held.sum()), int((~held).sum())
    assert m["holdout_mean"] == pytest.approx(p_h)
    assert m["general_mean"] == pytest.approx(p_g)
    assert m["lift"] == pytest.approx(p_g / p_h - 1)
    # Delta-method interval of a relative difference of proportions, written out.
    var_rel = p_g * (1 - p_g) / n_g / p_h**2 + p_g**2 * p_h * (1 - p_h) / n_h / p_h**4
    half = 1.959964 * math.sqrt(var_rel)
    assert m["ci_low"] == pytest.approx(p_g / p_h - 1 - half, abs=2e-3)
    assert m["ci_high"] == pytest.approx(p_g / p_h - 1 + half, abs=2e-3)
    assert m["ci_low"] < PLANTED_LIFT < m["ci_high"]
    assert m["ci_low"] > 0
    # The shrunk lifts are the meta-analysis's, fitted over all six learnings.
    fit = shrink(
        [0.08, 0.05, 0.3, 0.01, -0.02, 0.0],
        [0.03, 0.02, 0.1, 0.02, 0.03, 0.02],
        method="empirical_bayes",
    )
    assert fit.method == "empirical_bayes"
    assert fit.shrunk[0] < 0.08  # pulled toward the prior
    assert [s["key"] for s in m["shipped"]] == ["a", "b"]
    assert [s["lift_shrunk"] for s in m["shipped"]] == pytest.approx(list(fit.shrunk[:2]))
    assert m["shipped_sum"] == pytest.approx(0.13)
    assert m["shipped_sum_shrunk"] == pytest.approx(fit.shrunk[0] + fit.shrunk[1])
    assert results["shipped_experiments"] == 2
    assert results["split_flag"] is False


def test_units_sync_from_sdk_events_keeps_the_first_sighting_and_ignores_other_events(workspace):
    holdout = _holdout(workspace)
    ts = to_epoch_us(T0 + timedelta(days=1))
    Event.objects.bulk_create(
        [
            Event(
                workspace=workspace,
                event="$exposure",
                distinct_id="a",
                timestamp_us=ts + 9,
                insert_id="1",
                properties={"experiment": "$holdout:h1", "variant": "general"},
            ),
            Event(
                workspace=workspace,
                event="$exposure",
                distinct_id="a",
                timestamp_us=ts,
                insert_id="2",
                properties={"experiment": "$holdout:h1", "variant": "general"},
            ),
            # Before the period, another experiment, an unknown arm: all ignored.
            Event(
                workspace=workspace,
                event="$exposure",
                distinct_id="b",
                timestamp_us=to_epoch_us(T0) - 1,
                insert_id="3",
                properties={"experiment": "$holdout:h1", "variant": "holdout"},
            ),
            Event(
                workspace=workspace,
                event="$exposure",
                distinct_id="c",
                timestamp_us=ts,
                insert_id="4",
                properties={"experiment": "h1", "variant": "holdout"},
            ),
            Event(
                workspace=workspace,
                event="$exposure",
                distinct_id="d",
                timestamp_us=ts,
                insert_id="5",
                properties={"experiment": "$holdout:h1", "variant": "x"},
            ),
        ]
    )
    Event.objects.update(received_at=T0)

    first = holdout_units_sync_from_events(holdout=holdout, now=END)
    again = holdout_units_sync_from_events(holdout=holdout, now=END)

    assert dict(HoldoutUnit.objects.values_list("unit_id", "first_seen_us")) == {"a": ts}
    assert first.units_written == 1
    assert again.units_written == 0


def test_reports_are_due_for_running_holdouts_and_once_at_the_end(workspace):
    holdout = _holdout(workspace)

    assert holdout_reports_due(now=T0 + timedelta(days=1)) == [holdout.pk]
    holdout_report_create(holdout=holdout, now=T0 + timedelta(days=1))
    assert holdout_reports_due(now=END + timedelta(days=1)) == [holdout.pk]
    holdout_report_create(holdout=holdout, now=END + timedelta(days=1))
    assert holdout_reports_due(now=END + timedelta(days=2)) == []
    assert HoldoutReport.objects.filter(holdout=holdout, final=True).count() == 1


# --- API ---------------------------------------------------------------------------------------


def _future(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def test_create_read_and_end_a_holdout_through_the_api(editor, viewer, workspace):
    body = {
        "key": "h2",
        "name": "H2",
        "share": 0.05,
        "starts_at": _future(0),
        "ends_at": _future(90),
    }

    created = editor.client.post("/api/v1/holdouts/", body, format="json")
    listed = viewer.client.get("/api/v1/holdouts/")
    denied = viewer.client.post("/api/v1/holdouts/h2/end")
    ended = editor.client.post("/api/v1/holdouts/h2/end")

    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "running"
    assert created.json()["tracking_key"] == "$holdout:h2"
    assert listed.json()["results"][0]["key"] == "h2"
    assert denied.status_code == 403
    assert ended.json()["status"] == "ended"
    actions = AuditLog.objects.filter(workspace=workspace, action__startswith="holdout.")
    assert list(actions.values_list("action", flat=True)) == [
        "holdout.update",
        "holdout.create",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"share": 0}, "share"),
        ({"share": 0.6}, "share"),
        ({"share": 0.00005}, "share"),
        ({"ends_at": _future(-1)}, "ends_at"),
        ({"starts_at": _future(-2)}, "starts_at"),
        ({"key": "not a slug"}, "key"),
        ({"hash_attribute": "$id"}, "hash_attribute"),
    ],
)
def test_bad_holdouts_are_refused_naming_the_field(editor, change, field):
    body = {
        "key": "h3",
        "name": "H3",
        "share": 0.05,
        "starts_at": _future(0),
        "ends_at": _future(30),
    }

    response = editor.client.post("/api/v1/holdouts/", {**body, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Holdout.objects.exists()


def test_periods_never_overlap_and_a_started_holdout_keeps_its_share(editor):
    body = {
        "key": "h4",
        "name": "H4",
        "share": 0.05,
        "starts_at": _future(0),
        "ends_at": _future(30),
    }
    editor.client.post("/api/v1/holdouts/", body, format="json")

    overlap = editor.client.post(
        "/api/v1/holdouts/", {**body, "key": "h5", "starts_at": _future(10)}, format="json"
    )
    reshare = editor.client.patch("/api/v1/holdouts/h4/", {"share": 0.1}, format="json")
    renamed = editor.client.patch("/api/v1/holdouts/h4/", {"name": "Renamed"}, format="json")

    assert overlap.status_code == 400
    assert "starts_at" in overlap.json()["errors"]
    assert reshare.status_code == 409
    assert "share" in reshare.json()["errors"]
    assert renamed.json()["name"] == "Renamed"


def test_other_workspaces_never_see_a_holdout(editor, outsider):
    body = {
        "key": "h6",
        "name": "H6",
        "share": 0.05,
        "starts_at": _future(0),
        "ends_at": _future(30),
    }
    editor.client.post("/api/v1/holdouts/", body, format="json")

    assert outsider.client.get("/api/v1/holdouts/h6/").status_code == 404
    assert outsider.client.get("/api/v1/holdouts/h6/report").status_code == 404
    assert outsider.client.get("/api/v1/holdouts/").json()["results"] == []


def test_report_api_queues_a_report_and_shows_the_latest_in_plain_language(
    editor, workspace, make_metric, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    metric = make_metric(workspace, "activated", window_days=7)
    _key_result(workspace, metric)
    holdout = _holdout(workspace)
    _plant(workspace, holdout)
    holdout_report_create(holdout=holdout, now=END + timedelta(days=1))

    report = editor.client.get("/api/v1/holdouts/h1/report").json()["report"]

    assert report["final"] is True
    summary = report["metrics"][0]["summary"]
    assert summary.startswith("activated: everyone else is +")
    assert "the measured combined effect of everything shipped" in summary
    assert "moved it in the right direction" in summary
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = editor.client.post("/api/v1/holdouts/h1/report")
    assert queued.status_code == 202
    assert len(callbacks) == 1
