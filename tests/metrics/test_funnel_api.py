"""Funnel metrics through the API: defined with their steps, bad steps answered with a 400
naming the step's field (nothing written), and each weekly signup cohort's steps in the
metric values API equal to the brute force."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metrics.engine.definition import parse_definition
from metrics.public import Metric
from plg_platform.models import AuditLog
from plg_platform.services.ingestion import events_ingest, to_epoch_us
from tests.metrics.funnel_reference import steps_reached, with_times

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/"
FUNNEL = {
    "key": "activation",
    "name": "Activation",
    "type": "funnel",
    "window_days": 7,
    "steps": [
        {"event": "signup"},
        {
            "event": "document_created",
            "name": "Created a document",
            "filters": [{"property": "plan", "op": "in", "value": ["pro", "team"]}],
        },
        {"event": "invite_sent"},
    ],
}


def test_a_funnel_is_defined_with_its_steps_and_read_back(editor):
    response = editor.client.post(URL, FUNNEL, format="json")
    assert response.status_code == 201, response.json()
    definition = response.json()["definition"]
    assert definition == {
        "type": "funnel",
        "tags": [],
        "window_days": 7,
        "steps": [
            {"event": "signup", "filters": []},
            {
                "event": "document_created",
                "filters": [{"property": "plan", "op": "in", "value": ["pro", "team"]}],
                "name": "Created a document",
            },
            {"event": "invite_sent", "filters": []},
        ],
    }
    assert editor.client.get(f"{URL}activation/").json()["definition"] == definition
    audit = AuditLog.objects.get(action="metric.create")
    assert audit.changes["definition"]["steps"][1]["name"] == "Created a document"
    # The stored definition parses back to the same steps.
    stored = Metric.objects.get(key="activation")
    assert [s["event"] for s in stored.steps] == ["signup", "document_created", "invite_sent"]


def _steps(*steps):
    return {**FUNNEL, "steps": list(steps)}


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({**FUNNEL, "steps": []}, "steps", "required"),
        (_steps({"event": "signup"}), "steps", "2 to 10 steps"),
        (_steps({"event": "signup"}, {"event": ""}), "steps.1.event", "event name"),
        (_steps({"event": "signup"}, {"name": "no event"}), "steps.1.event", "event name"),
        (_steps({"event": "signup"}, {"event": "doc", "after": 2}), "steps.1", "Each step"),
        (
            _steps(
                {"event": "signup"},
                {"event": "doc"},
                {"event": "up", "filters": [{"property": "amount", "op": "gte", "value": "ten"}]},
            ),
            "steps.2.filters.0.value",
            "number",
        ),
        ({**FUNNEL, "window_days": None}, "window_days", "required"),
        ({**FUNNEL, "event": "signup"}, "event", "does not apply"),
        ({**FUNNEL, "cap_type": "absolute", "cap_value": 2}, "cap_type", "Capping applies"),
        ({**FUNNEL, "steps": "signup"}, "steps", "list"),
        (_steps({"event": "signup"}, "doc"), "steps.1", "dictionary"),
        (
            {
                "key": "c",
                "name": "C",
                "type": "conversion",
                "event": "x",
                "window_days": 7,
                "steps": FUNNEL["steps"],
            },
            "steps",
            "does not apply",
        ),
    ],
)
def test_bad_steps_are_a_400_naming_the_field_and_write_nothing(editor, body, field, fragment):
    response = editor.client.post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert fragment in " ".join(str(e) for e in errors[field]), errors
    assert not Metric.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="metric").exists()


def test_weekly_signup_cohorts_have_their_steps_in_the_values_api(editor):
    workspace = editor.workspace
    workspace.timezone = "Europe/Berlin"
    workspace.save(update_fields=["timezone"])
    assert editor.client.post(URL, FUNNEL, format="json").status_code == 201
    rng = random.Random(14)
    now = datetime.now(tz=UTC).replace(microsecond=0)
    events = []
    for u in range(60):
        unit = f"user{u}"
        signup = now - timedelta(days=rng.uniform(3, 30))  # some still inside their window
        events.append({"event": "signup", "distinct_id": unit, "timestamp": signup})
        for _ in range(rng.randint(0, 5)):
            name = rng.choice(["signup", "document_created", "invite_sent"])
            at = signup + timedelta(hours=rng.choice([0, 1, 2, 24, 100, 167, 168, 200]))
            if rng.random() < 0.2:
                at -= timedelta(hours=2)  # before the signup: never counts
            if at < now:
                plan = rng.choice(["pro", "team", "free", 5])
                events.append(
                    {
                        "event": name,
                        "distinct_id": unit,
                        "timestamp": at,
                        "properties": {"plan": plan},
                    }
                )
    raw = [
        {"properties": {}, **e, "timestamp": e["timestamp"].isoformat(), "insert_id": f"i{i}"}
        for i, e in enumerate(events)
    ]
    assert events_ingest(workspace=workspace, raw_events=raw).rejected == []
    zone = ZoneInfo("Europe/Berlin")
    date_from = (now - timedelta(days=31)).astimezone(zone).date()
    response = editor.client.get(
        f"{URL}activation/values",
        {"from": str(date_from), "interval": "week", "start_event": "signup"},
    )
    assert response.status_code == 200, response.json()
    results = response.json()["results"]

    # The brute force: each unit's first signup, its local week (Monday), its steps.
    definition = parse_definition(FUNNEL)
    by_unit = with_times(raw)
    cutoff = to_epoch_us(now)
    expected: dict[str, dict] = defaultdict(lambda: {"units": 0, "immature": 0, "steps": [0, 0, 0]})
    for unit_events in by_unit.values():
        start = min(e["t"] for e in unit_events if e["event"] == "signup")
        day = datetime.fromtimestamp(start / 1e6, tz=UTC).astimezone(zone).date()
        week = str(day - timedelta(days=day.weekday()))
        if start + 7 * 86_400_000_000 > cutoff:
            expected[week]["immature"] += 1
            continue
        expected[week]["units"] += 1
        for k in range(steps_reached(definition, unit_events, start, cutoff_us=cutoff)):
            expected[week]["steps"][k] += 1
    checked = 0
    for point in results:
        want = expected.get(point["period_start"])
        if want is None:
            assert point["units"] == 0
            continue
        assert point["units"] == want["units"]
        assert point["immature_units"] == want["immature"]
        if not want["units"]:
            continue
        steps = point["steps"]
        assert [s["units"] for s in steps] == want["steps"]
        assert [s["name"] for s in steps] == ["signup", "Created a document", "invite_sent"]
        assert steps[0]["overall"] == pytest.approx(want["steps"][0] / want["units"])
        if want["steps"][1]:
            assert steps[2]["conversion"] == pytest.approx(want["steps"][2] / want["steps"][1])
        assert point["value"] == pytest.approx(want["steps"][2] / want["units"])
        checked += 1
    assert checked >= 3
    assert sum(p["immature_units"] for p in results) > 0
