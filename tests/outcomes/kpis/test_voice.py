"""NPS and CES equal a brute-force computation over the survey answers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from outcomes.kpis.compute import voice_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.support import (
    DATA_END,
    DATA_START,
    assert_close,
    local_day,
    number,
    rows_by,
    segment_of,
)

pytestmark = pytest.mark.django_db


# --- voice of the customer --------------------------------------------------------------
def test_nps_and_ces_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = DATA_START, DATA_END
    rows = rows_by(voice_rows(settings=settings, first_day=first, last_day=last))
    expected: dict[tuple[date, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in kpi_data.events:
        for prop in ("", "plan"):
            c = expected[(local_day(e["t"]), segment_of(kpi_data, e["distinct_id"], prop))]
            if e["event"] == "nps":
                score = number(e["properties"].get("score"))
                if score is not None and 0 <= score <= 10:
                    c["n"] += 1
                    c["p"] += score >= 9
                    c["d"] += score < 7
            if e["event"] == "ces":
                effort = number(e["properties"].get("effort"))
                if effort is not None and 1 <= effort <= 7:
                    c["ces_n"] += 1
                    c["ces_sum"] += effort
    answered = 0
    for (day, seg), c in expected.items():
        if not first <= day <= last or (seg == "" and not c):
            continue
        if not c["n"] and not c["ces_n"] and seg:
            continue
        nps = rows[("nps", day, seg, "")]
        assert_close(nps.value, 100 * (c["p"] - c["d"]) / c["n"] if c["n"] else None, str(day))
        assert_close(
            rows[("ces", day, seg, "")].value,
            c["ces_sum"] / c["ces_n"] if c["ces_n"] else None,
            str(day),
        )
        answered += c["n"] > 0
    assert answered > 5
