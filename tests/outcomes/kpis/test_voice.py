"""NPS (each respondent's latest answer in the 30 days ending the day) and CES equal a
brute-force computation over the survey answers."""

from __future__ import annotations

from datetime import date

import pytest

from outcomes.kpis.compute import voice_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.kpis.checks import check_ces, check_nps
from tests.outcomes.support import (
    DATA_END,
    DATA_START,
    Data,
    configure,
    local_instant,
    rows_by,
    store,
)

pytestmark = pytest.mark.django_db


# --- voice of the customer --------------------------------------------------------------
def test_nps_and_ces_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = DATA_START, DATA_END
    rows = rows_by(voice_rows(settings=settings, first_day=first, last_day=last))
    assert check_ces(rows, kpi_data, first, last) > 5
    checked, repeat = check_nps(rows, kpi_data, first, last)
    assert checked > 50
    assert repeat > 0, "the data has respondents who answered twice in 30 days"


def test_a_respondent_who_answers_twice_counts_once_by_the_latest_answer(workspace):
    data = Data()
    data.add("a", "nps", local_instant(date(2026, 3, 2), 10), score=2)
    data.add("a", "nps", local_instant(date(2026, 3, 9), 10), score=10)
    data.add("a", "nps", local_instant(date(2026, 3, 9), 11), score="ten")  # not a number
    data.add("b", "nps", local_instant(date(2026, 3, 5), 10), score=8)
    store(workspace, data)
    configure(workspace, segment_properties=[])
    rows = rows_by(
        voice_rows(
            settings=kpi_settings_get(workspace=workspace),
            first_day=date(2026, 3, 8),
            last_day=date(2026, 4, 5),
        )
    )
    # 8 March: a's latest is the 2 (detractor), b a passive: 1 respondent in 2 is a detractor.
    assert (rows[("nps", date(2026, 3, 8), "", "")].value) == -50.0
    # 9 March: a's latest is the 10: one promoter and one passive, a counted once.
    nps = rows[("nps", date(2026, 3, 9), "", "")]
    assert (nps.value, nps.denominator) == (50.0, 2)
    # 4 April: b's answer (5 March) has left the 30 days; a's 10 remains.
    assert rows[("nps", date(2026, 4, 4), "", "")].value == 100.0
    assert rows[("nps", date(2026, 4, 5), "", "")].denominator == 1
