"""The Segment-compatible API, driven by the real ``segment-analytics-python`` client."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient
from segment.analytics.client import Client as SegmentClient

from plg_platform.models import ApiKeyKind, Event, Person
from plg_platform.services.ingestion import NUL_CHARACTER
from plg_platform.services.keys import api_key_create

NOW = datetime.now(tz=UTC).replace(microsecond=0)


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_real_segment_client_sends_track_identify_page_and_group(live_server, workspace, compress):
    _, write_key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    errors: list = []
    client = SegmentClient(
        write_key,
        host=live_server.url,
        sync_mode=True,
        gzip=compress,
        max_retries=0,
        on_error=lambda e, batch: errors.append(e),
    )

    client.identify("u1", {"plan": "pro", "country": "DE", "arr": 12000}, timestamp=NOW)
    client.track("u1", "document_created", {"words": 300, "shared": True}, timestamp=NOW)
    client.track(anonymous_id="anon-7", event="signed_up", properties={"channel": "organic"})
    client.page("u1", category="docs", name="Pricing", properties={"path": "/pricing"})
    client.group("u1", "acct-42", {"name": "Acme", "arr": 50000})
    client.flush()

    assert errors == []
    events = {e.event: e for e in Event.objects.filter(workspace=workspace)}
    assert set(events) == {"document_created", "signed_up", "$pageview"}
    assert events["document_created"].distinct_id == "u1"
    assert events["document_created"].properties == {"words": 300, "shared": True}
    assert events["document_created"].insert_id  # Segment's messageId deduplicates retries
    assert events["signed_up"].distinct_id == "anon-7"
    assert events["$pageview"].properties["name"] == "Pricing"
    person = Person.objects.get(workspace=workspace, distinct_id="u1")
    assert person.properties == {
        "plan": "pro",
        "country": "DE",
        "arr": 12000,
        "account_id": "acct-42",
        "account_name": "Acme",
        "account_arr": 50000,
    }


@pytest.mark.django_db
def test_same_message_id_is_stored_once(workspace):
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(key))
    message = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "messageId": "m-1",
        "timestamp": NOW.isoformat(),
    }

    first = client.post("/v1/batch", {"batch": [message, message]}, format="json").json()
    second = client.post("/v1/track", message, format="json").json()

    assert (first["accepted"], first["duplicates"]) == (1, 1)
    assert (second["accepted"], second["duplicates"]) == (0, 1)
    assert Event.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_bad_messages_are_rejected_by_index_naming_the_field(workspace):
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(key))
    batch = [
        {"type": "track", "event": "ok", "userId": "u", "timestamp": NOW.isoformat()},
        {"type": "alias", "userId": "u", "previousId": "v"},
        {"type": "track", "event": "no-user"},
        {"type": "track", "userId": "u", "timestamp": NOW.isoformat()},
        {
            "type": "track",
            "event": "future",
            "userId": "u",
            "timestamp": (NOW + timedelta(days=3)).isoformat(),
        },
    ]

    body = client.post("/v1/batch", {"batch": batch}, format="json").json()

    assert body["accepted"] == 1
    assert body["success"] is False
    errors = {r["index"]: r["errors"] for r in body["rejected"]}
    assert set(errors) == {1, 2, 3, 4}
    assert "type" in errors[1]
    assert "userId" in errors[2]
    assert "event" in errors[3]
    assert "timestamp" in errors[4]


@pytest.mark.django_db
def test_corrupt_gzip_is_a_400_naming_the_body(workspace):
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()

    response = client.post(
        "/v1/batch",
        data=b"not gzip",
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_AUTHORIZATION=_basic(key),
    )

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


@pytest.mark.django_db
def test_gzip_body_is_accepted(workspace):
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    payload = {"batch": [{"type": "track", "event": "e", "userId": "u", "messageId": "z"}]}

    response = APIClient().post(
        "/v1/batch",
        data=gzip.compress(json.dumps(payload).encode()),
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
        HTTP_AUTHORIZATION=_basic(key),
    )

    assert response.status_code == 200
    assert response.json()["accepted"] == 1


@pytest.mark.django_db
def test_rejections_after_identify_messages_keep_their_batch_index(workspace):
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(key))
    batch = [
        {"type": "identify", "userId": "u", "traits": {"plan": "pro"}},
        {"type": "track", "event": "ok", "userId": "u", "messageId": "a"},
        {"type": "track", "event": "bad", "userId": "u", "properties": {"note": "x\x00y"}},
        {"type": "track", "event": "ok", "userId": "u", "messageId": "a"},
    ]

    body = client.post("/v1/batch", {"batch": batch}, format="json").json()

    assert (body["accepted"], body["duplicates"]) == (2, 1)
    assert body["rejected"] == [{"index": 2, "errors": {"properties.note": [NUL_CHARACTER]}}]
    assert Event.objects.filter(workspace=workspace).count() == 1
    assert Person.objects.get(workspace=workspace, distinct_id="u").properties == {"plan": "pro"}
