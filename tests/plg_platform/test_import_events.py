"""``manage.py import_events``: CSV, JSON Lines and Parquet through the ingestion service."""

from __future__ import annotations

import gzip
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from plg_platform.demo import DemoConfig, generate_events
from plg_platform.models import Event, Workspace
from plg_platform.services.ingestion import EVENT_NOT_AN_OBJECT, to_epoch_us

pytestmark = pytest.mark.django_db

CSV_TEXT = """event,distinct_id,timestamp,insert_id,properties,properties.amount,properties.zip
upgrade,u1,2026-10-01T10:00:00Z,i-1,"{""plan"": ""pro"", ""seats"": 3}",120.5,007
upgrade,u2,2026-10-01T10:00:00,i-2,,3,
signed_up,,2026-10-01T10:00:00Z,i-3,,,
upgrade,u1,2026-10-01T10:00:00Z,i-1,,,
document_created,u3,2026-10-02T08:30:00+02:00,i-4,,true,
"""


def _import(path: Path, workspace: Workspace, *extra: str) -> str:
    out = io.StringIO()
    call_command(
        "import_events", str(path), "--workspace", workspace.slug, "--no-progress", *extra,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def test_csv_rows_are_stored_with_typed_properties_bad_rows_named_and_duplicates_skipped(
    workspace, tmp_path
):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)

    output = _import(path, workspace)

    assert output.splitlines()[0] == (
        f"Imported events.csv into {workspace.slug}: 5 rows read, 2 stored, "
        "1 duplicates skipped, 2 rejected."
    )
    assert "  line 3: timestamp: Input should have timezone info" in output
    assert "  line 4: distinct_id: String should have at least 1 character" in output
    upgrade = Event.objects.get(workspace=workspace, insert_id="i-1")
    assert upgrade.properties == {"plan": "pro", "seats": 3, "amount": 120.5, "zip": "007"}
    assert upgrade.timestamp_us == to_epoch_us(datetime(2026, 10, 1, 10, tzinfo=UTC))
    document = Event.objects.get(workspace=workspace, insert_id="i-4")
    assert document.properties == {"amount": True}
    assert document.timestamp_us == to_epoch_us(datetime(2026, 10, 2, 6, 30, tzinfo=UTC))


def test_importing_the_same_file_twice_stores_each_event_once(workspace, tmp_path):
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))

    _import(path, workspace)
    again = _import(path, workspace)

    assert "0 stored, 3 duplicates skipped, 2 rejected" in again
    assert Event.objects.filter(workspace=workspace).count() == 2


