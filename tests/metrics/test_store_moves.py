"""Moving a workspace's events between stores (``metrics.store_moves``): app database ↔ DuckDB
and ↔ chdb, with every metric's statistics equal before and after, exact reruns, a failing
target that leaves the old store in charge, events that arrive during the move, and the API and
command around it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import pytest
from django.core.management import CommandError, call_command

from metrics.engine.populations import FirstSeenPopulation
from metrics.runner import compute_metric_statistics
from metrics.store_moves import (
    STORE_MOVE_JOB_KIND,
    StoreMoveError,
    copy_events,
    store_move_create,
    store_move_job_run,
    store_move_run,
)
from metrics.store_sides import store_side
from metrics.stores import clickhouse_store_close, engine_for_workspace, store_folder
from metrics.tasks import move_event_store
from plg_platform.models import BackgroundJob, Event, EventStore, JobStatus, Person, Workspace
from plg_platform.services.ingestion import events_ingest, persons_identify
from tests.metrics.reference import CUTOFF_US, DEFINITIONS, generate_events

pytestmark = pytest.mark.django_db
MOVES = "/api/v1/event-store/moves/"


@pytest.fixture
def stores(settings, tmp_path):
    settings.METRICS_STORE_DIR = str(tmp_path / "stores")
    settings.METRICS_CLICKHOUSE_URL = f"chdb://{tmp_path / 'clickhouse'}"
    settings.STORE_MOVE_SETTLE_SECONDS = 0
    yield tmp_path
    clickhouse_store_close()


def _raw(seed: int, units: int = 80):
    """Generated events; every seventh without an insert_id (no dedupe can recognise those)."""
    raw, plans = generate_events(seed=seed, units=units)
    for i, event in enumerate(raw):
        if i % 7 == 3:
            del event["insert_id"]
    return raw, plans


def _ingest(workspace: Workspace, raw, plans=None) -> None:
    for i in range(0, len(raw), 300):
        assert events_ingest(workspace=workspace, raw_events=raw[i : i + 300]).rejected == []
    if plans:
        persons_identify(workspace=workspace, traits=[(u, {"plan": p}) for u, p in plans.items()])


def _statistics(workspace: Workspace) -> dict:
    workspace.refresh_from_db()
    stats = compute_metric_statistics(
        workspace_id=workspace.pk,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(event="signup", segment_property="plan"),
        cutoff_us=CUTOFF_US,
        engine=engine_for_workspace(workspace),
    )
    return {(s.metric, s.segment): dataclasses.asdict(s) for s in stats}


def _assert_same(before: dict, after: dict) -> None:
    assert set(before) == set(after)
    assert len(before) >= len(DEFINITIONS) * 3  # every metric, every plan segment
    for key, expected in before.items():
        for name, value in expected.items():
            got = after[key][name]
            if isinstance(value, float) and not math.isnan(value):
                assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (key, name)
            else:
                assert got == value or (value != value and got != got), (key, name)


def _events(workspace: Workspace) -> list[tuple]:
    """Every stored event of the workspace in its store, as comparable tuples."""
    workspace.refresh_from_db()
    side = store_side(workspace.event_store, workspace.pk)
    rows = side.events(workspace.pk, 0, None, 10**9)
    return sorted(
        (e, d, t, k or "", k is None, json.dumps(json.loads(p), sort_keys=True))
        for _, e, d, t, k, p in rows
    )


@pytest.mark.parametrize("to", ["duckdb", "chdb"])
def test_a_move_there_and_back_keeps_every_event_person_and_statistic(workspace, stores, to):
    raw, plans = _raw(seed=20261124)
    _ingest(workspace, raw, plans)
    before, events = _statistics(workspace), _events(workspace)
    assert len(events) == len(raw)

    report = store_move_run(workspace=workspace, to=to, batch_size=97)

    workspace.refresh_from_db()
    assert workspace.event_store == (EventStore.DUCKDB if to == "duckdb" else EventStore.CLICKHOUSE)
    assert report.events == len(raw)
    assert report.persons == len(plans)
    assert report.verified["events"] == len(raw)
    assert _events(workspace) == events
    _assert_same(before, _statistics(workspace))

    back = store_move_run(workspace=workspace, to="app", batch_size=211)

    workspace.refresh_from_db()
    assert workspace.event_store == EventStore.APP
    assert back.events == len(raw)
    assert Event.objects.filter(workspace=workspace).count() == len(raw)
    assert Person.objects.filter(workspace=workspace).count() == len(plans)
    assert _events(workspace) == events
    _assert_same(before, _statistics(workspace))


def test_rerun_after_a_crash_and_a_stale_target_store_nothing_twice(workspace, stores):
    raw, plans = _raw(seed=5)
    _ingest(workspace, raw, plans)
    before, events = _statistics(workspace), _events(workspace)
    app, duck = store_side("app", workspace.pk), store_side("duckdb", workspace.pk)
    # A crashed first attempt: half the events already copied (those without insert_id too).
    middle = sorted(Event.objects.filter(workspace=workspace).values_list("id", flat=True))[
        len(raw) // 2
    ]
    copy_events(source=app, target=duck, workspace_id=workspace.pk, after=0, upto=middle)
    assert duck.summary(workspace.pk, 0, None).events == len(raw) // 2 + 1

    store_move_run(workspace=workspace, to="duckdb", batch_size=50)
    assert _events(workspace) == events
    # And back and forth again: the app database still holds the old copy, the DuckDB folder
    # too when moving there the second time; each move starts from an empty target.
    store_move_run(workspace=workspace, to="app")
    store_move_run(workspace=workspace, to="duckdb")
    assert _events(workspace) == events
    _assert_same(before, _statistics(workspace))


def test_a_finished_job_run_again_does_nothing(workspace, stores):
    raw, _ = _raw(seed=8, units=20)
    _ingest(workspace, raw)
    job = store_move_create(workspace=workspace, to="chdb")
    assert store_move_job_run(job=job).events == len(raw)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress == 1.0
    assert job.result["events"] == len(raw)
    assert job.result["to"].startswith("ClickHouse store")

    assert move_event_store(job.pk) == 0  # a redelivery of the finished job
    assert len(_events(workspace)) == len(raw)


def test_events_arriving_during_the_copy_are_moved_and_retries_stored_once(workspace, stores):
    raw, _ = _raw(seed=13)
    late, _ = generate_events(seed=14, units=30)
    for event in late:
        event["insert_id"] = "late-" + event["insert_id"]
    _ingest(workspace, raw)
    sent = []

    def ingest_while_copying(done: int, total: int) -> None:
        if done and len(sent) < 3:  # three batches arrive (one of them twice) mid-copy
            chunk = late[len(sent) * 40 : (len(sent) + 1) * 40]
            stale = Workspace.objects.get(pk=workspace.pk)  # a request loaded it: still app
            events_ingest(workspace=stale, raw_events=chunk)
            events_ingest(workspace=stale, raw_events=chunk)
            sent.append(chunk)

    report = store_move_run(
        workspace=workspace, to="duckdb", batch_size=100, on_progress=ingest_while_copying
    )

    assert report.events == len(raw) + 120
    stored = _events(workspace)
    assert len(stored) == len(raw) + 120
    ids = [k for _, _, _, k, _, _ in stored if k]
    assert len(ids) == len(set(ids))
    assert {e["insert_id"] for chunk in sent for e in chunk} <= set(ids)


def test_a_target_failing_mid_copy_keeps_the_old_store(workspace, stores):
    raw, plans = _raw(seed=21)
    _ingest(workspace, raw, plans)
    before = _statistics(workspace)
    folder = store_folder(workspace.pk)

    def break_target(done: int, total: int) -> None:
        if done:  # after the first batch: the store's folder becomes a file
            shutil.rmtree(folder)
            folder.write_text("not a folder")

    job = store_move_create(workspace=workspace, to="duckdb")
    with pytest.raises(StoreMoveError, match=f"Writing to DuckDB store {folder} failed"):
        store_move_run(
            workspace=workspace, to="duckdb", job=job, batch_size=60, on_progress=break_target
        )

    workspace.refresh_from_db()
    assert workspace.event_store == EventStore.APP
    assert Event.objects.filter(workspace=workspace).count() == len(raw)
    _assert_same(before, _statistics(workspace))
    late = {**raw[0], "insert_id": "after-the-failure"}
    assert events_ingest(workspace=workspace, raw_events=[late]).accepted == 1
    assert Event.objects.filter(workspace=workspace, insert_id="after-the-failure").exists()

    # Fixed, the same move goes through from scratch (the late event too).
    folder.unlink()
    store_move_run(workspace=workspace, to="duckdb", batch_size=60)
    assert len(_events(workspace)) == len(raw) + 1


def test_an_unwritable_target_fails_the_job_naming_the_store(workspace, stores, settings):
    raw, _ = _raw(seed=2, units=10)
    _ingest(workspace, raw)
    blocker = stores / "a-file"
    blocker.write_text("x")
    settings.METRICS_STORE_DIR = str(blocker / "stores")
    job = store_move_create(workspace=workspace, to="duckdb")

    assert store_move_job_run(job=job) is None

    job.refresh_from_db()
    workspace.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith(f"Writing to DuckDB store {blocker}/stores/ws-{workspace.pk}")
    assert workspace.event_store == EventStore.APP
    assert Event.objects.filter(workspace=workspace).count() == len(raw)


# --- API and command -----------------------------------------------------------------------------
def test_admins_start_a_move_and_follow_it(
    admin_actor, editor, viewer, outsider, stores, django_capture_on_commit_callbacks
):
    workspace = admin_actor.workspace
    raw, _ = _raw(seed=4, units=15)
    _ingest(workspace, raw)
    for actor in (viewer, editor):
        assert actor.client.post(MOVES, {"to": "duckdb"}, format="json").status_code == 403
        assert actor.client.get(MOVES).status_code == 403

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_actor.client.post(MOVES, {"to": "duckdb"}, format="json")
    assert response.status_code == 202, response.json()
    assert len(queued) == 1
    job_id = response.json()["job_id"]
    again = admin_actor.client.post(MOVES, {"to": "chdb"}, format="json")
    assert again.status_code == 409, again.json()
    assert "already queued or running" in again.json()["errors"]["to"][0]

    assert move_event_store(job_id) == len(raw)  # what the worker runs

    status = admin_actor.client.get(response.json()["status_url"]).json()
    assert status["status"] == "succeeded"
    assert status["progress"] == 1.0
    assert status["result"]["events"] == len(raw)
    assert admin_actor.client.get(MOVES).json()["count"] == 1
    assert outsider.client.get(f"{MOVES}{job_id}/").status_code == 404
    workspace.refresh_from_db()
    assert workspace.event_store == EventStore.DUCKDB


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"to": "mysql"}, "to", "Unknown event store"),
        ({"to": "app"}, "to", "already in App database"),
        ({}, "to", "required"),
        ({"to": "duckdb", "batch": 5}, "batch", "Unknown field"),
    ],
)
def test_bad_move_requests_name_the_field(admin_actor, stores, body, field, words):
    response = admin_actor.client.post(MOVES, body, format="json")
    assert response.status_code == 400, response.json()
    assert words in response.json()["errors"][field][0], response.json()
    assert not BackgroundJob.objects.filter(kind=STORE_MOVE_JOB_KIND).exists()


def test_no_clickhouse_configured_is_refused(admin_actor, stores, settings):
    settings.METRICS_CLICKHOUSE_URL = ""
    response = admin_actor.client.post(MOVES, {"to": "chdb"}, format="json")
    assert response.status_code == 400
    assert "METRICS_CLICKHOUSE_URL" in response.json()["errors"]["to"][0]


def test_the_command_moves_and_reports(workspace, stores, capsys):
    raw, _ = _raw(seed=9, units=12)
    _ingest(workspace, raw)
    call_command("move_event_store", workspace=workspace.slug, to="chdb", batch_size=25)
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == len(raw)
    assert report["verified"]["events"] == len(raw)
    workspace.refresh_from_db()
    assert workspace.event_store == EventStore.CLICKHOUSE

    with pytest.raises(CommandError, match="to: The workspace's events are already in"):
        call_command("move_event_store", workspace=workspace.slug, to="clickhouse")
    with pytest.raises(CommandError, match="workspace: no workspace"):
        call_command("move_event_store", workspace="nope", to="app")
    with pytest.raises(CommandError, match="resume: this workspace has no move"):
        call_command("move_event_store", workspace=workspace.slug, resume=True)


def _stale(workspace: Workspace, store: str) -> Workspace:
    """The workspace as a request that loaded it before the switch sees it."""
    stale = Workspace.objects.get(pk=workspace.pk)
    stale.event_store = store
    return stale


def test_writes_that_reach_the_old_store_after_the_switch_are_copied_once(workspace, stores):
    raw, _ = _raw(seed=30, units=30)
    late, _ = generate_events(seed=31, units=10)
    for event in late:
        event["insert_id"] = "late-" + event["insert_id"]
    _ingest(workspace, raw)

    def stale_writers() -> None:
        # Loaded before the switch: these land in the app database, the old store ...
        assert events_ingest(workspace=_stale(workspace, "app"), raw_events=late).accepted
        # ... and a client's retry of five of them reaches the new store.
        events_ingest(workspace=Workspace.objects.get(pk=workspace.pk), raw_events=late[:5])

    report = store_move_run(workspace=workspace, to="duckdb", on_switched=stale_writers)

    assert report.events == len(raw)
    assert report.tail_events == len(late) - 5
    assert report.tail_duplicates == 5
    stored = _events(workspace)
    assert len(stored) == len(raw) + len(late)
    assert {e["insert_id"] for e in late} <= {k for _, _, _, k, _, _ in stored}


def test_a_failure_after_the_switch_is_named_and_resumed(workspace, stores, capsys):
    workspace.event_store = EventStore.DUCKDB
    workspace.save(update_fields=["event_store"])
    raw, plans = _raw(seed=32, units=30)
    late, _ = generate_events(seed=33, units=10)
    for event in late:
        event["insert_id"] = "late-" + event["insert_id"]
    _ingest(workspace, raw, plans)
    folder = store_folder(workspace.pk)
    aside = folder.with_name("aside")

    def stale_writer_then_source_lost() -> None:
        events_ingest(workspace=_stale(workspace, "duckdb"), raw_events=late)
        folder.rename(aside)
        folder.write_text("not a folder")

    job = store_move_create(workspace=workspace, to="app")
    assert store_move_job_run(job=job, on_switched=stale_writer_then_source_lost) is None

    job.refresh_from_db()
    workspace.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("The workspace now uses the app database (")
    assert f"Reading DuckDB store {folder} failed" in job.error
    assert job.result["phase"] == "switched"
    assert workspace.event_store == EventStore.APP
    assert Event.objects.filter(workspace=workspace).count() == len(raw)

    folder.unlink()
    aside.rename(folder)
    call_command("move_event_store", workspace=workspace.slug, resume=True)

    report = json.loads(capsys.readouterr().out)
    assert report["job"] == job.pk
    assert report["tail_events"] == len(late)
    assert report["events"] == len(raw)  # copied before the switch, kept from the first run
    assert Event.objects.filter(workspace=workspace).count() == len(raw) + len(late)
    assert Person.objects.filter(workspace=workspace).count() == len(plans)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_the_sources_page_shows_the_store_and_admins_move_from_it(
    client, admin_actor, viewer, stores, django_capture_on_commit_callbacks
):
    workspace = admin_actor.workspace
    client.force_login(viewer.user)
    page = client.get("/sources/").content.decode()
    assert "are stored in <strong>App database</strong>" in page
    assert 'name="to"' not in page
    assert client.post("/sources/store-move", {"to": "duckdb"}).status_code == 403

    client.force_login(admin_actor.user)
    page = client.get("/sources/").content.decode()
    assert '<option value="duckdb">' in page
    assert '<option value="chdb">' in page
    assert '<option value="app">' not in page
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post("/sources/store-move", {"to": "duckdb"})
    assert response.status_code == 302
    assert len(queued) == 1
    move_event_store(BackgroundJob.objects.get(kind=STORE_MOVE_JOB_KIND).pk)
    page = client.get("/sources/").content.decode()
    assert "are stored in <strong>DuckDB (Parquet files on this server)</strong>" in page
    assert "Succeeded" in page

    response = client.post("/sources/store-move", {"to": "nowhere"}, follow=True)
    assert "Unknown event store" in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.event_store == EventStore.DUCKDB


def test_admin_shows_the_store_of_an_existing_workspace_read_only(admin_client, workspace):
    page = admin_client.get(f"/admin/plg_platform/workspace/{workspace.pk}/change/")
    assert page.status_code == 200
    assert 'name="event_store"' not in page.content.decode()
    assert (
        'name="event_store"'
        in admin_client.get("/admin/plg_platform/workspace/add/").content.decode()
    )


def test_events_sharing_an_id_in_clickhouse_are_all_copied(workspace, stores):
    """Concurrent ClickHouse writers can number two batches alike; the keyset skips none."""
    from metrics.engines.store import event_table
    from metrics.stores import clickhouse_store

    workspace.event_store = EventStore.CLICKHOUSE
    workspace.save(update_fields=["event_store"])
    raw, _ = generate_events(seed=40, units=6)
    rows = event_table(
        (workspace.pk, e["event"], e["distinct_id"], 1_700_000_000_000_000 + i, f"k{i}", "{}")
        for i, e in enumerate(raw)
    )
    ids = [1 + i // 3 for i in range(rows.num_rows)]  # three events to an id
    clickhouse_store().insert_arrow("plg_platform_event", rows.append_column("id", [ids]))

    report = store_move_run(workspace=workspace, to="app", batch_size=2)

    assert report.events == len(raw)
    assert Event.objects.filter(workspace=workspace).count() == len(raw)
    assert set(Event.objects.values_list("insert_id", flat=True)) == {
        f"k{i}" for i in range(len(raw))
    }
