"""The analysis API: refresh, job progress, results with history and summaries, alerts."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from experiments.models import AlertKind, Notification, PendingAnalysis, ResultSnapshot, Webhook
from experiments.services.alerts import notification_create
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from plg_platform.celery import app as celery_app
from plg_platform.models import BackgroundJob, JobStatus
from plg_platform.services.ingestion import from_epoch_us, to_epoch_us
from tests.experiments.test_exp_analysis_support import (
    CUTOFF,
    DAY_US,
    T0,
    generate,
    planted_experiment,
)
from tests.experiments.test_exp_health_webhooks import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def small():
    return generate(units_per_variant=(1500, 1500), activation_lift=0.3)


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _snapshot(experiment, cutoff=CUTOFF):
    computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
    return snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)


def test_refresh_runs_the_analysis_and_reports_progress(
    editor, small, eager, django_capture_on_commit_callbacks
):
    experiment = planted_experiment(editor.workspace, small)

    with django_capture_on_commit_callbacks(execute=True):
        response = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh")

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"task_id", "job_id", "status", "joined", "status_url"}
    assert body["joined"] is False
    job = editor.client.get(body["status_url"]).json()
    snapshot = ResultSnapshot.objects.get(experiment=experiment)
    assert (job["status"], job["progress"], job["snapshot_id"]) == ("succeeded", 1.0, snapshot.pk)
    assert snapshot.job_id == body["job_id"]
    assert not PendingAnalysis.objects.exists()


def test_a_second_refresh_joins_the_pending_analysis(
    editor, small, django_capture_on_commit_callbacks
):
    experiment = planted_experiment(editor.workspace, small)

    with django_capture_on_commit_callbacks() as callbacks:
        first = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()
        second = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()

    assert (second["job_id"], second["task_id"], second["joined"]) == (
        first["job_id"],
        first["task_id"],
        True,
    )
    assert len(callbacks) == 1  # one task queued
    assert BackgroundJob.objects.filter(subject=experiment.key).count() == 1
    job = editor.client.get(first["status_url"]).json()
    assert (job["status"], job["progress"]) == ("queued", 0.0)


def test_a_pending_analysis_whose_job_went_silent_is_replaced(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    first = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()
    BackgroundJob.objects.filter(pk=first["job_id"]).update(
        status=JobStatus.RUNNING, updated_at=CUTOFF - timedelta(days=1)
    )

    second = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()

    assert second["joined"] is False
    assert second["job_id"] != first["job_id"]
    assert BackgroundJob.objects.get(pk=first["job_id"]).status == JobStatus.FAILED


def test_results_hold_the_latest_snapshot_history_and_summaries(editor, small):
    experiment = planted_experiment(editor.workspace, small, segments=("country",))
    first = _snapshot(experiment, cutoff=CUTOFF - timedelta(days=4))
    latest = _snapshot(experiment)

    response = editor.client.get(f"/api/v1/experiments/{experiment.key}/results")

    assert response.status_code == 200
    body = response.json()
    assert body["snapshot_id"] == latest.pk
    assert body["verdict"].startswith("treatment is better than control on the primary metric")
    metric = next(m for m in body["metrics"] if m["key"] == "onboarding-activated")
    (comparison,) = metric["comparisons"]
    assert body["summaries"]["onboarding-activated"] == metric["summary"]
    assert metric["summary"].startswith("Treatment increased 7-day activation by ")
    assert (
        "(95% CI " in metric["summary"] or "adjusted for multiple comparisons" in metric["summary"]
    )
    # Lift over time: one point per analysis, oldest first, matching each snapshot.
    history = next(
        h
        for h in body["history"]
        if (h["metric_key"], h["variant"]) == (metric["key"], "treatment")
    )
    assert [p["snapshot_id"] for p in history["points"]] == [first.pk, latest.pk]
    assert history["points"][-1]["effect"] == pytest.approx(comparison["effect"])
    assert history["points"][0]["units"] < history["points"][-1]["units"]  # fewer had matured
    forest = next(f for f in body["forest"] if f["metric_key"] == metric["key"])
    assert (forest["ci_low"], forest["ci_high"]) == (comparison["ci_low"], comparison["ci_high"])
    (country,) = body["segments"]
    assert country["property"] == "country"
    assert set(country["values"]) == {"US", "DE", "FR", "BR"}
    assert body["health"]["srm"]["flag"] is False
    assert body["pending"] is None


def test_results_say_what_to_do_and_how_many_units_count(editor):
    """New fields beside the old ones: the decision line, exposed and matured units with the
    first result's date, and the variants' names."""
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(editor.workspace, data, planned_mde=0.05)
    _snapshot(experiment, cutoff=T0 + timedelta(days=8))

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/results").json()

    cutoff_us = to_epoch_us(T0 + timedelta(days=8))
    matured = int((data.exposed_us + 7 * DAY_US <= cutoff_us).sum())
    first = int(data.exposed_us.min())
    assert body["maturity"] == {
        "units_exposed": 3000,
        "units_matured": matured,
        "maturity_days": 7,
        "first_exposed_at": from_epoch_us(first).isoformat().replace("+00:00", "Z"),
        "first_result_at": from_epoch_us(first + 7 * DAY_US).isoformat().replace("+00:00", "Z"),
        "all_matured_at": (
            from_epoch_us(int(data.exposed_us.max()) + 7 * DAY_US)
            .isoformat()
            .replace("+00:00", "Z")
        ),
    }
    metric = next(m for m in body["metrics"] if m["role"] == "primary")
    assert sum(v["units"] for v in metric["variants"]) == matured
    assert body["decision"]["action"] in ("ship", "keep_running")
    assert (
        body["decision"]["label"]
        == {"ship": "Ship", "keep_running": "Keep running"}[body["decision"]["action"]]
    )
    assert body["variant_names"] == {"control": "Control", "treatment": "Treatment"}
    assert body["finished"] is False
    for old_field in ("verdict", "banners", "metrics", "forest", "history", "health", "pending"):
        assert old_field in body
    # Lift over time by day of first exposure: one point per day and treatment, cumulative.
    points = [p for p in body["cumulative"] if p["metric"] == metric["key"]]
    days = sorted({int(d) for d in data.exposed_us // DAY_US})
    assert [p["units_exposed"] for p in points] == [
        int((data.exposed_us // DAY_US <= d).sum()) for d in days
    ]
    assert points[-1]["units_matured"] == matured


def test_results_before_any_analysis_are_empty_and_show_the_pending_job(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    job_id = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()["job_id"]

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/results").json()

    assert (body["snapshot_id"], body["metrics"], body["verdict"]) == (None, [], "No analysis yet.")
    assert body["pending"]["job_id"] == job_id


def test_snapshot_detail_has_the_inputs(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    snapshot = _snapshot(experiment)

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/snapshots/{snapshot.pk}").json()

    assert body["engine_version"] == snapshot.engine_version
    assert {s["metric"] for s in body["inputs"]["statistics"]} == {
        "onboarding-activated",
        "onboarding-sessions",
        "onboarding-unsubscribed",
    }


def test_bad_input_is_a_400_naming_the_field(editor, small):
    experiment = planted_experiment(editor.workspace, small)

    bad_phase = editor.client.get(f"/api/v1/experiments/{experiment.key}/results?phase=first")
    unknown = editor.client.get(f"/api/v1/experiments/{experiment.key}/results?segment=country")
    bad_unread = editor.client.get("/api/v1/notifications/?unread=perhaps")

    assert bad_phase.status_code == 400
    assert "phase" in bad_phase.json()["errors"]
    assert unknown.status_code == 400
    assert "segment" in unknown.json()["errors"]
    assert bad_unread.status_code == 400
    assert "unread" in bad_unread.json()["errors"]


def test_a_draft_cannot_be_refreshed(editor, make_metric):
    make_metric(editor.workspace, "aha")
    draft = experiment_create(
        workspace=editor.workspace,
        design=ExperimentDesign(
            key="draft",
            name="Draft",
            hypothesis_change="x",
            variants=(VariantSpec("a", 0.5, is_control=True), VariantSpec("b", 0.5)),
            primary_metric="aha",
        ),
        actor=None,
    )

    response = editor.client.post(f"/api/v1/experiments/{draft.key}/refresh")

    assert response.status_code == 409
    assert response.json()["errors"] == {"status": ["A draft experiment cannot be analysed."]}


def test_another_workspaces_experiment_job_and_results_are_404(editor, outsider, small):
    experiment = planted_experiment(editor.workspace, small)
    job_id = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh").json()["job_id"]
    snapshot = _snapshot(experiment)

    for response in (
        outsider.client.get(f"/api/v1/experiments/{experiment.key}/results"),
        outsider.client.post(f"/api/v1/experiments/{experiment.key}/refresh"),
        outsider.client.get(f"/api/v1/experiments/{experiment.key}/jobs/{job_id}"),
        outsider.client.get(f"/api/v1/experiments/{experiment.key}/snapshots/{snapshot.pk}"),
    ):
        assert response.status_code == 404
    missing = editor.client.get(f"/api/v1/experiments/{experiment.key}/jobs/{job_id + 99}")
    assert missing.status_code == 404
    assert "job" in missing.json()["errors"]


def test_viewers_read_results_but_cannot_refresh(viewer, small):
    experiment = planted_experiment(viewer.workspace, small)

    assert viewer.client.get(f"/api/v1/experiments/{experiment.key}/results").status_code == 200
    assert viewer.client.post(f"/api/v1/experiments/{experiment.key}/refresh").status_code == 403


def test_notifications_list_filter_and_mark_read(viewer, outsider):
    workspace = viewer.workspace
    for key in ("a", "b"):
        notification_create(
            workspace=workspace, experiment=None, kind=AlertKind.SRM, dedupe_key=key, title=key
        )
    first = Notification.objects.get(dedupe_key="a")

    listed = viewer.client.get("/api/v1/notifications/?unread=true").json()
    read = viewer.client.post(f"/api/v1/notifications/{first.pk}/read")
    unread = viewer.client.get("/api/v1/notifications/?unread=true").json()
    foreign = outsider.client.post(f"/api/v1/notifications/{first.pk}/read")
    all_read = viewer.client.post("/api/v1/notifications/read-all").json()

    assert listed["count"] == 2
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert [n["title"] for n in unread["results"]] == ["b"]
    assert foreign.status_code == 404
    assert all_read == {"marked": 1}


def test_webhooks_crud_shows_the_secret_only_once(admin_actor, editor, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    client = admin_actor.client
    receiver = Receiver()
    try:
        created = client.post(
            "/api/v1/webhooks/", {"url": receiver.url, "events": ["srm"]}, format="json"
        )
        webhook_id = created.json()["id"]
        listed = client.get("/api/v1/webhooks/").json()
        patched = client.patch(
            f"/api/v1/webhooks/{webhook_id}/", {"events": [], "is_active": False}, format="json"
        )
        rotated = client.post(f"/api/v1/webhooks/{webhook_id}/rotate-secret")
        ping = client.post(f"/api/v1/webhooks/{webhook_id}/ping").json()
        deliveries = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries/").json()
        forbidden = editor.client.get("/api/v1/webhooks/")
        deleted = client.delete(f"/api/v1/webhooks/{webhook_id}/")
    finally:
        receiver.close()

    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert "secret" not in listed["results"][0]
    assert patched.json()["events"] == []
    assert patched.json()["is_active"] is False
    assert rotated.json()["secret"] != created.json()["secret"]
    assert ping == {"delivered": True, "response_status": 200, "error": ""}
    assert deliveries["count"] == 0
    assert forbidden.status_code == 403
    assert deleted.status_code == 204
    assert not Webhook.objects.exists()


def test_bad_webhooks_are_a_400_naming_the_field(admin_actor):
    client = admin_actor.client

    bad_url = client.post("/api/v1/webhooks/", {"url": "ftp://example.com/x"}, format="json")
    no_url = client.post("/api/v1/webhooks/", {}, format="json")
    bad_kind = client.post(
        "/api/v1/webhooks/", {"url": "https://e.com", "events": ["everything"]}, format="json"
    )

    assert bad_url.status_code == 400
    assert "url" in bad_url.json()["errors"]
    assert no_url.status_code == 400
    assert "url" in no_url.json()["errors"]
    assert bad_kind.status_code == 400
    assert "events.0" in bad_kind.json()["errors"]
    assert not Webhook.objects.exists()


def test_openapi_schema_describes_the_new_endpoints_without_warnings():
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = out.getvalue()
    for path in (
        "/api/v1/experiments/{key}/refresh",
        "/api/v1/experiments/{key}/jobs/{job_id}",
        "/api/v1/experiments/{key}/results",
        "/api/v1/notifications/",
        "/api/v1/webhooks/{webhook_id}/rotate-secret",
    ):
        assert f'"{path}"' in schema, path


def test_the_results_api_returns_the_stored_outputs_field_for_field(editor, small):
    """The API reads typed contracts, yet returns exactly what the snapshot stored."""
    experiment = planted_experiment(editor.workspace, small, segments=("country",))
    snapshot = _snapshot(experiment)

    body = editor.client.get(f"/api/v1/experiments/{experiment.key}/results").json()

    assert body["metrics"] == snapshot.outputs["metrics"]
    assert [m for b in body["segments"] for m in b["metrics"]] == snapshot.outputs["segments"]
    assert body["verdict"] == snapshot.outputs["verdict"]
    assert body["banners"] == snapshot.health["banners"]
    assert body["health"] == {k: v for k, v in snapshot.health.items() if k != "banners"}


def test_a_snapshot_stored_in_an_older_shape_still_shows(editor, small):
    """Snapshots stored before fields were added (no verdicts, no absolute effects, no power
    or guardrail checks) load with those fields empty instead of failing."""
    experiment = planted_experiment(editor.workspace, small)
    snapshot = _snapshot(experiment)
    old_metric = {
        "key": "old-metric",
        "name": "Old metric",
        "role": "primary",
        "variants": [
            {"variant": "control", "units": 10, "n": 10, "value": 0.3},
            {"variant": "treatment", "units": 12, "n": 12, "value": 0.4},
        ],
        "comparisons": [{"variant": "treatment", "effect": 0.25, "summary": "Better."}],
    }
    ResultSnapshot.objects.filter(pk=snapshot.pk).update(
        outputs={"metrics": [old_metric]},
        health={"srm": {"phase": 1, "counts": {"control": 10, "treatment": 12}, "flag": False}},
    )

    response = editor.client.get(f"/api/v1/experiments/{experiment.key}/results")
    browser = Client()
    browser.force_login(editor.user)
    page = browser.get(reverse("results_web:page", kwargs={"key": experiment.key}))

    assert response.status_code == 200
    body = response.json()
    (metric,) = body["metrics"]
    (comparison,) = metric["comparisons"]
    assert (comparison["effect"], comparison["verdict"], comparison["significant"]) == (
        0.25,
        "inconclusive",
        False,
    )
    assert comparison["absolute_effect"] is None
    assert [v["n"] for v in metric["variants"]] == [10, 12]
    assert "never_reached_share" not in metric["variants"][0]
    assert body["health"]["srm"]["counts"] == {"control": 10, "treatment": 12}
    assert "power" not in body["health"]
    assert page.status_code == 200
    assert "Old metric" in page.content.decode()
