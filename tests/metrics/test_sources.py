"""Event sources: checked names and paths, the encrypted secret, read-only engines, and the dry
run's figures on a generated warehouse in a DuckDB file, a chdb directory and a Parquet
folder, checked against the same rows counted in Python."""

from __future__ import annotations

import socket
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.db import connection

from metrics.engines.base import EngineError
from metrics.models import EventSource
from metrics.sources.connect import engine_for_source
from metrics.sources.encryption import secret_decrypt
from metrics.sources.probes import source_dry_run
from metrics.sources.services import (
    CONNECTS_ELSEWHERE,
    NAME_TAKEN,
    source_create,
    source_delete,
    source_update,
)
from metrics.sources.validation import BAD_COLUMN, BAD_TABLE
from plg_platform.errors import ValidationFailed
from tests.metrics.warehouse import (
    EVENTS_MAPPING,
    EXPOSURES_MAPPING,
    EXPOSURES_TABLE,
    Warehouse,
    _events_arrow,
    _exposures_arrow,
    generate,
    write_chdb,
    write_duckdb,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def data() -> Warehouse:
    return generate(seed=7)


@pytest.fixture
def root(tmp_path: Path, settings) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    settings.METRICS_SOURCE_ROOT = folder
    return folder


def _create(workspace, engine: str, path: str, **overrides) -> EventSource:
    return source_create(
        workspace=workspace,
        name=overrides.pop("name", f"{engine} warehouse"),
        engine=engine,
        connection=overrides.pop("connection", {"path": path}),
        events=overrides.pop("events", EVENTS_MAPPING),
        exposures=overrides.pop("exposures", EXPOSURES_MAPPING),
        **overrides,
    )


@pytest.fixture(params=["duckdb", "chdb", "duckdb_folder"])
def warehouse(request, workspace, root: Path, data: Warehouse) -> EventSource:
    """The generated warehouse as a source of each file engine."""
    if request.param == "duckdb":
        write_duckdb(root / "analytics.duckdb", data)
        return _create(workspace, "duckdb", "analytics.duckdb")
    if request.param == "chdb":
        write_chdb(root / "clickhouse", data)
        return _create(workspace, "chdb", "clickhouse")
    folder = root / "lake"
    folder.mkdir()
    pq.write_table(_events_arrow(data), folder / "app_events.parquet")
    pq.write_table(_exposures_arrow(data), folder / f"{EXPOSURES_TABLE}.parquet")
    return _create(workspace, "duckdb_folder", "lake")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# --- the dry run ---------------------------------------------------------------------------------
def test_dry_run_reports_the_tables_as_the_rows_count_them(warehouse: EventSource, data: Warehouse):
    report = source_dry_run(warehouse)

    assert report["ok"] is True, report["errors"]
    assert report["errors"] == []
    events = report["events"]
    assert events["table"] == "app_events"
    assert events["rows"] == len(data.events)
    assert events["units"] == len({e.account_user for e in data.events})
    assert events["event_names"] == 3
    assert events["first_time"] == _iso(min(e.occurred_at for e in data.events))
    assert events["last_time"] == _iso(max(e.occurred_at for e in data.events))
    assert set(events["columns"]) == {
        "event_name",
        "account_user",
        "occurred_at",
        "payload",
        "revenue",
        "plan",
    }
    exposures = report["exposures"]
    assert exposures["rows"] == len(data.exposures)
    by_experiment: dict[str, list] = defaultdict(list)
    for x in data.exposures:
        by_experiment[x.experiment_id].append(x)
    assert [e["experiment_id"] for e in exposures["experiments"]] == sorted(by_experiment)
    for reported in exposures["experiments"]:
        rows = by_experiment[reported["experiment_id"]]
        variations: dict[str, set[str]] = defaultdict(set)
        for x in rows:
            variations[x.user_id].add(x.variation_id)
        assert reported["exposures"] == len(rows)
        assert reported["units"] == len(variations)
        assert reported["multiple_variation_units"] == sum(len(v) > 1 for v in variations.values())
        assert reported["first_time"] == _iso(min(x.timestamp for x in rows))
        assert reported["last_time"] == _iso(max(x.timestamp for x in rows))
        expected = defaultdict(set)
        for x in rows:
            expected[x.variation_id].add(x.user_id)
        assert reported["variations"] == {k: len(v) for k, v in sorted(expected.items())}
    # The report is kept on the source.
    warehouse.refresh_from_db()
    assert warehouse.last_check["events"]["rows"] == len(data.events)
    assert warehouse.last_checked_at is not None


def _one_error(report: dict) -> dict:
    assert report["ok"] is False
    assert len(report["errors"]) == 1, report["errors"]
    return report["errors"][0]


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_dry_run_names_a_missing_table(engine, workspace, root, data):
    writer, path = (write_duckdb, "a.duckdb") if engine == "duckdb" else (write_chdb, "ch")
    writer(root / path, data)
    source = _create(workspace, engine, path, events={**EVENTS_MAPPING, "table": "no_such_events"})

    error = _one_error(source_dry_run(source))

    assert error["kind"] == "missing"
    assert error["table"] == "no_such_events"
    assert error["field"] == "events.table"
    assert f"Source '{source.name}'" in error["message"]
    assert "'no_such_events'" in error["message"]


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_dry_run_names_a_missing_column_and_its_field(engine, workspace, root, data):
    writer, path = (write_duckdb, "a.duckdb") if engine == "duckdb" else (write_chdb, "ch")
    writer(root / path, data)
    source = _create(
        workspace,
        engine,
        path,
        events={**EVENTS_MAPPING, "property_columns": {"plan": "plan", "country": "geo_country"}},
        exposures={**EXPOSURES_MAPPING, "variation_column": "variant"},
    )

    report = source_dry_run(source)

    assert report["ok"] is False
    assert [(e["kind"], e["column"], e["field"]) for e in report["errors"]] == [
        ("missing", "geo_country", "events.property_columns.country"),
        ("missing", "variant", "exposures.variation_column"),
    ]
    assert (
        "column 'geo_country' (property 'country') not found in table 'app_events'"
        in (report["errors"][0]["message"])
    )
    assert report["errors"][0]["message"].startswith(f"Source '{source.name}'")


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_dry_run_names_a_column_of_the_wrong_type(engine, workspace, root, data):
    writer, path = (write_duckdb, "a.duckdb") if engine == "duckdb" else (write_chdb, "ch")
    writer(root / path, data)
    # Time held as text; then a time type that says integers where there is a TIMESTAMP.
    text_time = _create(
        workspace,
        engine,
        path,
        name="text",
        events={
            **EVENTS_MAPPING,
            "table": "events_text_time",
            "properties_column": "",
            "property_columns": {},
        },
        exposures=None,
    )
    epoch = _create(
        workspace,
        engine,
        path,
        name="epoch",
        events={**EVENTS_MAPPING, "time_type": "millis"},
        exposures=None,
    )

    error = _one_error(source_dry_run(text_time))
    assert (error["kind"], error["column"], error["field"]) == (
        "type",
        "occurred_at",
        "events.timestamp_column",
    )
    assert "expected a TIMESTAMP" in error["message"]
    error = _one_error(source_dry_run(epoch))
    assert (error["kind"], error["column"]) == ("type", "occurred_at")
    assert "expected an integer" in error["message"]
    assert "set the time type to timestamp" in error["message"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dry_run_of_an_unreachable_clickhouse_server_says_so(workspace, root):
    port = _closed_port()
    source = _create(
        workspace,
        "clickhouse",
        "",
        connection={"host": "127.0.0.1", "port": port, "username": "reader"},
        secret="s3cret-pw",
    )

    error = _one_error(source_dry_run(source))

    assert error["kind"] == "unreachable"
    assert error["message"].startswith(
        f"Source 'clickhouse warehouse' (ClickHouse server 127.0.0.1:{port})"
    )


def test_a_file_that_went_away_is_reported_not_created(workspace, root, data):
    write_chdb(root / "ch", data)
    source = _create(workspace, "chdb", "ch")
    renamed = root / "moved"
    (root / "ch").rename(renamed)

    error = _one_error(source_dry_run(source))

    assert error["kind"] == "unreachable"
    assert "'ch' is no longer there" in error["message"]
    assert not (root / "ch").exists()


# --- read-only -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO app_events (event_name) VALUES ('x')",
        "CREATE TABLE stolen AS SELECT 1 AS a",
        "SELECT 1; DROP TABLE app_events",
        "DELETE FROM app_events",
    ],
)
def test_source_engines_refuse_anything_but_a_read(statement, warehouse, data):
    engine = engine_for_source(warehouse)
    try:
        with pytest.raises(EngineError, match="sources are read-only"):
            engine.execute(statement, {})
        (count,) = engine.execute("SELECT COUNT(*) FROM app_events", {})[0]
    finally:
        engine.close()
    assert count == len(data.events)


