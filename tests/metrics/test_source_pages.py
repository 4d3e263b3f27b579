"""Event source pages: what a source is, connecting one with its errors shown by the field,
the dry run's report, and who may do what."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from metrics.models import EventSource
from metrics.sources.encryption import secret_decrypt
from metrics.sources.services import source_create
from tests.metrics.warehouse import EVENTS_MAPPING, EXPOSURES_MAPPING, generate, write_duckdb

pytestmark = pytest.mark.django_db

LIST = reverse("metrics_web:sources")
NEW = reverse("metrics_web:source-create")


@pytest.fixture
def root(tmp_path: Path, settings) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    settings.METRICS_SOURCE_ROOT = folder
    write_duckdb(folder / "analytics.duckdb", generate(seed=3, units=40))
    return folder


def _form(**overrides) -> dict:
    return {
        "name": "Analytics",
        "engine": "duckdb",
        "path": "analytics.duckdb",
        "events_table": "app_events",
        "event_column": "event_name",
        "unit_column": "account_user",
        "timestamp_column": "occurred_at",
        "time_type": "timestamp",
        "properties_column": "payload",
        "property_columns": "revenue = revenue\nplan = plan",
        "exposures_table": "experiment_viewed",
        "exposure_experiment_column": "experiment_id",
        "exposure_variation_column": "variation_id",
        "exposure_unit_column": "user_id",
        "exposure_timestamp_column": "timestamp",
        "exposure_time_type": "timestamp",
        **overrides,
    }


def _source(workspace) -> EventSource:
    return source_create(
        workspace=workspace,
        name="Analytics",
        engine="duckdb",
        connection={"path": "analytics.duckdb"},
        events=EVENTS_MAPPING,
        exposures=EXPOSURES_MAPPING,
    )


def test_the_list_says_what_a_source_is_and_viewers_cannot_connect_one(client, viewer, root):
    client.force_login(viewer.user)
    page = client.get(LIST).content.decode()
    assert "An event source is a table of product events your team already keeps" in page
    assert "Admins of this workspace connect sources." in page
    assert NEW not in page
    assert client.get(NEW).status_code == 403


def test_an_admin_connects_a_source_through_the_form(client, admin_actor, root):
    client.force_login(admin_actor.user)

    response = client.post(NEW, _form())

    source = EventSource.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("metrics_web:source", kwargs={"source_id": source.pk})
    assert source.property_columns == {"plan": "plan", "revenue": "revenue"}
    assert source.exposures_table == "experiment_viewed"
    page = client.get(response.url).content.decode()
    assert "Run a dry run" in page


def test_a_bad_path_is_shown_at_its_field_and_nothing_is_written(client, admin_actor, root):
    client.force_login(admin_actor.user)

    response = client.post(NEW, _form(path="../../etc/passwd"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "must lie inside the sources folder" in page
    assert 'href="#id_path"' in page
    assert not EventSource.objects.exists()


def test_a_bad_property_line_is_shown_at_its_field(client, admin_actor, root):
    client.force_login(admin_actor.user)

    response = client.post(NEW, _form(property_columns="revenue"))

    assert response.status_code == 400
    assert "line 1 is" in response.content.decode()
    assert not EventSource.objects.exists()


def test_a_clickhouse_password_is_stored_encrypted_and_never_shown(client, admin_actor, root):
    client.force_login(admin_actor.user)
    form = _form(engine="clickhouse", path="", host="ch.internal", secret="page-pw-123")

    response = client.post(NEW, form)

    source = EventSource.objects.get()
    assert response.status_code == 302
    assert secret_decrypt(source.secret_encrypted) == "page-pw-123"
    assert "page-pw-123" not in client.get(response.url).content.decode()


def test_an_editor_runs_the_dry_run_and_sees_the_figures(client, editor, root):
    source = _source(editor.workspace)
    client.force_login(editor.user)
    detail = reverse("metrics_web:source", kwargs={"source_id": source.pk})

    response = client.post(reverse("metrics_web:source-dry-run", kwargs={"source_id": source.pk}))

    assert response.status_code == 302
    source.refresh_from_db()
    page = client.get(detail).content.decode()
    assert "Dry run passed" in page
    assert f'<td class="num">{source.last_check["events"]["rows"]}</td>' in page
    assert "checkout-redesign" in page
    # Editors read the settings but cannot change them.
    assert client.post(detail, _form(name="Mine")).status_code == 403


def test_a_failed_dry_run_says_what_to_fix(client, editor, root):
    source = _source(editor.workspace)
    source.unit_column = "customer_id"
    source.save(update_fields=["unit_column"])
    client.force_login(editor.user)

    client.post(reverse("metrics_web:source-dry-run", kwargs={"source_id": source.pk}))

    page = client.get(reverse("metrics_web:source", kwargs={"source_id": source.pk}))
    text = page.content.decode()
    assert "What to fix" in text
    assert "column &#x27;customer_id&#x27; (the unit id) not found" in text


def test_another_workspaces_source_is_not_found(client, outsider, workspace, root):
    source = _source(workspace)
    client.force_login(outsider.user)

    detail = reverse("metrics_web:source", kwargs={"source_id": source.pk})
    assert client.get(detail).status_code == 404
    dry_run = reverse("metrics_web:source-dry-run", kwargs={"source_id": source.pk})
    assert client.post(dry_run).status_code == 404
    assert "Analytics" not in client.get(LIST).content.decode()
