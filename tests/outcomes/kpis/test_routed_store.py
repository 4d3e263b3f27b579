"""KPIs of a workspace whose ingestion is routed to DuckDB: the scheduled refresh computes them
in its store, and they equal the same events' KPIs computed in the app database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outcomes.kpis.models import KpiValue
from outcomes.kpis.refresh import kpis_refresh
from plg_platform.models import Event, EventStore
from plg_platform.services.ingestion import events_ingest, persons_identify
from tests.factories import WorkspaceFactory
from tests.metrics.reference import CUTOFF, generate_events

pytestmark = pytest.mark.django_db


def _cache(workspace) -> dict[tuple, tuple]:
    return {
        (v.kpi, v.period, v.date, v.segment, v.dimension): (v.value, v.numerator, v.denominator)
        for v in KpiValue.objects.filter(workspace=workspace)
    }


def test_refresh_of_a_routed_workspace_runs_in_its_store(settings, tmp_path):
    settings.METRICS_STORE_DIR = str(tmp_path / "stores")
    raw, plans = generate_events(seed=20261124)
    app = WorkspaceFactory(timezone="Europe/Berlin")
    routed = WorkspaceFactory(timezone="Europe/Berlin", event_store=EventStore.DUCKDB)
    for workspace in (app, routed):
        for i in range(0, len(raw), 500):
            assert events_ingest(workspace=workspace, raw_events=raw[i : i + 500]).rejected == []
        persons_identify(workspace=workspace, traits=[(u, {"plan": p}) for u, p in plans.items()])
        kpis_refresh(workspace=workspace, now=CUTOFF + timedelta(days=1), full=True)

    assert Event.objects.filter(workspace=routed).count() == 0
    expected, actual = _cache(app), _cache(routed)
    assert len(expected) > 100
    assert actual.keys() == expected.keys()
    for key, (value, numerator, denominator) in expected.items():
        got = actual[key]
        assert got[1] == pytest.approx(numerator, rel=1e-9), key
        assert got[2] == pytest.approx(denominator, rel=1e-9), key
        assert (got[0] is None) == (value is None), key
        if value is not None:
            assert got[0] == pytest.approx(value, rel=1e-9), key
