"""Browsing events: filters, counts, pagination, workspace isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plg_platform.services.ingestion import events_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def events(workspace):
    raw = [
        {"event": "signed_up", "distinct_id": "a", "timestamp": T0},
        {"event": "session_started", "distinct_id": "a", "timestamp": T0 + timedelta(hours=1)},
        {"event": "session_started", "distinct_id": "b", "timestamp": T0 + timedelta(days=1)},
        {"event": "session_started", "distinct_id": "a", "timestamp": T0 + timedelta(days=2)},
    ]
    events_ingest(workspace=workspace, raw_events=raw, now=T0 + timedelta(days=3))


def test_filters_by_event_and_distinct_id(viewer, events):
    body = viewer.client.get("/api/v1/events/?event=session_started&distinct_id=a").json()

    assert body["count"] == 2
    assert [r["timestamp"] for r in body["results"]] == [
        (T0 + timedelta(days=2)).isoformat(),
        (T0 + timedelta(hours=1)).isoformat(),
    ]


def test_time_range_is_inclusive_after_exclusive_before(viewer, events):
    after = (T0 + timedelta(hours=1)).isoformat()
    before = (T0 + timedelta(days=2)).isoformat()

    body = viewer.client.get("/api/v1/events/", {"after": after, "before": before}).json()

    assert body["count"] == 2


def test_pagination_limits_results_but_counts_all(viewer, events):
    body = viewer.client.get("/api/v1/events/?limit=1").json()

    assert body["count"] == 4
    assert len(body["results"]) == 1
    assert body["next"] is not None


def test_bad_filter_is_400_naming_the_field(viewer, events):
    response = viewer.client.get("/api/v1/events/?after=yesterday")

    assert response.status_code == 400
    assert "after" in response.json()["errors"]


def test_other_workspace_sees_none(outsider, events):
    assert outsider.client.get("/api/v1/events/").json()["count"] == 0
