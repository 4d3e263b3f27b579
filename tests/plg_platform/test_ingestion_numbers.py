"""Numbers no engine can sum safely are refused per event, by property path; the rest is kept,
and later analyses over that property still work (issue 12, item 1).

The rule: a number in properties or traits must be finite and at most 1e15 in absolute value
(exact as an integer in float64, and its sums and sums of squares stay far inside float64 and
PostgreSQL numeric). Run on SQLite and on PostgreSQL (DATABASE_URL): the failures before the fix
differ (infinity in JSON on SQLite, ``NumericValueOutOfRange`` or a lost batch on PostgreSQL).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from experiments.models import Exposure, Phase
from experiments.services.analysis.run import experiment_analyze
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from metrics.services import metric_create
from plg_platform.json_values import MAX_EVENT_NUMBER, NUMBER_OUT_OF_RANGE
from plg_platform.models import ApiKeyKind, Event, Person
from plg_platform.services.ingestion import events_ingest, to_epoch_us
from plg_platform.services.keys import api_key_create

pytestmark = pytest.mark.django_db

OUT_OF_RANGE = NUMBER_OUT_OF_RANGE.format(limit=MAX_EVENT_NUMBER)
SIGNUP_DAY = (datetime.now(tz=UTC) - timedelta(days=20)).replace(
    hour=12, minute=0, second=0, microsecond=0
)
# Raw JSON number literals: what a client really sends (Python's json cannot even write some).
POISON = {
    "four_hundred_digits": "1" * 400,
    "overflows_double": "1e309",
    "overflows_negative": "-1e309",
    "beyond_64_bits": str(2**70),
    "just_over_the_bound": "1000000000000001",
    "float_over_the_bound": "1.5e15",
}


def _raw_event(distinct_id: str, insert_id: str, amount_literal: str, *, nested=False) -> str:
    amount = f'{{"cart": [{{"price": {amount_literal}}}]}}' if nested else amount_literal
    timestamp = (SIGNUP_DAY + timedelta(hours=1)).isoformat()
    return (
        f'{{"event": "upgrade", "distinct_id": "{distinct_id}", "timestamp": "{timestamp}", '
        f'"insert_id": "{insert_id}", "properties": {{"amount": {amount}}}}}'
    )


def _signups(workspace, units: list[str]) -> None:
    result = events_ingest(
        workspace=workspace,
        raw_events=[
            {"event": "signup", "distinct_id": u, "timestamp": SIGNUP_DAY.isoformat()}
            for u in units
        ],
    )
    assert result.accepted == len(units)


def _sum_metric(editor) -> None:
    response = editor.client.post(
        "/api/v1/metrics/",
        {
            "key": "revenue",
            "name": "Revenue in 7 days",
            "type": "sum",
            "event": "upgrade",
            "property": "amount",
            "window_days": 7,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_unsummable_numbers_are_rejected_by_path_and_the_sum_metric_still_reads(
    editor, ingestion_client
):
    _sum_metric(editor)
    _signups(editor.workspace, ["u1", "u2", "u3"])
    raw = [_raw_event("u1", "good-1", "10"), _raw_event("u2", "good-2", "20.5")]
    raw += [_raw_event("u3", f"bad-{name}", literal) for name, literal in POISON.items()]
    raw.append(_raw_event("u3", "bad-nested", "1e400", nested=True))
    raw.append(_raw_event("u1", "good-3", str(MAX_EVENT_NUMBER)))  # exactly the bound: kept

    response = ingestion_client.post(
        "/api/v1/events/batch",
        data='{"events": [' + ", ".join(raw) + "]}",
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    expected = [
        {"index": 2 + i, "errors": {"properties.amount": [OUT_OF_RANGE]}}
        for i in range(len(POISON))
    ]
    expected.append(
        {"index": 2 + len(POISON), "errors": {"properties.amount.cart.0.price": [OUT_OF_RANGE]}}
    )
    assert body["rejected"] == expected
    assert sorted(Event.objects.filter(event="upgrade").values_list("insert_id", flat=True)) == [
        "good-1",
        "good-2",
        "good-3",
    ]

    values = editor.client.get(
        "/api/v1/metrics/revenue/values",
        {
            "from": str(SIGNUP_DAY.date() - timedelta(days=1)),
            "to": str(SIGNUP_DAY.date() + timedelta(days=1)),
            "start_event": "signup",
        },
    )
    assert values.status_code == 200, values.content
    point = next(p for p in values.json()["results"] if p["units"])
    # Brute force: per-unit sums 10 + 1e15, 20.5 and 0 over three units.
    assert point["units"] == 3
    assert point["value"] == pytest.approx((10 + MAX_EVENT_NUMBER + 20.5 + 0) / 3, rel=1e-12)


def test_an_experiment_analysis_over_the_property_works_after_a_poisoned_batch(
    editor, ingestion_client
):
    workspace = editor.workspace
    metric_create(
        workspace=workspace,
        key="revenue",
        name="Revenue in 7 days",
        spec={"type": "sum", "event": "upgrade", "property": "amount", "window_days": 7},
    )
    design = ExperimentDesign(
        key="pricing",
        name="Pricing",
        hypothesis_change="a cheaper plan",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("cheap", 0.5)),
        primary_metric="revenue",
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    Phase.objects.filter(experiment=experiment).update(started_at=SIGNUP_DAY)
    phase = experiment.phases.get()
    amounts = {"control": [], "cheap": []}
    raw = []
    for i in range(40):
        variant = "control" if i % 2 else "cheap"
        unit = f"u{i}"
        Exposure.objects.create(
            workspace=workspace,
            experiment=experiment,
            phase=phase,
            unit_id=unit,
            variant=variant,
            exposed_at_us=to_epoch_us(SIGNUP_DAY),
        )
        amount = i + 1
        amounts[variant].append(amount)
        raw.append(_raw_event(unit, f"good-{i}", str(amount)))
        raw.append(_raw_event(unit, f"bad-{i}", list(POISON.values())[i % len(POISON)]))

    response = ingestion_client.post(
        "/api/v1/events/batch",
        data='{"events": [' + ", ".join(raw) + "]}",
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 40
    assert len(response.json()["rejected"]) == 40

    computed = experiment_analyze(
        experiment=experiment, cutoff=SIGNUP_DAY + timedelta(days=8), sync_exposures=False
    )

    entry = next(m for m in computed.outputs.metrics if m.key == "revenue")
    means = {v.variant: v.value for v in entry.variants}
    assert means == pytest.approx({k: sum(a) / len(a) for k, a in amounts.items()}, rel=1e-9)


def _segment_client(workspace) -> APIClient:
    _, key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode())
    return client


def test_segment_rejects_unsummable_properties_and_traits_per_message(workspace):
    timestamp = SIGNUP_DAY.isoformat()
    body = (
        '{"batch": ['
        f'{{"type": "track", "event": "upgrade", "userId": "u1", "messageId": "m1", '
        f'"timestamp": "{timestamp}", "properties": {{"amount": 12}}}}, '
        f'{{"type": "track", "event": "upgrade", "userId": "u1", "messageId": "m2", '
        f'"timestamp": "{timestamp}", "properties": {{"amount": {"9" * 400}}}}}, '
        '{"type": "identify", "userId": "u1", "traits": {"arr": 1e309}}, '
        '{"type": "identify", "userId": "u2", "traits": {"arr": 1200}}, '
        '{"type": "group", "userId": "u2", "groupId": "acme", "traits": {"seats": -1e309}}'
        "]}"
    )

    response = _segment_client(workspace).post(
        "/v1/batch", data=body, content_type="application/json"
    )

    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["success"], result["accepted"]) == (False, 2)
    assert result["rejected"] == [
        {"index": 1, "errors": {"properties.amount": [OUT_OF_RANGE]}},
        {"index": 2, "errors": {"traits.arr": [OUT_OF_RANGE]}},
        {"index": 4, "errors": {"traits.seats": [OUT_OF_RANGE]}},
    ]
    assert list(Event.objects.values_list("insert_id", flat=True)) == ["m1"]
    assert {p.distinct_id: p.properties for p in Person.objects.all()} == {"u2": {"arr": 1200}}


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**16, 2**70, 1e300], ids=repr)
def test_python_callers_get_the_same_number_rule(workspace, value):
    good = {"event": "upgrade", "distinct_id": "u", "timestamp": SIGNUP_DAY.isoformat()}
    result = events_ingest(
        workspace=workspace, raw_events=[good, {**good, "properties": {"amount": value}}]
    )

    assert result.accepted == 1
    assert result.rejected == [{"index": 1, "errors": {"properties.amount": [OUT_OF_RANGE]}}]


def test_nan_and_infinity_literals_are_not_json_and_refused_whole(ingestion_client):
    event = _raw_event("u1", "x", "NaN")

    response = ingestion_client.post(
        "/api/v1/events/batch", data='{"events": [' + event + "]}", content_type="application/json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["body"]
    assert json.loads(response.content)["detail"].startswith("body: The body is not valid JSON")
    assert not Event.objects.exists()
