"""The native batch ingestion API: validation by field, deduplication, limits, JSON types."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from pydantic import ValidationError as PydanticValidationError
from rest_framework.test import APIClient

from plg_platform.json_values import MAX_EVENT_NUMBER
from plg_platform.models import ApiKeyKind, Event
from plg_platform.services.event_input import errors_by_field
from plg_platform.services.ingestion import (
    INVALID_UNICODE,
    NUL_CHARACTER,
    EventInput,
    events_ingest,
    to_epoch_us,
)
from plg_platform.services.keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/batch"
NOW = datetime.now(tz=UTC).replace(microsecond=0)


def _event(i: int = 0, **overrides) -> dict:
    return {
        "event": "document_created",
        "distinct_id": f"user-{i}",
        "timestamp": (NOW - timedelta(minutes=i)).isoformat(),
        "insert_id": f"ins-{i}",
        "properties": {"words": 120, "template": "blank", "shared": False, "tags": ["a"]},
        **overrides,
    }


def test_valid_batch_is_stored_with_exact_times_and_json_types(ingestion_client, workspace):
    response = ingestion_client.post(URL, {"events": [_event(0), _event(1)]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    stored = Event.objects.get(workspace=workspace, insert_id="ins-1")
    assert stored.timestamp_us == to_epoch_us(NOW - timedelta(minutes=1))
    assert stored.properties == {"words": 120, "template": "blank", "shared": False, "tags": ["a"]}
    assert type(stored.properties["words"]) is int


def test_retry_with_same_insert_id_is_stored_once(ingestion_client, workspace):
    batch = {"events": [_event(0), _event(1), _event(1)]}

    first = ingestion_client.post(URL, batch, format="json").json()
    second = ingestion_client.post(URL, batch, format="json").json()

    assert first == {"accepted": 2, "duplicates": 1, "rejected": []}
    assert second == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert Event.objects.filter(workspace=workspace).count() == 2


def test_events_without_insert_id_are_all_kept(ingestion_client, workspace):
    events = [_event(0, insert_id=None), _event(0, insert_id=None)]
    events[0].pop("insert_id")

    body = ingestion_client.post(URL, {"events": events}, format="json").json()

    assert body["accepted"] == 2
    assert Event.objects.filter(workspace=workspace).count() == 2


def test_invalid_events_are_reported_by_index_and_field_and_valid_ones_kept(
    ingestion_client, workspace
):
    events = [
        _event(0),
        _event(1, timestamp="2026-01-01T10:00:00"),  # no time zone
        _event(2, distinct_id=""),
        {k: v for k, v in _event(3).items() if k != "event"},
        _event(4, timestamp=(NOW + timedelta(days=2)).isoformat()),
        _event(5, colour="red"),
        "not an object",
        _event(7, properties=["not", "a", "dict"]),
    ]

    body = ingestion_client.post(URL, {"events": events}, format="json").json()

    assert body["accepted"] == 1
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5, 6, 7}
    assert "timestamp" in rejected[1]
    assert "timezone" in rejected[1]["timestamp"][0].lower()
    assert "distinct_id" in rejected[2]
    assert "event" in rejected[3]
    assert rejected[4] == {"timestamp": ["Timestamp is more than 24 hours in the future."]}
    assert rejected[5] == {"colour": ["Unknown field."]}
    assert "event" in rejected[6]
    assert "properties" in rejected[7]
    assert list(Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True)) == [
        "ins-0"
    ]


def test_timestamps_with_offsets_are_stored_as_the_same_instant(ingestion_client, workspace):
    events = [
        _event(0, timestamp="2026-03-29T01:30:00+01:00", insert_id="berlin"),
        _event(1, timestamp="2026-03-29T00:30:00Z", insert_id="utc"),
    ]

    ingestion_client.post(URL, {"events": events}, format="json")

    times = dict(Event.objects.values_list("insert_id", "timestamp_us"))
    assert times["berlin"] == times["utc"]


@override_settings(INGESTION_MAX_EVENTS_PER_BATCH=3)
def test_oversize_batch_is_refused_with_413_naming_events(ingestion_client, workspace):
    response = ingestion_client.post(URL, {"events": [_event(i) for i in range(4)]}, format="json")

    assert response.status_code == 413
    assert "events" in response.json()["errors"]
    assert not Event.objects.exists()


@override_settings(INGESTION_MAX_BATCH_BYTES=1000)
def test_oversize_body_is_refused_with_413_naming_body(ingestion_client):
    big = _event(0, properties={"text": "x" * 2000})

    response = ingestion_client.post(URL, {"events": [big]}, format="json")

    assert response.status_code == 413
    assert "body" in response.json()["errors"]


def test_malformed_json_is_a_400_naming_the_body(ingestion_client):
    response = ingestion_client.post(URL, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


@pytest.mark.parametrize("payload", [{}, {"events": {"event": "x"}}, [1, 2], {"events": "x"}])
def test_events_must_be_a_list(ingestion_client, payload):
    response = ingestion_client.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"events": ["Expected a list of events under 'events'."]}


def test_missing_key_is_401():
    response = APIClient().post(URL, {"events": [_event()]}, format="json")

    assert response.status_code == 401
    assert "authorization" in response.json()["errors"]


def test_revoked_key_is_401_and_writes_nothing(workspace):
    key, raw = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    api_key_revoke(key=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.post(URL, {"events": [_event()]}, format="json")

    assert response.status_code == 401
    assert response.json()["errors"] == {"authorization": ["Invalid or revoked ingestion key."]}
    assert not Event.objects.exists()


def test_api_token_cannot_ingest_and_is_told_why(editor):
    response = editor.client.post(URL, {"events": [_event()]}, format="json")

    assert response.status_code == 401
    assert "ingestion key" in response.json()["detail"].lower()


def test_events_land_in_the_key_s_workspace_only(editor, outsider):
    editor.ingestion_client().post(URL, {"events": [_event(0)]}, format="json")

    assert Event.objects.filter(workspace=editor.workspace).count() == 1
    assert Event.objects.filter(workspace=outsider.workspace).count() == 0
    assert outsider.client.get("/api/v1/events/").json()["count"] == 0


def test_same_insert_id_in_two_workspaces_is_two_events(editor, outsider):
    editor.ingestion_client().post(URL, {"events": [_event(0)]}, format="json")
    outsider.ingestion_client().post(URL, {"events": [_event(0)]}, format="json")

    assert Event.objects.filter(insert_id="ins-0").count() == 2


def test_full_batch_of_a_thousand_events_is_accepted(ingestion_client, workspace):
    events = [_event(i) for i in range(1000)]

    body = ingestion_client.post(
        URL, data=json.dumps({"events": events}), content_type="application/json"
    ).json()

    assert body["accepted"] == 1000
    assert Event.objects.filter(workspace=workspace).count() == 1000


def test_property_values_keep_every_json_type_exactly(ingestion_client, workspace):
    properties = {
        # The largest magnitude stored (larger is refused: see test_ingestion_numbers.py).
        "big": MAX_EVENT_NUMBER,
        "small": -MAX_EVENT_NUMBER,
        "ratio": 0.1,
        "whole_float": 2.0,
        "nothing": None,
        "nested": {"list": [1, "two", 3.5, True, None, {"deep": []}]},
        "unicode": "Grüße, 東京 🚀",
        "backslash_text": "C:\\u0000\\path",  # a backslash and the letters u0000, not a NUL
    }

    body = ingestion_client.post(
        URL, {"events": [_event(0, properties=properties)]}, format="json"
    ).json()

    assert body == {"accepted": 1, "duplicates": 0, "rejected": []}
    stored = Event.objects.get(workspace=workspace).properties
    assert stored == properties
    assert type(stored["big"]) is int
    assert type(stored["whole_float"]) is float


def test_text_a_database_cannot_store_is_rejected_by_field_and_the_rest_is_kept(
    ingestion_client, workspace
):
    events = [
        _event(0),
        _event(1, distinct_id="user\x00-1"),
        _event(2, properties={"title": "a\x00b"}),
        _event(3, properties={"key\x00": 1}),
        _event(4, event="bad\ud800name"),
        _event(5, properties={"emoji_half": "\ud83d"}),
        _event(6),
    ]

    # The standard library escapes lone surrogates as \ud800, as a client's encoder may.
    response = ingestion_client.post(
        URL, data=json.dumps({"events": events}), content_type="application/json"
    )

    body = response.json()
    assert body["accepted"] == 2
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert list(rejected.pop(4)) == ["event"]  # pydantic refuses it already, in its own words
    assert rejected == {
        1: {"distinct_id": [NUL_CHARACTER]},
        2: {"properties.title": [NUL_CHARACTER]},
        3: {"properties.key\\u0000": [NUL_CHARACTER]},
        5: {"properties.emoji_half": [INVALID_UNICODE]},
    }
    assert set(Event.objects.values_list("insert_id", flat=True)) == {"ins-0", "ins-6"}


def test_batch_is_written_in_one_statement(workspace, django_assert_max_num_queries):
    events = [_event(i) for i in range(1000)]

    # The insert itself, plus at most a savepoint and its release around it.
    with django_assert_max_num_queries(3):
        result = events_ingest(workspace=workspace, raw_events=events, now=NOW)

    assert result.accepted == 1000
    assert Event.objects.filter(workspace=workspace).count() == 1000


def test_duplicates_within_and_across_batches_are_counted_once_each(workspace):
    first = events_ingest(workspace=workspace, raw_events=[_event(0), _event(1)], now=NOW)
    second = events_ingest(
        workspace=workspace,
        raw_events=[_event(1), _event(2), _event(2), _event(3, insert_id=None)],
        now=NOW,
    )

    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates) == (2, 2)
    assert Event.objects.filter(workspace=workspace).count() == 4


def test_received_at_is_the_ingestion_time(workspace):
    events_ingest(workspace=workspace, raw_events=[_event(0)], now=NOW)

    assert Event.objects.get(workspace=workspace).received_at == NOW


def test_property_values_that_are_not_json_are_rejected_naming_properties(workspace):
    result = events_ingest(
        workspace=workspace,
        raw_events=[_event(0), _event(1, properties={"when": object()})],
        now=NOW,
    )

    assert result.accepted == 1
    assert [r["index"] for r in result.rejected] == [1]
    assert list(result.rejected[0]["errors"]) == ["properties.when"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_batch_store_and_accept_each_event_once(workspace):
    """Two requests racing with the same batch: the unique index decides, not a prior read."""
    batch = [_event(i) for i in range(200)]
    start = threading.Barrier(2)
    results: list = []

    def send() -> None:
        try:
            start.wait()
            results.append(events_ingest(workspace=workspace, raw_events=batch, now=NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted((r.accepted, r.duplicates) for r in results) == [(0, 200), (200, 0)]
    assert Event.objects.filter(workspace=workspace).count() == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"insert_id": None, "properties": {}},
        {"event": "  padded  "},
        {"timestamp": "2026-01-01T10:00:00"},
        {"timestamp": 1767261600},
        {"distinct_id": ""},
        {"distinct_id": "x" * 201},
        {"colour": "red"},
        {"properties": ["a"]},
        {"insert_id": 7},
    ],
)
def test_batch_validation_has_the_same_fields_and_rules_as_event_input(overrides, workspace):
    """The batch API validates with ``EventInput`` itself: the same verdict and the same
    messages by field as Python callers get."""
    raw = _event(0, **overrides)
    try:
        EventInput.model_validate(raw)
        expected = []
    except PydanticValidationError as exc:
        expected = [{"index": 0, "errors": errors_by_field(exc)}]

    result = events_ingest(workspace=workspace, raw_events=[raw])

    assert result.rejected == expected
    assert result.accepted == (0 if expected else 1)
