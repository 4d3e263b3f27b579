"""Requests that could exhaust the server: decompression bombs and deeply nested JSON
(issue 12, items 2 and 3). The cap is checked by construction: the decompressor stops reading
the stream at the cap, so memory is bounded whatever the compression ratio."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tracemalloc
import zlib
from datetime import UTC, datetime

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from plg_platform.json_values import MAX_EVENT_DEPTH, TOO_DEEP
from plg_platform.middleware import (
    BODY_TOO_LARGE_DECOMPRESSED,
    BodyTooLarge,
    decompress_capped,
)
from plg_platform.models import ApiKeyKind, Event, Person
from plg_platform.parsers import TOO_DEEP_TO_PARSE
from plg_platform.services.event_input import (
    SEGMENT_MAX_BATCH_BYTES,
    SEGMENT_MAX_MESSAGE_BYTES,
)
from plg_platform.services.keys import api_key_create

pytestmark = pytest.mark.django_db

NOW = datetime.now(tz=UTC).replace(microsecond=0).isoformat()
BOMB_MB = 256
MB = 1024 * 1024


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """256 MB of zeros, gzip-compressed to about 254 kB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    parts = [compressor.compress(zeros) for _ in range(BOMB_MB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def _segment_client(workspace) -> APIClient:
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode())
    return client


def _event(i: int, **properties) -> dict:
    return {
        "event": "opened",
        "distinct_id": f"u{i}",
        "timestamp": NOW,
        "insert_id": f"e{i}",
        "properties": properties,
    }


def _post_gzip(client: APIClient, url: str, body: bytes):
    return client.post(
        url, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )


class _CountingStream(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.consumed += len(chunk)
        return chunk


# --- Decompression bombs ----------------------------------------------------------------------


def test_the_decompressor_stops_reading_the_bomb_at_the_cap(gzip_bomb):
    stream = _CountingStream(gzip_bomb)

    with pytest.raises(BodyTooLarge):
        decompress_capped(stream, wbits=16 + zlib.MAX_WBITS, limit=6 * MB)

    assert len(gzip_bomb) > 200_000
    # One 64 kB read expands past 6 MB: the other ~190 kB (and 250 MB) are never touched.
    assert stream.consumed <= 64 * 1024


@pytest.mark.parametrize("url", ["/v1/batch", "/api/v1/events/batch"])
def test_a_gzip_bomb_is_refused_with_413_in_bounded_memory(
    gzip_bomb, url, workspace, ingestion_client
):
    client = _segment_client(workspace) if url.startswith("/v1/") else ingestion_client
    tracemalloc.start()
    try:
        response = _post_gzip(client, url, gzip_bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 413
    limit = settings.REQUEST_MAX_DECOMPRESSED_BYTES
    assert response.json() == {
        "detail": "body: " + BODY_TOO_LARGE_DECOMPRESSED.format(limit=limit),
        "errors": {"body": [BODY_TOO_LARGE_DECOMPRESSED.format(limit=limit)]},
    }
    assert peak < 4 * limit, f"peak {peak / MB:.1f} MB while reading a {BOMB_MB} MB bomb"
    assert not Event.objects.exists()


def test_a_gzip_native_batch_is_accepted_and_its_limit_applies_after_decompression(
    ingestion_client,
):
    small = {"events": [_event(0), _event(1)]}
    response = _post_gzip(
        ingestion_client, "/api/v1/events/batch", gzip.compress(json.dumps(small).encode())
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2

    padding = "x" * (settings.INGESTION_MAX_BATCH_BYTES // 2)
    large = {"events": [_event(2, note=padding), _event(3, note=padding), _event(4)]}
    compressed = gzip.compress(json.dumps(large).encode())
    assert len(compressed) < 100_000  # small on the wire, over 5 MB once expanded
    response = _post_gzip(ingestion_client, "/api/v1/events/batch", compressed)
    assert response.status_code == 413
    assert list(response.json()["errors"]) == ["body"]
    assert Event.objects.count() == 2


def test_segment_refuses_batches_over_500_kb_after_decompression(workspace):
    messages = [
        {"type": "track", "event": "opened", "userId": f"u{i}", "properties": {"p": "x" * 20_000}}
        for i in range(30)
    ]
    body = json.dumps({"batch": messages}).encode()
    assert SEGMENT_MAX_BATCH_BYTES < len(body) < settings.REQUEST_MAX_DECOMPRESSED_BYTES

    response = _post_gzip(_segment_client(workspace), "/v1/batch", gzip.compress(body))

    assert response.status_code == 413
    assert list(response.json()["errors"]) == ["body"]
    assert not Event.objects.exists()


def test_segment_refuses_a_message_over_32_kb_alone(workspace):
    client = _segment_client(workspace)
    big = {"type": "track", "event": "opened", "userId": "u1", "properties": {"p": "x" * 40_000}}
    ok = {"type": "track", "event": "opened", "userId": "u2", "messageId": "m2"}

    single = client.post("/v1/track", big, format="json")
    batch = client.post("/v1/batch", {"batch": [big, ok]}, format="json")

    assert single.status_code == 413
    assert list(single.json()["errors"]) == ["body"]
    assert batch.status_code == 200
    assert batch.json()["accepted"] == 1
    [rejection] = batch.json()["rejected"]
    assert rejection["index"] == 0
    assert list(rejection["errors"]) == ["message"]
    assert str(SEGMENT_MAX_MESSAGE_BYTES) in rejection["errors"]["message"][0]
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["u2"]


def test_broken_gzip_is_a_400_and_an_unknown_encoding_a_415(ingestion_client):
    broken = _post_gzip(ingestion_client, "/api/v1/events/batch", b"\x1f\x8b\x08\x00garbage")
    unknown = ingestion_client.post(
        "/api/v1/events/batch",
        data=b"{}",
        content_type="application/json",
        HTTP_CONTENT_ENCODING="br",
    )

    assert (broken.status_code, list(broken.json()["errors"])) == (400, ["body"])
    assert (unknown.status_code, list(unknown.json()["errors"])) == (415, ["content_encoding"])


# --- Deep JSON --------------------------------------------------------------------------------


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_properties_deeper_than_the_limit_are_rejected_naming_the_event(ingestion_client):
    events = [_event(0), _event(1, deep=_nested(MAX_EVENT_DEPTH)), _event(2, ok=_nested(5))]

    body = ingestion_client.post("/api/v1/events/batch", {"events": events}, format="json").json()

    assert body["accepted"] == 2
    [rejection] = body["rejected"]
    assert rejection["index"] == 1
    [(path, messages)] = rejection["errors"].items()
    assert path.startswith("properties.deep.a.a")
    assert messages == [TOO_DEEP.format(limit=MAX_EVENT_DEPTH)]


def test_segment_traits_deeper_than_the_limit_are_rejected_naming_the_message(workspace):
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "identify", "userId": "u2", "traits": {"deep": _nested(40)}},
    ]

    body = _segment_client(workspace).post("/v1/batch", {"batch": batch}, format="json").json()

    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert list(Person.objects.values_list("distinct_id", flat=True)) == ["u1"]


def _deep_object_text(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _deep_array_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "properties",
    [_deep_object_text(3000), _deep_array_text(100_000)],
    ids=["3000-objects", "100k-arrays"],
)
@pytest.mark.parametrize("url", ["/api/v1/events/batch", "/v1/batch", "/api/v1/experiments/"])
def test_json_too_deep_to_read_is_a_400_never_a_recursion_error(
    properties, url, workspace, editor, ingestion_client
):
    if url == "/v1/batch":
        client = _segment_client(workspace)
        text = '{"batch": [{"type": "track", "event": "x", "userId": "u", "properties": %s}]}'
    elif url == "/api/v1/events/batch":
        client = ingestion_client
        text = (
            '{"events": [{"event": "x", "distinct_id": "u", "timestamp": "'
            + NOW
            + '", "properties": %s}]}'
        )
    else:
        client = editor.client
        text = '{"key": "deep", "name": "Deep", "hypothesis": %s}'

    response = client.post(url, data=text % properties, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"body": [TOO_DEEP_TO_PARSE]}
    assert not Event.objects.exists()


def test_other_api_bodies_nested_past_64_levels_are_refused_by_path(editor):
    response = editor.client.post(
        "/api/v1/experiments/",
        {"key": "deep", "name": "x", "targeting": _nested(70)},
        format="json",
    )

    assert response.status_code == 400
    [path] = response.json()["errors"]
    assert path.startswith("targeting.a.a")
