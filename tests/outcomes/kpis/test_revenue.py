"""Recurring revenue moves equal a brute-force computation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from outcomes.kpis.compute import revenue_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.support import DATA_END, assert_close, days_between, local_day, number, rows_by

pytestmark = pytest.mark.django_db


# --- value capture ----------------------------------------------------------------------
def test_mrr_added_and_churned_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = date(2026, 2, 20), DATA_END
    rows = rows_by(revenue_rows(settings=settings, first_day=first, last_day=last))
    current: dict[str, float] = {}
    moves: dict[date, list[float]] = defaultdict(list)
    events = sorted(
        ((e["t"], i, e) for i, e in enumerate(kpi_data.events)), key=lambda x: (x[0], x[1])
    )
    for t, _, e in events:
        if e["event"] not in ("upgrade", "cancelled"):
            continue
        unit = kpi_data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
        amount = number(e["properties"].get("amount")) if e["event"] == "upgrade" else 0.0
        after = (amount or 0.0) / 12
        moves[local_day(t)].append(after - current.get(unit, 0.0))
        current[unit] = after
    mrr = sum(sum(v) for d, v in moves.items() if d < first)
    for day in days_between(first, last):
        mrr += sum(moves.get(day, []))
        assert_close(rows[("mrr", day, "", "")].value, mrr, f"mrr {day}")
        added = sum(m for m in moves.get(day, []) if m > 0)
        lost = sum(-m for m in moves.get(day, []) if m < 0)
        assert_close(rows[("new_mrr", day, "", "")].value, added, f"added {day}")
        assert_close(rows[("churned_mrr", day, "", "")].value, lost, f"lost {day}")
    assert any(r.value for r in rows.values() if r.kpi == "churned_mrr")