def test_jsonl_reports_bad_lines_and_deduplicates_across_chunks(workspace, tmp_path):
    tomorrow_plus = (datetime.now(tz=UTC) + timedelta(days=2)).isoformat()
    good = {"event": "page_view", "distinct_id": "u1", "timestamp": "2026-10-01T10:00:00Z",
            "insert_id": "j-1", "properties": {"path": "/doc", "n": 2, "ok": False}}  # fmt: skip
    lines = [
        json.dumps(good),
        "{not json",
        "",
        json.dumps(good),
        json.dumps({**good, "insert_id": "j-2", "timestamp": tomorrow_plus}),
        json.dumps({**good, "insert_id": "j-3", "extra": 1}),
        json.dumps([1, 2]),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rejected = tmp_path / "rejected.jsonl"

    output = _import(path, workspace, "--chunk-size", "2", "--rejected-out", str(rejected))

    assert "6 rows read, 1 stored, 1 duplicates skipped, 4 rejected." in output
    assert "  line 2: line: Invalid JSON: Expecting property name enclosed in double quotes" in (
        output
    )
    assert "  line 5: timestamp: Timestamp is more than 24 hours in the future." in output
    assert "  line 6: extra: Unknown field." in output
    assert f"  line 7: event: {EVENT_NOT_AN_OBJECT}" in output
    assert "Rejected, by reason:\n  1 x line: Invalid JSON" in output
    written = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [r["line"] for r in written] == [2, 5, 6, 7]
    stored = Event.objects.get(workspace=workspace)
    assert stored.properties == {"path": "/doc", "n": 2, "ok": False}


def test_parquet_rows_keep_exact_times_and_bad_rows_are_named_by_row(workspace, tmp_path):
    moment = datetime(2026, 10, 1, 10, 0, 0, 123456, tzinfo=UTC)
    table = pa.table(
        {
            "event": ["upgrade", "upgrade", "upgrade", "signed_up"],
            "distinct_id": ["u1", None, "u1", "u2"],
            "timestamp": pa.array([moment] * 4, type=pa.timestamp("us", tz="UTC")),
            "insert_id": ["p-1", "p-2", "p-1", None],
            "properties": ['{"plan": "team"}', None, None, "[1]"],
            "properties.amount": [300.0, 1.0, 300.0, None],
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=2)

    output = _import(path, workspace, "--chunk-size", "3")

    assert "4 rows read, 1 stored, 1 duplicates skipped, 2 rejected." in output
    assert "  row 2: distinct_id: Field required" in output
    assert "  row 4: properties: Must be a JSON object." in output
    stored = Event.objects.get(workspace=workspace)
    assert stored.timestamp_us == to_epoch_us(moment)
    assert stored.properties == {"plan": "team", "amount": 300.0}


def test_generated_demo_events_round_trip_through_jsonl_exactly(workspace, tmp_path):
    config = DemoConfig(users=40, days=30, seed=2, end=datetime(2026, 11, 1, tzinfo=UTC))
    events = list(itertools.chain.from_iterable(generate_events(config)))
    path = tmp_path / "demo.jsonl"
    with path.open("w") as handle:
        for event in events:
            handle.write(json.dumps(event.as_api_dict()) + "\n")

    output = _import(path, workspace, "--chunk-size", "500")

    assert f"{len(events)} rows read, {len(events)} stored, 0 duplicates skipped" in output
    stored = {
        e.insert_id: (e.event, e.distinct_id, e.timestamp_us, e.properties)
        for e in Event.objects.filter(workspace=workspace)
    }
    assert stored == {
        e.insert_id: (e.event, e.distinct_id, e.timestamp_us, e.properties) for e in events
    }


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("event,distinct_id,time\n", "Missing column(s): timestamp"),
        ("event,distinct_id,timestamp,user\n", "Unknown column(s): user"),
    ],
)
def test_a_csv_with_wrong_columns_is_refused_before_anything_is_stored(
    workspace, tmp_path, header, message
):
    path = tmp_path / "events.csv"
    path.write_text(header + "a,b,2026-10-01T10:00:00Z,x\n")

    with pytest.raises(CommandError) as error:
        _import(path, workspace)

    assert message in str(error.value)
    assert not Event.objects.filter(workspace=workspace).exists()


def test_unknown_format_workspace_or_file_is_a_command_error(workspace, tmp_path):
    path = tmp_path / "events.xlsx"
    path.write_text("")
    with pytest.raises(CommandError, match="--format"):
        _import(path, workspace)
    with pytest.raises(CommandError, match="No workspace"):
        call_command("import_events", str(path), "--workspace", "nope")
    with pytest.raises(CommandError, match="No such file"):
        _import(tmp_path / "missing.csv", workspace)


def test_unreadable_files_stop_with_a_message_instead_of_a_traceback(workspace, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        "event,distinct_id,timestamp\ncafé,u1,2026-10-01T10:00:00Z\n".encode("latin-1")
    )
    not_parquet = tmp_path / "events.parquet"
    not_parquet.write_text("event,distinct_id,timestamp\n")

    with pytest.raises(CommandError, match="latin1.csv is not UTF-8 text"):
        _import(latin1, workspace)
    with pytest.raises(CommandError, match="Cannot read events.parquet as Parquet"):
        _import(not_parquet, workspace)
