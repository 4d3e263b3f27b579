"""NUL characters are refused everywhere with a 400 naming the parameter or field (issue 12,
item 4). PostgreSQL cannot store or compare text holding NUL, so before this every such value
reaching a query was a 500 there; run with DATABASE_URL to see it."""

from __future__ import annotations

import pytest
from django.test import Client

from plg_platform.middleware import NUL_IN_PARAMETER
from plg_platform.models import Event
from plg_platform.services.ingestion import NUL_CHARACTER

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/experiments/?q=%00", "q"),
        ("/api/v1/experiments/?status=%00", "status"),
        ("/api/v1/experiments/?status=running&q=a%00b", "q"),
        ("/api/v1/events/?event=%00", "event"),
        ("/api/v1/learnings/?q=%00", "q"),
        ("/api/v1/experiments/?limit=%00", "limit"),
    ],
)
def test_a_nul_in_an_api_query_parameter_is_a_400_naming_it(editor, url, name):
    response = editor.client.get(url)

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"{name}: {NUL_IN_PARAMETER}",
        "errors": {name: [NUL_IN_PARAMETER]},
    }


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/learnings/?team=%00", "team"),
        ("/learnings/?q=%00", "q"),
        ("/kpis/pqls/?plan=%00", "plan"),
    ],
)
def test_a_nul_in_a_page_query_parameter_is_a_readable_400(editor, url, name):
    client = Client()
    client.force_login(editor.user)

    response = client.get(url)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"{name}: {NUL_IN_PARAMETER}"


def test_a_nul_in_a_form_field_is_a_400_naming_it(editor):
    client = Client()
    client.force_login(editor.user)

    response = client.post("/learnings/areas/new", {"name": "Onboarding\x00"})

    assert response.status_code == 400
    assert response.content.decode() == f"name: {NUL_IN_PARAMETER}"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"key": "nul", "name": "a\x00b"}, "name"),
        (
            {"key": "nul", "name": "ok", "variants": [{"key": "c\x00", "weight": 1}]},
            "variants.0.key",
        ),
        ({"key": "nul", "name": "ok", "tags": ["x", "y\x00"]}, "tags.1"),
    ],
)
def test_a_nul_in_a_json_text_field_is_a_400_naming_its_path(editor, body, path):
    response = editor.client.post("/api/v1/experiments/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {path: [NUL_CHARACTER]}


def test_ingestion_rejects_a_nul_per_event_and_keeps_the_rest(ingestion_client):
    good = {"event": "x", "distinct_id": "u1", "timestamp": "2026-01-01T00:00:00Z"}
    events = [good, {**good, "distinct_id": "u\x002", "insert_id": "i2"}]

    body = ingestion_client.post("/api/v1/events/batch", {"events": events}, format="json").json()

    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "errors": {"distinct_id": [NUL_CHARACTER]}}]
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["u1"]
