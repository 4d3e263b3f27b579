"""The success moments' statement: per signup cohort and segment, for each moment (Setup, Aha,
Eureka, Habit…), the users matured for its window and how many reached it.

A user reaches a moment by doing its event at least ``min_count`` times on at least
``min_distinct_days`` distinct days within ``window_days`` of their start: the metric layer's
``moment`` rule (days counted as whole 24-hour days after the start, as there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlglot import exp

from metrics.public import CompilerError, RenderedQuery, with_ctes
from outcomes.kpis.queries.cohorts import COHORT_UNITS, cohort_of
from outcomes.kpis.queries.statement import FIRST_SEEN, KpiStatement, Period
from plg_platform.clock import DAY_US, day_number


@dataclass(frozen=True)
class Moment:
    name: str
    event: str
    window_days: int
    min_count: int = 1
    min_distinct_days: int = 1


def moment_columns(count: int) -> tuple[str, ...]:
    pairs = [(f"units_{k}", f"reached_{k}") for k in range(count)]
    return ("grp", "seg", "new_users", *(c for pair in pairs for c in pair))


def moments_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    period: Period,
    first_day: date,
    last_day: date,
    cutoff_us: int,
    signup_event: str,
    moments: Sequence[Moment],
    segment_property: str = "",
) -> RenderedQuery:
    """Per signup cohort (local day, or ISO week) and segment: for moment k, ``units_k``
    (users with start + window_k <= cut-off) and ``reached_k`` (those of them who reached it)."""
    if not moments:
        raise CompilerError("Give success moments.")
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi, start_day, group = cohort_of(s, period, first_day, last_day)
    per_unit, sums = [], []
    parts: dict[str, Any] = {}
    for k, m in enumerate(moments):
        hit = f"e.event = :ev{k} AND e.timestamp_us < c.start_us + :win{k}"
        per_unit.append(
            f"SUM(CASE WHEN {hit} THEN 1 ELSE 0 END) AS n{k}, "
            f"COUNT(DISTINCT CASE WHEN {hit} THEN (e.timestamp_us - c.start_us) / :day END) AS d{k}"
        )
        matured = f"pu.start_us + :win{k} <= :cutoff"
        sums.append(
            f"SUM(CASE WHEN {matured} THEN 1 ELSE 0 END) AS units_{k}, "
            f"SUM(CASE WHEN {matured} AND pu.n{k} >= :cnt{k} AND pu.d{k} >= :days{k} "
            f"THEN 1 ELSE 0 END) AS reached_{k}"
        )
        parts |= {
            f"ev{k}": m.event,
            f"win{k}": m.window_days * DAY_US,
            f"cnt{k}": m.min_count,
            f"days{k}": m.min_distinct_days,
        }
    template = with_ctes(
        f"""
        SELECT pu.grp AS grp, pu.seg AS seg, COUNT(*) AS new_users, {", ".join(sums)}
        FROM pu GROUP BY pu.grp, pu.seg ORDER BY pu.grp, pu.seg
        """,  # noqa: S608 (only fixed text and moment indexes; every value is bound)
        {
            "pop": FIRST_SEEN,
            "c": COHORT_UNITS,
            "pu": f"""
                SELECT c.unit_id AS unit_id, c.start_us AS start_us, c.grp AS grp,
                  c.seg AS seg, {", ".join(per_unit)}
                FROM c LEFT JOIN EVENTS AS e
                  ON e.workspace_id = :ws AND e.distinct_id = c.unit_id
                  AND e.timestamp_us >= c.start_us AND e.timestamp_us < c.start_us + :span_us
                  AND e.timestamp_us < :cutoff
                WHERE c.start_day >= :first_day AND c.start_day <= :last_day
                GROUP BY c.unit_id, c.start_us, c.grp, c.seg
            """,  # noqa: S608 (as above)
        },
    )
    tree = s.fill(
        template,
        signup=s.signup(signup_event),
        lo=lo,
        hi=hi,
        grp=group,
        seg=s.segment_of(exp.column("unit_id", "pop"), segment_property),
        start_day=start_day.copy(),
        ws=workspace_id,
        span_us=max(m.window_days for m in moments) * DAY_US,
        cutoff=cutoff_us,
        day=DAY_US,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
        **parts,
    )
    return s.render(tree, moment_columns(len(moments)))