def test_engine_errors_never_carry_the_secret(workspace, root, data):
    from metrics.engines.duckdb import DuckDBEngine
    from metrics.sources.connect import ReadOnlyEngine

    write_duckdb(root / "a.duckdb", data)
    inner = DuckDBEngine(path=str(root / "a.duckdb"), read_only=True, label="Source 'x'")
    engine = ReadOnlyEngine(inner=inner, hidden=("hunter2pw",))
    try:
        with pytest.raises(EngineError) as raised:
            engine.execute("SELECT hunter2pw FROM app_events", {})
    finally:
        engine.close()

    assert raised.value.kind == "missing"
    assert "hunter2pw" not in raised.value.message
    assert '"***"' in raised.value.message
    assert raised.value.__suppress_context__


def test_a_duckdb_file_is_opened_read_only_below_the_guard(workspace, root, data):
    write_duckdb(root / "a.duckdb", data)
    engine = engine_for_source(_create(workspace, "duckdb", "a.duckdb"))
    try:
        with pytest.raises(EngineError, match="read-only"):
            engine.inner.command("CREATE TABLE x (a INTEGER)")
    finally:
        engine.close()


# --- checked input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/etc", "connection.path"),
        ("../outside.duckdb", "connection.path"),
        ("escape/../../outside.duckdb", "connection.path"),
        ("", "connection.path"),
        ("missing.duckdb", "connection.path"),
    ],
)
def test_paths_must_lie_in_the_sources_folder(path, field, workspace, root, data):
    write_duckdb(root.parent / "outside.duckdb", data)

    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, "duckdb", path)

    assert raised.value.field == field
    assert not EventSource.objects.exists()


