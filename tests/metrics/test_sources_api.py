"""The event sources API: admins connect a warehouse table, editors dry-run it, everyone in the
workspace reads it; the secret never comes back; other workspaces see nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metrics.models import EventSource
from metrics.sources.encryption import secret_decrypt
from plg_platform.models import AuditLog
from tests.metrics.warehouse import (
    EVENTS_MAPPING,
    EXPOSURES_MAPPING,
    Warehouse,
    generate,
    write_duckdb,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/sources/"
SECRET = "pw-4f1c9e-very-secret"


@pytest.fixture(scope="module")
def data() -> Warehouse:
    return generate(seed=11, units=120)


@pytest.fixture
def root(tmp_path: Path, settings, data: Warehouse) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    settings.METRICS_SOURCE_ROOT = folder
    write_duckdb(folder / "analytics.duckdb", data)
    return folder


def _duckdb_body(**overrides) -> dict:
    return {
        "name": "Analytics",
        "engine": "duckdb",
        "connection": {"path": "analytics.duckdb"},
        "events": EVENTS_MAPPING,
        "exposures": EXPOSURES_MAPPING,
        **overrides,
    }


def _clickhouse_body(**overrides) -> dict:
    return {
        "name": "ClickHouse",
        "engine": "clickhouse",
        "connection": {"host": "ch.internal", "port": 8123, "username": "reader"},
        "secret": SECRET,
        "events": EVENTS_MAPPING,
        **overrides,
    }


def test_an_admin_connects_a_duckdb_file_and_everyone_reads_it(admin_actor, viewer, root):
    response = admin_actor.client.post(URL, _duckdb_body(), format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["engine"] == "duckdb"
    assert created["connection"]["path"] == "analytics.duckdb"
    assert created["events"] == {
        "table": "app_events",
        "event_column": "event_name",
        "unit_column": "account_user",
        "timestamp_column": "occurred_at",
        "time_type": "timestamp",
        "properties_column": "payload",
        "property_columns": {"plan": "plan", "revenue": "revenue"},
        "persons_table": "",
    }
    assert created["exposures"] == {
        "table": "experiment_viewed",
        "experiment_column": "experiment_id",
        "variation_column": "variation_id",
        "unit_column": "user_id",
        "timestamp_column": "timestamp",
        "time_type": "timestamp",
    }
    assert created["has_secret"] is False
    assert created["last_check"] == {}
    listed = viewer.client.get(URL).json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == created["id"]
    assert viewer.client.get(f"{URL}{created['id']}/").json()["name"] == "Analytics"


def test_the_secret_is_write_only_and_stored_encrypted(admin_actor, root):
    response = admin_actor.client.post(URL, _clickhouse_body(), format="json")
    assert response.status_code == 201, response.json()
    source_id = response.json()["id"]

    answers = [
        response,
        admin_actor.client.get(URL),
        admin_actor.client.get(f"{URL}{source_id}/"),
        admin_actor.client.patch(f"{URL}{source_id}/", {"name": "CH"}, format="json"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.content.decode()
        assert "secret_encrypted" not in answer.content.decode()
    assert answers[-1].json()["has_secret"] is True
    assert "secret" not in answers[-1].json()
    stored = EventSource.objects.get(pk=source_id).secret_encrypted
    assert SECRET not in stored
    assert secret_decrypt(stored) == SECRET
    # The audit trail says it changed, never what it is.
    trail = json.dumps(list(AuditLog.objects.values_list("changes", flat=True)))
    assert SECRET not in trail


def test_moving_a_source_without_its_secret_is_refused(admin_actor, root):
    source_id = admin_actor.client.post(URL, _clickhouse_body(), format="json").json()["id"]

    moved = admin_actor.client.patch(
        f"{URL}{source_id}/", {"connection": {"host": "elsewhere.example"}}, format="json"
    )

    assert moved.status_code == 400
    assert list(moved.json()["errors"]) == ["secret"]
    assert EventSource.objects.get(pk=source_id).host == "ch.internal"
    again = admin_actor.client.patch(
        f"{URL}{source_id}/",
        {"connection": {"host": "elsewhere.example"}, "secret": "other-pw"},
        format="json",
    )
    assert again.status_code == 200, again.json()
    assert again.json()["connection"]["host"] == "elsewhere.example"
    assert again.json()["connection"]["port"] == 8123


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"connection": {"path": "../../etc/passwd"}}, "connection.path"),
        ({"connection": {"path": "/etc"}}, "connection.path"),
        ({"events": {**EVENTS_MAPPING, "table": "app_events where 1=1"}}, "events.table"),
        ({"events": {**EVENTS_MAPPING, "timestamp_column": "ts-2"}}, "events.timestamp_column"),
        ({"exposures": {"table": "x", "variation_column": "v v"}}, "exposures.variation_column"),
        ({"engine": "mysql"}, "engine"),
        ({"secret": "not for a file"}, "secret"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(change, field, admin_actor, root):
    response = admin_actor.client.post(URL, _duckdb_body(**change), format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not EventSource.objects.exists()


def test_unknown_fields_are_refused(admin_actor, root):
    response = admin_actor.client.post(
        URL, _duckdb_body(connection={"path": "analytics.duckdb", "file": "x"}), format="json"
    )
    assert response.status_code == 400
    assert "connection.file" in response.json()["errors"]


def test_only_admins_change_sources_and_editors_dry_run_them(admin_actor, editor, viewer, root):
    assert editor.client.post(URL, _duckdb_body(), format="json").status_code == 403
    source_id = admin_actor.client.post(URL, _duckdb_body(), format="json").json()["id"]
    detail = f"{URL}{source_id}/"

    assert editor.client.patch(detail, {"name": "x"}, format="json").status_code == 403
    assert editor.client.delete(detail).status_code == 403
    assert viewer.client.post(f"{detail}dry-run/").status_code == 403
    assert editor.client.post(f"{detail}dry-run/").status_code == 200


def test_the_dry_run_reports_the_generated_figures(editor, admin_actor, root, data):
    source_id = admin_actor.client.post(URL, _duckdb_body(), format="json").json()["id"]

    report = editor.client.post(f"{URL}{source_id}/dry-run/").json()

    assert report["ok"] is True
    assert report["errors"] == []
    assert report["events"]["rows"] == len(data.events)
    assert report["events"]["units"] == len({e.account_user for e in data.events})
    assert report["exposures"]["rows"] == len(data.exposures)
    first = min(x.timestamp for x in data.exposures if x.experiment_id == "checkout-redesign")
    by_id = {e["experiment_id"]: e for e in report["exposures"]["experiments"]}
    assert by_id["checkout-redesign"]["first_time"] == first.isoformat()
    # Kept on the source and shown with it.
    shown = editor.client.get(f"{URL}{source_id}/").json()
    assert shown["last_check"]["events"]["rows"] == len(data.events)
    assert shown["last_checked_at"] is not None


def test_a_failed_dry_run_is_a_report_naming_the_column(editor, admin_actor, root):
    body = _duckdb_body(events={**EVENTS_MAPPING, "unit_column": "customer_id"})
    source_id = admin_actor.client.post(URL, body, format="json").json()["id"]

    response = editor.client.post(f"{URL}{source_id}/dry-run/")

    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is False
    (error,) = report["errors"]
    assert error["kind"] == "missing"
    assert error["column"] == "customer_id"
    assert error["field"] == "events.unit_column"
    assert error["message"].startswith("Source 'Analytics' (DuckDB file analytics.duckdb)")


def test_other_workspaces_cannot_see_or_use_a_source(admin_actor, outsider, root):
    source_id = admin_actor.client.post(URL, _duckdb_body(), format="json").json()["id"]
    detail = f"{URL}{source_id}/"

    assert outsider.client.get(URL).json()["count"] == 0
    assert outsider.client.get(detail).status_code == 404
    assert outsider.client.patch(detail, {"name": "mine"}, format="json").status_code == 404
    assert outsider.client.post(f"{detail}dry-run/").status_code == 404
    assert outsider.client.delete(detail).status_code == 404
    assert EventSource.objects.get(pk=source_id).name == "Analytics"


def test_delete_removes_the_source(admin_actor, root):
    source_id = admin_actor.client.post(URL, _duckdb_body(), format="json").json()["id"]

    assert admin_actor.client.delete(f"{URL}{source_id}/").status_code == 204
    assert not EventSource.objects.exists()


def test_patch_changes_one_mapping_field_and_can_drop_the_exposure_table(admin_actor, root):
    source_id = admin_actor.client.post(URL, _duckdb_body(), format="json").json()["id"]
    detail = f"{URL}{source_id}/"

    changed = admin_actor.client.patch(
        detail, {"events": {"unit_column": "account_user"}, "exposures": None}, format="json"
    )

    assert changed.status_code == 200, changed.json()
    assert changed.json()["events"]["table"] == "app_events"
    assert changed.json()["exposures"] is None


def test_the_schema_describes_sources_without_the_secret_in_answers(client):
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/sources/" in schema["paths"]
    assert "/api/v1/sources/{source_id}/dry-run/" in schema["paths"]
    output = schema["components"]["schemas"]["SourceOutput"]["properties"]
    assert "secret" not in output
    assert "has_secret" in output
    assert "secret" in schema["components"]["schemas"]["SourceInputRequest"]["properties"]
