"""Product-qualified leads and feature requests equal a brute-force computation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from outcomes.kpis.lists import feature_requests_refresh, pqls_refresh
from outcomes.kpis.models import FeatureRequest, ProductQualifiedLead
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import epoch_us
from tests.outcomes.support import CUTOFF_US, DAY, NOW, configure, number

pytestmark = pytest.mark.django_db


# --- lists --------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["user", "account"])
def test_product_qualified_leads_equal_brute_force(workspace, kpi_data, unit):
    configure(workspace, pql_unit=unit)
    settings = kpi_settings_get(workspace=workspace)
    pqls_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 30 * DAY

    def unit_of(distinct_id: str) -> str:
        if unit == "user":
            return distinct_id
        return kpi_data.persons.get(distinct_id, {}).get("account_id", distinct_id)

    hits: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for i, e in enumerate(kpi_data.events):
        if e["event"] == "doc" and since <= e["t"] < CUTOFF_US:
            hits[unit_of(e["distinct_id"])].append((e["t"], i, e["distinct_id"]))
    persons_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for distinct_id, props in kpi_data.persons.items():
        persons_of[unit_of(distinct_id)].append(props)
    expected = {}
    for key, events in hits.items():
        if len(events) < 6:
            continue
        events.sort()
        arrs = [a for p in persons_of[key] if (a := number(p.get("arr"))) is not None]
        plans = [p["plan"] for p in persons_of[key] if "plan" in p]
        expected[key] = (
            len(events),
            len({d for _, _, d in events}),
            events[5][0],
            max(arrs) if arrs else None,
            max(plans) if plans else "",
        )
    stored = {
        p.unit_id: (p.event_count, p.users, epoch_us(p.qualified_at), p.arr, p.plan)
        for p in ProductQualifiedLead.objects.filter(workspace=workspace)
    }
    assert stored == expected
    assert len(expected) >= 3


def test_feature_requests_are_counted_by_text_and_weighted_by_account_arr(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    feature_requests_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 60 * DAY
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in kpi_data.events:
        text = e["properties"].get("request")
        if e["event"] == "feedback" and since <= e["t"] < CUTOFF_US and text and text.strip():
            account = kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
            per[text.strip().lower()][account] += 1
    arr_of: dict[str, float] = {}
    for distinct_id, props in kpi_data.persons.items():
        account = props.get("account_id", distinct_id)
        if (arr := number(props.get("arr"))) is not None:
            arr_of[account] = max(arr, arr_of.get(account, arr))
    expected = {
        request: (sum(accounts.values()), len(accounts), sum(arr_of.get(a, 0.0) for a in accounts))
        for request, accounts in per.items()
    }
    stored = {
        r.request: (r.requests, r.accounts, r.arr)
        for r in FeatureRequest.objects.filter(workspace=workspace)
    }
    assert stored == expected
    assert "offline mode" in stored
    ordered = list(FeatureRequest.objects.filter(workspace=workspace))
    assert [r.arr for r in ordered] == sorted((r.arr for r in ordered), reverse=True)


def test_feature_requests_can_be_grouped_into_topics_by_keyword(workspace, kpi_data):
    topics = [
        {"topic": "Offline mode", "keywords": ["OFFLINE"]},
        {"topic": "Dark theme", "keywords": ["dark", "night"]},
    ]
    settings = configure(workspace, feedback_topics=topics)
    feature_requests_refresh(settings=settings, now=NOW)
    since = CUTOFF_US - 60 * DAY

    def topic_of(text: str) -> tuple[str, str]:
        lowered = text.lower()
        if "offline" in lowered:
            return "offline mode", "Offline mode"
        if "dark" in lowered or "night" in lowered:
            return "dark theme", "Dark theme"
        return text.strip().lower(), text.strip()

    per: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    shown: dict[str, str] = {}
    for e in kpi_data.events:
        text = e["properties"].get("request")
        if e["event"] == "feedback" and since <= e["t"] < CUTOFF_US and text and text.strip():
            key, label = topic_of(text)
            per[key].add(
                kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
            )
            counts[key] += 1
            shown[key] = label if key in ("offline mode", "dark theme") else shown.get(key, label)
    stored = {
        r.request: (r.requests, r.accounts)
        for r in FeatureRequest.objects.filter(workspace=workspace)
    }
    assert stored == {key: (counts[key], len(per[key])) for key in per}
    assert FeatureRequest.objects.get(workspace=workspace, request="offline mode").text == (
        "Offline mode"
    )
