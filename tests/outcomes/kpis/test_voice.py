"""NPS (each respondent's latest answer in the 30 days ending the day) and CES equal a
brute-force computation over the survey answers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from outcomes.kpis.compute import voice_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.support import (
    DATA_END,
    DATA_START,
    Data,
    assert_close,
    configure,
    days_between,
    local_day,
    local_instant,
    number,
    rows_by,
    segment_of,
    store,
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
            if e["event"] == "ces":
                effort = number(e["properties"].get("effort"))
                if effort is not None and 1 <= effort <= 7:
                    c["ces_n"] += 1
                    c["ces_sum"] += effort
    answered = 0
    for (day, seg), c in expected.items():
        if not first <= day <= last or (seg == "" and not c) or (not c["ces_n"] and seg):
            continue
        assert_close(
            rows[("ces", day, seg, "")].value,
            c["ces_sum"] / c["ces_n"] if c["ces_n"] else None,
            str(day),
        )
        answered += c["ces_n"] > 0
    assert answered > 5
    checked = repeat = 0
    for day in days_between(first, last):
        for prop in ("", "plan"):
            for seg, (n, p, d, repeats) in reference_nps(kpi_data, day, prop).items():
                nps = rows[("nps", day, seg, "")]
                assert nps.denominator == n, (day, seg)
                assert_close(nps.value, 100 * (p - d) / n if n else None, f"{day} {seg}")
                assert_close(rows[("nps_promoters", day, seg, "")].value, p / n, f"{day}")
                assert_close(rows[("nps_detractors", day, seg, "")].value, d / n, f"{day}")
                checked += 1
                repeat += repeats
    assert checked > 50
    assert repeat > 0, "the data has respondents who answered twice in 30 days"


def reference_nps(data, day: date, prop: str) -> dict[str, tuple[int, int, int, int]]:
    """Per segment: respondents with a valid answer in the 30 local days ending ``day``, and
    the promoters and detractors among them by their latest answer (the later stored on a
    tie); and how many respondents answered more than once."""
    latest: dict[str, tuple[int, int, float]] = {}
    answers: dict[str, int] = defaultdict(int)
    for i, e in enumerate(data.events):
        if e["event"] != "nps" or not day - timedelta(days=29) <= local_day(e["t"]) <= day:
            continue
        score = number(e["properties"].get("score"))
        if score is None or not 0 <= score <= 10:
            continue
        unit = e["distinct_id"]
        answers[unit] += 1
        if unit not in latest or (e["t"], i) > latest[unit][:2]:
            latest[unit] = (e["t"], i, score)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for unit, (_, _, score) in latest.items():
        c = out[segment_of(data, unit, prop)]
        c[0] += 1
        c[1] += score >= 9
        c[2] += score < 7
        c[3] += answers[unit] > 1
    return {seg: tuple(c) for seg, c in out.items()}


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