def test_a_symlink_cannot_lead_out_of_the_sources_folder(workspace, root, data):
    write_duckdb(root.parent / "outside.duckdb", data)
    (root / "link.duckdb").symlink_to(root.parent / "outside.duckdb")

    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, "duckdb", "link.duckdb")

    assert raised.value.field == "connection.path"
    assert "inside the sources folder" in raised.value.message


@pytest.mark.parametrize(
    ("events", "exposures", "field", "message"),
    [
        ({**EVENTS_MAPPING, "table": "app_events; DROP TABLE x"}, None, "events.table", BAD_TABLE),
        ({**EVENTS_MAPPING, "unit_column": 'user"id'}, None, "events.unit_column", BAD_COLUMN),
        (
            {**EVENTS_MAPPING, "property_columns": {"plan": "plan name"}},
            None,
            "events.property_columns.plan",
            BAD_COLUMN,
        ),
        ({**EVENTS_MAPPING, "property_columns": ["plan"]}, None, "events.property_columns", None),
        ({**EVENTS_MAPPING, "time_type": "nanos"}, None, "events.time_type", None),
        ({**EVENTS_MAPPING, "table": ""}, None, "events.table", None),
        ({**EVENTS_MAPPING, "colour": "red"}, None, "events.colour", None),
        (
            EVENTS_MAPPING,
            {"table": "x", "unit_column": "1user"},
            "exposures.unit_column",
            BAD_COLUMN,
        ),
        (EVENTS_MAPPING, {"table": "a.b.c.d"}, "exposures.table", BAD_TABLE),
    ],
)
def test_unsafe_names_are_refused_naming_the_field(
    events, exposures, field, message, workspace, root, data
):
    write_duckdb(root / "a.duckdb", data)

    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, "duckdb", "a.duckdb", events=events, exposures=exposures)

    assert raised.value.field == field
    if message:
        assert raised.value.message.endswith(message.split("}")[-1])
    assert not EventSource.objects.exists()


