"""Product-qualified leads and feature requests equal a brute-force computation."""

from __future__ import annotations

from collections import defaultdict

import pytest

from outcomes.kpis.lists import feature_requests_refresh, pqls_refresh
from outcomes.kpis.models import FeatureRequest, ProductQualifiedLead
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import epoch_us
from tests.outcomes.kpis.checks import reference_feature_requests, reference_pqls
from tests.outcomes.support import CUTOFF_US, DAY, NOW, configure

pytestmark = pytest.mark.django_db


# --- lists --------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["user", "account"])
def test_product_qualified_leads_equal_brute_force(workspace, kpi_data, unit):
    configure(workspace, pql_unit=unit)
    settings = kpi_settings_get(workspace=workspace)
    pqls_refresh(settings=settings, now=NOW)
    expected = reference_pqls(kpi_data, unit, CUTOFF_US - 30 * DAY, CUTOFF_US)
    stored = {
        p.unit_id: (p.event_count, p.users, epoch_us(p.qualified_at), p.arr, p.plan)
        for p in ProductQualifiedLead.objects.filter(workspace=workspace)
    }
    assert stored == expected
    assert len(expected) >= 3


def test_feature_requests_are_counted_by_text_and_weighted_by_account_arr(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    feature_requests_refresh(settings=settings, now=NOW)
    expected = reference_feature_requests(kpi_data, CUTOFF_US - 60 * DAY, CUTOFF_US)
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
