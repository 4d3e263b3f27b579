"""The metrics API: definitions of every type, bad input named by field, series by cohort."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.public import Metric
from plg_platform.models import AuditLog
from plg_platform.services.ingestion import events_ingest

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/"

VALID = {
    "conversion": {"event": "document_created", "window_days": 7},
    "count": {
        "event": "document_created",
        "window_days": 14,
        "cap_type": "absolute",
        "cap_value": 50,
    },
    "sum": {"event": "upgrade", "property": "amount", "window_days": 30},
    "mean": {"event": "upgrade", "property": "amount", "window_days": 30},
    "ratio": {
        "event": "upgrade",
        "property": "amount",
        "denominator_event": "session_start",
        "window_days": 30,
    },
    "retention": {"retention_start_day": 7},
    "moment": {
        "event": "document_created",
        "window_days": 30,
        "min_count": 3,
        "min_distinct_days": 10,
    },
    "time_to_event": {"event": "document_shared", "window_days": 14},
}


@pytest.mark.parametrize("metric_type", sorted(VALID))
def test_every_metric_type_can_be_defined_and_read_back(editor, metric_type):
    body = {
        "key": f"m-{metric_type}",
        "name": metric_type,
        "type": metric_type,
        "tags": ["retention"],
        **VALID[metric_type],
    }
    response = editor.client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["type"] == metric_type
    for field, value in VALID[metric_type].items():
        assert created["definition"][field] == value
    read = editor.client.get(f"{URL}m-{metric_type}/").json()
    assert read["definition"] == created["definition"]
    assert AuditLog.objects.filter(action="metric.create").count() == 1


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"type": "median", "event": "x", "window_days": 7}, "type", "not a valid choice"),
        ({"type": "conversion", "window_days": 7}, "event", "required"),
        ({"type": "conversion", "event": "x"}, "window_days", "required"),
        ({"type": "conversion", "event": "x", "window_days": 0}, "window_days", "between 1"),
        ({"type": "conversion", "event": "x", "window_days": "a week"}, "window_days", "integer"),
        ({"type": "sum", "event": "x", "window_days": 7}, "property", "required"),
        (
            {"type": "sum", "event": "x", "window_days": 7, "property": "a'b"},
            "property",
            "Property names",
        ),
        ({"type": "ratio", "event": "x", "window_days": 7}, "denominator_event", "required"),
        (
            {"type": "conversion", "event": "x", "window_days": 7, "property": "amount"},
            "property",
            "does not apply",
        ),
        (
            {
                "type": "conversion",
                "event": "x",
                "window_days": 7,
                "filters": [{"property": "plan", "op": "like", "value": "p"}],
            },
            "filters.0",
            "op",
        ),
        (
            {
                "type": "conversion",
                "event": "x",
                "window_days": 7,
                "filters": [{"property": "n", "op": "gt", "value": "ten"}],
            },
            "filters.0.value",
            "number",
        ),
        (
            {
                "type": "count",
                "event": "x",
                "window_days": 7,
                "cap_type": "percentile",
                "cap_value": 1.5,
            },
            "cap_value",
            "percentile",
        ),
        (
            {
                "type": "conversion",
                "event": "x",
                "window_days": 7,
                "cap_type": "absolute",
                "cap_value": 3,
            },
            "cap_type",
            "Capping applies",
        ),
        (
            {"type": "retention", "retention_start_day": 9, "retention_end_day": 2},
            "retention_start_day",
            "start_day <= end_day",
        ),
        (
            {"type": "moment", "event": "x", "window_days": 3, "min_distinct_days": 5},
            "min_distinct_days",
            "more distinct days",
        ),
        (
            {"type": "conversion", "event": "x", "window_days": 7, "colour": "red"},
            "colour",
            "Unknown field",
        ),
        (
            {"type": "conversion", "event": "x", "window_days": 7, "unit": "account"},
            "unit_property",
            "account id",
        ),
    ],
)
def test_bad_definition_is_a_400_naming_the_field_and_writes_nothing(editor, body, field, fragment):
    response = editor.client.post(URL, {"key": "bad", "name": "Bad", **body}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert not Metric.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="metric").exists()


def test_malformed_json_is_a_400_naming_the_body(editor):
    response = editor.client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_duplicate_key_is_a_400_naming_key(editor):
    body = {"key": "aha", "name": "Aha", "type": "conversion", **VALID["conversion"]}
    assert editor.client.post(URL, body, format="json").status_code == 201
    response = editor.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["errors"]["key"][0]
    assert Metric.objects.count() == 1


def test_viewer_reads_but_cannot_define(viewer, editor):
    body = {"key": "aha", "name": "Aha", "type": "conversion", **VALID["conversion"]}
    assert viewer.client.post(URL, body, format="json").status_code == 403
    editor.client.post(URL, body, format="json")
    assert viewer.client.get(URL).json()["count"] == 1


def test_another_workspaces_metric_is_404(editor, outsider):
    body = {"key": "aha", "name": "Aha", "type": "conversion", **VALID["conversion"]}
    outsider.client.post(URL, body, format="json")
    assert editor.client.get(f"{URL}aha/").status_code == 404
    assert editor.client.get(f"{URL}aha/values").status_code == 404
    assert editor.client.delete(f"{URL}aha/").status_code == 404
    assert editor.client.get(URL).json()["count"] == 0
    assert Metric.objects.filter(key="aha").count() == 1


def test_series_counts_local_days_and_leaves_immature_cohorts_out(editor):
    """Cohorts are calendar days in the workspace's zone; young units are reported apart."""
    workspace = editor.workspace
    workspace.timezone = "America/New_York"
    workspace.save(update_fields=["timezone"])
    editor.client.post(
        URL,
        {"key": "aha", "name": "Aha", "type": "conversion", **VALID["conversion"]},
        format="json",
    )
    now = datetime.now(tz=UTC).replace(microsecond=0)
    # 02:00 UTC on day X is still the evening of day X−1 in New York (UTC−4/−5).
    old_day = (now - timedelta(days=20)).replace(hour=2, minute=0, second=0)
    young = now - timedelta(days=2)
    events = []
    for i in range(4):
        signup = old_day + timedelta(minutes=i)
        events.append({"event": "signup", "distinct_id": f"old{i}", "timestamp": signup})
        if i < 3:
            events.append(
                {
                    "event": "document_created",
                    "distinct_id": f"old{i}",
                    "timestamp": signup + timedelta(days=6, hours=23),
                }
            )
    for i in range(3):
        events.append({"event": "signup", "distinct_id": f"young{i}", "timestamp": young})
    events_ingest(
        workspace=workspace,
        raw_events=[{**e, "timestamp": e["timestamp"].isoformat()} for e in events],
    )
    local_old = (old_day - timedelta(hours=6)).date()
    response = editor.client.get(
        f"{URL}aha/values",
        {
            "from": str(local_old - timedelta(days=1)),
            "to": str(now.date()),
            "start_event": "signup",
        },
    )
    assert response.status_code == 200, response.json()
    points = {p["period_start"]: p for p in response.json()["results"]}
    old = points[str(local_old)]
    assert (old["units"], old["n"], old["value"]) == (4, 4, 0.75)
    assert old["ci_low"] < 0.75 < old["ci_high"]
    assert points[str(local_old + timedelta(days=1))]["units"] == 0
    assert sum(p["immature_units"] for p in points.values()) == 3
    assert sum(p["units"] for p in points.values()) == 4


def test_series_bad_query_is_a_400_naming_the_parameter(editor):
    editor.client.post(
        URL,
        {"key": "aha", "name": "Aha", "type": "conversion", **VALID["conversion"]},
        format="json",
    )
    assert (
        "interval" in editor.client.get(f"{URL}aha/values", {"interval": "hour"}).json()["errors"]
    )
    response = editor.client.get(f"{URL}aha/values", {"from": "2026-05-01", "to": "2026-04-01"})
    assert response.status_code == 400
    assert "from" in response.json()["errors"]
    assert editor.client.get(f"{URL}aha/values", {"from": "May"}).status_code == 400