@pytest.mark.parametrize(
    ("engine", "connection_settings", "field"),
    [
        ("clickhouse", {"host": ""}, "connection.host"),
        ("clickhouse", {"host": "db.internal; rm"}, "connection.host"),
        ("clickhouse", {"host": "db.internal", "port": 70000}, "connection.port"),
        ("clickhouse", {"host": "db.internal", "database": "a-b"}, "connection.database"),
        ("spark", {"url": "http://spark:15002"}, "connection.url"),
        ("spark", {"url": "sc://spark:15002/;token=abc"}, "connection.url"),
        ("oracle", {}, "engine"),
    ],
)
def test_connection_settings_are_checked(engine, connection_settings, field, workspace, root):
    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, engine, "", connection=connection_settings)
    assert raised.value.field == field


def test_names_are_unique_per_workspace(workspace, other_workspace, root, data):
    write_duckdb(root / "a.duckdb", data)
    _create(workspace, "duckdb", "a.duckdb", name="Warehouse")
    _create(other_workspace, "duckdb", "a.duckdb", name="Warehouse")

    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, "duckdb", "a.duckdb", name="Warehouse")

    assert (raised.value.field, raised.value.message) == (
        "name",
        NAME_TAKEN.format(name="Warehouse"),
    )


# --- the secret ----------------------------------------------------------------------------------
def _stored_secret_column(source: EventSource) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret_encrypted FROM {EventSource._meta.db_table} WHERE id = %s",  # noqa: S608
            [source.pk],
        )
        return cursor.fetchone()[0]


def test_the_secret_is_stored_only_encrypted(workspace, root):
    source = _create(
        workspace, "clickhouse", "", connection={"host": "ch.internal"}, secret="hunter2-pw"
    )

    stored = _stored_secret_column(source)
    assert "hunter2" not in stored
    assert stored != ""
    assert secret_decrypt(stored) == "hunter2-pw"
    # Nowhere else in the row either.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {EventSource._meta.db_table}")  # noqa: S608
        assert not any("hunter2" in str(value) for value in cursor.fetchone())


def test_moving_a_source_needs_its_secret_again(workspace, root):
    source = _create(
        workspace, "clickhouse", "", connection={"host": "ch.internal"}, secret="hunter2-pw"
    )

    with pytest.raises(ValidationFailed) as raised:
        source_update(source=source, connection={"host": "attacker.example"})
    assert raised.value.field == "secret"
    assert raised.value.message == CONNECTS_ELSEWHERE.format(fields="host")
    source.refresh_from_db()
    assert source.host == "ch.internal"

    # With the secret given again it moves; renaming keeps the secret.
    source_update(source=source, connection={"host": "ch2.internal"}, secret="new-pw")
    source_update(source=source, name="Renamed")
    source.refresh_from_db()
    assert (source.host, source.name) == ("ch2.internal", "Renamed")
    assert secret_decrypt(_stored_secret_column(source)) == "new-pw"


def test_a_file_source_takes_no_secret(workspace, root, data):
    write_duckdb(root / "a.duckdb", data)
    with pytest.raises(ValidationFailed) as raised:
        _create(workspace, "duckdb", "a.duckdb", secret="pw")
    assert raised.value.field == "secret"


def test_deleting_a_source_leaves_an_audit_record(workspace, root, data):
    from plg_platform.models import AuditLog

    write_duckdb(root / "a.duckdb", data)
    source = _create(workspace, "duckdb", "a.duckdb")
    source_delete(source=source)
    assert not EventSource.objects.exists()
    assert list(
        AuditLog.objects.filter(workspace=workspace).values_list("action", flat=True).order_by("id")
    ) == [
        "source.create",
        "source.delete",
    ]
