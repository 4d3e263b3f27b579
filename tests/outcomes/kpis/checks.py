"""Checks that computed KPI rows equal brute-force references: plain Python over the generated
events (those of ``tests.outcomes.support``, and here the voice, revenue and list ones). The
KPI tests of each family and the engine parity tests run the same checks, so every engine is
held to the same independent reference.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from outcomes.kpis.compute import KpiRow
from outcomes.kpis.queries.statement import RETENTION_DAYS
from plg_platform.clock import monday_of
from tests.outcomes.support import (
    CUTOFF_US,
    DAY,
    KPI_CONFIG,
    Data,
    assert_close,
    days_between,
    is_active,
    local_day,
    number,
    reference_activity,
    reference_cohorts,
    reference_moments,
    segment_of,
)

Rows = dict[tuple[str, date, str, str], KpiRow]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def check_activity(rows: Rows, data: Data, first: date, last: date) -> int:
    """Activity KPIs of each day and segment (plan) equal the reference; return the checks."""
    checked = 0
    for day in days_between(first, last):
        for prop in ("", "plan"):
            expected = reference_activity(data, KPI_CONFIG, day, prop)
            segments = [""] if not prop else list(expected)
            for seg in segments:
                c = expected.get(seg, defaultdict(float))
                get = lambda kpi, dim="", seg=seg, day=day: rows[(kpi, day, seg, dim)]  # noqa: E731
                label = f"{day} {seg!r}"
                for kpi, key in (
                    ("dau", "dau"),
                    ("wau", "wau"),
                    ("mau", "mau"),
                    ("new_users", "new_users"),
                    ("resurrected_users", "resurrected"),
                    ("churned_users", "churned"),
                ):
                    assert_close(get(kpi).value, c[key], f"{label} {kpi}")
                mau, dau, wau = c["mau"], c["dau"], c["wau"]
                assert_close(get("stickiness_dau_mau").value, _ratio(dau, mau), label)
                assert_close(get("stickiness_dau_wau").value, _ratio(dau, wau), label)
                assert_close(get("stickiness_wau_mau").value, _ratio(wau, mau), label)
                churn = _ratio(c["churned"], c["previous_mau"])
                assert_close(get("churn_rate").value, churn, label)
                grow = c["new_users"] + c["resurrected"]
                assert_close(get("growth_ratio").value, _ratio(grow, c["churned"]), label)
                core = sum(c[f"core:{e}"] for e in KPI_CONFIG["core_events"])
                adoption = _ratio(core, 3 * mau)
                assert_close(get("core_adoption").value, adoption, label)
                growth = _ratio(grow, grow + c["churned"])
                parts = (adoption, _ratio(dau, mau), growth)
                pes = None if None in parts else sum(parts) / 3  # type: ignore[arg-type]
                assert_close(get("pes").value, pes, f"{label} pes")
                for name in [k for k in c if k.startswith("feature:")]:
                    feature = name.split(":", 1)[1]
                    assert_close(
                        get("feature_adoption", feature).value, _ratio(c[name], mau), label
                    )
                checked += 1
    return checked


def check_cohorts(rows: Rows, data: Data, period: str) -> int:
    """Signup-cohort KPIs of each cohort and segment equal the reference; return the checks."""
    checked = 0
    for prop in ("", "plan"):
        expected = reference_cohorts(data, KPI_CONFIG, period, prop)
        for (cohort, seg), c in expected.items():
            get = lambda kpi, cohort=cohort, seg=seg: rows[(kpi, cohort, seg, "")]  # noqa: E731
            label = f"{period} {cohort} {seg!r}"
            assert get("new_signups").value == c["new_users"], label
            assert_close(
                get("activation_rate").value, _ratio(c["activated"], c["activation_units"]), label
            )
            assert get("activation_rate").denominator == c["activation_units"], label
            assert_close(get("time_to_value").value, c.get("ttv_median_hours"), f"{label} ttv")
            never = c["ttv_units"] - c["ttv_reached"]
            assert_close(get("ttv_never_reached").value, _ratio(never, c["ttv_units"]), label)
            for n in RETENTION_DAYS:
                assert_close(
                    get(f"retention_d{n}").value,
                    _ratio(c[f"d{n}_retained"], c[f"d{n}_units"]),
                    f"{label} d{n}",
                )
            assert_close(get("free_to_paid").value, _ratio(c["paid"], c["paid_units"]), label)
            checked += 1
    return checked


def check_cohort_table(rows: Rows, data: Data, weeks: int = 12) -> int:
    """The weekly cohort retention table equals the reference, cell by cell; return the cells."""
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == "signed_up":
            starts[e["distinct_id"]] = min(e["t"], starts.get(e["distinct_id"], e["t"]))
    expected: dict[tuple[date, str, int], list[int]] = defaultdict(lambda: [0, 0])
    by_unit = data.by_unit()
    for unit, start in starts.items():
        for prop in ("", "plan"):
            seg = segment_of(data, unit, prop)
            for k in range(weeks + 1):
                if start + (k + 1) * 7 * DAY > CUTOFF_US:
                    break
                cell = expected[(monday_of(local_day(start)), seg, k)]
                cell[0] += 1
                cell[1] += any(
                    is_active(e, KPI_CONFIG)
                    and start + k * 7 * DAY <= e["t"] < start + (k + 1) * 7 * DAY
                    for e in by_unit[unit]
                )
    for (week, seg, k), (units, retained) in expected.items():
        row = rows[("cohort_retention", week, seg, str(k))]
        assert (row.denominator, row.numerator) == (units, retained), (week, seg, k)
    assert len([r for r in rows.values() if r.kpi == "cohort_retention"]) == len(expected)
    return len(expected)


def reference_ces(data: Data) -> dict[tuple[date, str], dict[str, float]]:
    """Per local day and segment: valid CES answers (numbers in [1, 7]) and their sum."""
    expected: dict[tuple[date, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in data.events:
        for prop in ("", "plan"):
            c = expected[(local_day(e["t"]), segment_of(data, e["distinct_id"], prop))]
            if e["event"] == "ces":
                effort = number(e["properties"].get("effort"))
                if effort is not None and 1 <= effort <= 7:
                    c["ces_n"] += 1
                    c["ces_sum"] += effort
    return expected


def check_ces(rows: Rows, data: Data, first: date, last: date) -> int:
    """CES of each day and segment equals the reference; return the days with answers."""
    answered = 0
    for (day, seg), c in reference_ces(data).items():
        if not first <= day <= last or (seg == "" and not c) or (not c["ces_n"] and seg):
            continue
        assert_close(
            rows[("ces", day, seg, "")].value,
            c["ces_sum"] / c["ces_n"] if c["ces_n"] else None,
            str(day),
        )
        answered += c["ces_n"] > 0
    return answered


def reference_nps(data: Data, day: date, prop: str) -> dict[str, tuple[int, int, int, int]]:
    """Per segment: respondents with a valid answer in the 30 local days ending ``day``, and
    the promoters and detractors among them by their latest answer (the later stored on a
    tie); and how many respondents answered more than once."""
    latest: dict[str, tuple[int, int, float]] = {}
    answers: dict[str, int] = defaultdict(int)
    for i, e in enumerate(data.events):
        if e["event"] != "nps" or not 0 <= (day - local_day(e["t"])).days <= 29:
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
    return {seg: (c[0], c[1], c[2], c[3]) for seg, c in out.items()}


def check_nps(rows: Rows, data: Data, first: date, last: date) -> tuple[int, int]:
    """NPS and its shares of each day and segment equal the reference; return the checks and
    the respondents who answered more than once."""
    checked = repeat = 0
    for day in days_between(first, last):
        for prop in ("", "plan"):
            for seg, (n, p, d, repeats) in reference_nps(data, day, prop).items():
                nps = rows[("nps", day, seg, "")]
                assert nps.denominator == n, (day, seg)
                assert_close(nps.value, 100 * (p - d) / n if n else None, f"{day} {seg}")
                assert_close(rows[("nps_promoters", day, seg, "")].value, p / n, f"{day}")
                assert_close(rows[("nps_detractors", day, seg, "")].value, d / n, f"{day}")
                checked += 1
                repeat += repeats
    return checked, repeat


def check_revenue(rows: Rows, data: Data, first: date, last: date) -> None:
    """MRR, new and churned MRR of each day equal a replay of the revenue events in stored
    order (each account's latest amount, annual amounts over 12; ties: the later stored)."""
    current: dict[str, float] = {}
    moves: dict[date, list[float]] = defaultdict(list)
    events = sorted(((e["t"], i, e) for i, e in enumerate(data.events)), key=lambda x: x[:2])
    for t, _, e in events:
        if e["event"] not in ("upgrade", "cancelled"):
            continue
        unit = data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
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


def reference_pqls(data: Data, unit: str, since: int, cutoff: int) -> dict[str, tuple]:
    """{unit: (events, users, qualified at, ARR, plan)} of units with at least 6 ``doc``
    events in [since, cutoff), per user or per account."""

    def unit_of(distinct_id: str) -> str:
        if unit == "user":
            return distinct_id
        return data.persons.get(distinct_id, {}).get("account_id", distinct_id)

    hits: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for i, e in enumerate(data.events):
        if e["event"] == "doc" and since <= e["t"] < cutoff:
            hits[unit_of(e["distinct_id"])].append((e["t"], i, e["distinct_id"]))
    persons_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for distinct_id, props in data.persons.items():
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
    return expected


def reference_feature_requests(data: Data, since: int, cutoff: int) -> dict[str, tuple]:
    """{request: (requests, accounts, Σ ARR of those accounts)} of the feedback texts in
    [since, cutoff), lower-cased and trimmed."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in data.events:
        text = e["properties"].get("request")
        if e["event"] == "feedback" and since <= e["t"] < cutoff and text and text.strip():
            account = data.persons.get(e["distinct_id"], {}).get("account_id", e["distinct_id"])
            per[text.strip().lower()][account] += 1
    arr_of: dict[str, float] = {}
    for distinct_id, props in data.persons.items():
        account = props.get("account_id", distinct_id)
        if (arr := number(props.get("arr"))) is not None:
            arr_of[account] = max(arr, arr_of.get(account, arr))
    return {
        request: (sum(accounts.values()), len(accounts), sum(arr_of.get(a, 0.0) for a in accounts))
        for request, accounts in per.items()
    }


def check_moments(rows: Rows, data: Data, period: str) -> set[str]:
    """Success moments of each cohort and segment equal the reference (``MOMENTS``); return
    the moments some user reached."""
    reached_some = set()
    for prop in ("", "plan"):
        expected = reference_moments(data, period, prop)
        assert len(expected) > 20
        for (cohort, seg, name), (units, reached) in expected.items():
            row = rows[("success_moment", cohort, seg, name)]
            assert (row.denominator, row.numerator) == (units, reached), (cohort, seg, name)
            assert row.value == (reached / units if units else None)
            if reached:
                reached_some.add(name)
    return reached_some
