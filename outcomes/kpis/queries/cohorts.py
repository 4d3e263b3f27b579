"""The signup cohorts' statements: activation, time to value, retention and free-to-paid per
cohort, and the weekly cohort retention table.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlglot import exp

from metrics.public import RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import (
    FIRST_SEEN,
    RETENTION_DAYS,
    Activity,
    KpiStatement,
    Period,
    span,
)
from plg_platform.clock import DAY_US, WEEK_US, day_number, monday_of

# --- 3. signup cohorts: activation, time to value, retention, free-to-paid -------------------
COHORT_COLUMNS = (
    "grp",
    "seg",
    "new_users",
    "activation_units",
    "activated",
    "ttv_units",
    "ttv_reached",
    "ttv_median_us",
    "d1_units",
    "d1_retained",
    "d7_units",
    "d7_retained",
    "d30_units",
    "d30_retained",
    "paid_units",
    "paid",
)


# The templates below spell out RETENTION_DAYS = (1, 7, 30).
COHORT_UNITS = """
    SELECT pop.unit_id AS unit_id, pop.start_us AS start_us, :grp AS grp,
      :seg AS seg, :start_day AS start_day
    FROM pop
"""
# Per unit, over events in [start, start + the longest window): the first Aha and first
# payment after the start, uncapped, so each KPI applies its own window in COHORT_SUMS.
COHORT_PER_UNIT = """
    SELECT c.unit_id AS unit_id, c.start_us AS start_us, c.grp AS grp, c.seg AS seg,
      MIN(CASE WHEN :is_aha THEN e.timestamp_us - c.start_us END) AS aha_us,
      MIN(CASE WHEN :is_paid AND e.timestamp_us < c.start_us + :paid_us
          THEN e.timestamp_us - c.start_us END) AS paid_after_us,
      MAX(CASE WHEN :active AND e.timestamp_us >= c.start_us + :d1_lo
          AND e.timestamp_us < c.start_us + :d1_hi THEN 1 ELSE 0 END) AS d1,
      MAX(CASE WHEN :active AND e.timestamp_us >= c.start_us + :d7_lo
          AND e.timestamp_us < c.start_us + :d7_hi THEN 1 ELSE 0 END) AS d7,
      MAX(CASE WHEN :active AND e.timestamp_us >= c.start_us + :d30_lo
          AND e.timestamp_us < c.start_us + :d30_hi THEN 1 ELSE 0 END) AS d30
    FROM c LEFT JOIN EVENTS AS e
      ON e.workspace_id = :ws AND e.distinct_id = c.unit_id
      AND e.timestamp_us >= c.start_us AND e.timestamp_us < c.start_us + :span_us
      AND e.timestamp_us < :cutoff
    WHERE c.start_day >= :first_day AND c.start_day <= :last_day
    GROUP BY c.unit_id, c.start_us, c.grp, c.seg
"""
COHORT_SUMS = """
    SELECT pu.grp AS grp, pu.seg AS seg, COUNT(*) AS new_users,
      SUM(CASE WHEN pu.start_us + :act_us <= :cutoff THEN 1 ELSE 0 END) AS activation_units,
      SUM(CASE WHEN pu.start_us + :act_us <= :cutoff AND pu.aha_us < :act_us
          THEN 1 ELSE 0 END) AS activated,
      SUM(CASE WHEN pu.start_us + :ttv_us <= :cutoff THEN 1 ELSE 0 END) AS ttv_units,
      SUM(CASE WHEN pu.start_us + :ttv_us <= :cutoff AND pu.aha_us < :ttv_us
          THEN 1 ELSE 0 END) AS ttv_reached,
      SUM(CASE WHEN pu.start_us + :d1_hi <= :cutoff THEN 1 ELSE 0 END) AS d1_units,
      SUM(CASE WHEN pu.start_us + :d1_hi <= :cutoff THEN pu.d1 ELSE 0 END) AS d1_retained,
      SUM(CASE WHEN pu.start_us + :d7_hi <= :cutoff THEN 1 ELSE 0 END) AS d7_units,
      SUM(CASE WHEN pu.start_us + :d7_hi <= :cutoff THEN pu.d7 ELSE 0 END) AS d7_retained,
      SUM(CASE WHEN pu.start_us + :d30_hi <= :cutoff THEN 1 ELSE 0 END) AS d30_units,
      SUM(CASE WHEN pu.start_us + :d30_hi <= :cutoff THEN pu.d30 ELSE 0 END) AS d30_retained,
      SUM(CASE WHEN pu.start_us + :paid_us <= :cutoff THEN 1 ELSE 0 END) AS paid_units,
      SUM(CASE WHEN pu.start_us + :paid_us <= :cutoff AND pu.paid_after_us IS NOT NULL
          THEN 1 ELSE 0 END) AS paid
    FROM pu GROUP BY pu.grp, pu.seg
"""
# The median time to value of each cohort, inside the database.
MEDIAN_POSTGRES = """
    SELECT pu.grp AS grp, pu.seg AS seg,
      PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY pu.aha_us) AS median_us
    FROM pu
    WHERE pu.start_us + :ttv_us <= :cutoff AND pu.aha_us < :ttv_us
    GROUP BY pu.grp, pu.seg
"""
# SQLite has no percentile: number the matured, reached users of each cohort in order and
# average the middle row (odd counts) or the two middle rows (even counts): rows (n + 1) / 2
# and (n + 2) / 2 in integer division.
MEDIAN_RANKED = """
    SELECT pu.grp AS grp, pu.seg AS seg, pu.aha_us AS aha_us,
      ROW_NUMBER() OVER (PARTITION BY pu.grp, pu.seg ORDER BY pu.aha_us) AS rn,
      COUNT(*) OVER (PARTITION BY pu.grp, pu.seg) AS cnt
    FROM pu
    WHERE pu.start_us + :ttv_us <= :cutoff AND pu.aha_us < :ttv_us
"""
MEDIAN_WINDOW = """
    SELECT ranked.grp AS grp, ranked.seg AS seg, AVG(CAST(ranked.aha_us AS DOUBLE)) AS median_us
    FROM ranked
    WHERE ranked.rn = (ranked.cnt + 1) / 2 OR ranked.rn = (ranked.cnt + 2) / 2
    GROUP BY ranked.grp, ranked.seg
"""
COHORT_FINAL = """
    SELECT agg.grp AS grp, agg.seg AS seg, agg.new_users, agg.activation_units, agg.activated,
      agg.ttv_units, agg.ttv_reached, med.median_us AS ttv_median_us,
      agg.d1_units, agg.d1_retained, agg.d7_units, agg.d7_retained,
      agg.d30_units, agg.d30_retained, agg.paid_units, agg.paid
    FROM agg LEFT JOIN med ON med.grp = agg.grp AND med.seg = agg.seg
    ORDER BY agg.grp, agg.seg
"""


def cohort_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    period: Period,
    first_day: date,
    last_day: date,
    cutoff_us: int,
    signup_event: str,
    activity: Activity,
    aha_event: str = "",
    activation_days: int = 7,
    ttv_days: int = 30,
    paid_event: str = "",
    paid_days: int = 30,
    segment_property: str = "",
) -> RenderedQuery:
    """Per signup cohort (local day, or ISO week) and segment, over users who started (first
    ``signup_event``) in [first_day, last_day]: how many matured for each measure and how many
    reached it; the median time to the first Aha among those who reached it (in the database:
    ``percentile_cont`` on PostgreSQL, the middle rows of a window on SQLite).

    A user matures for a measure of window W days once ``start + W days <= cutoff``.
    Retention day N: any activity in [start + N days, start + N + 1 days).
    """
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi, start_day, group = cohort_of(s, period, first_day, last_day)
    windows = {
        "act_us": activation_days * DAY_US,
        "ttv_us": ttv_days * DAY_US,
        "paid_us": paid_days * DAY_US,
    }
    span_days = max(activation_days, ttv_days, paid_days, max(RETENTION_DAYS) + 1)
    ctes = {"pop": FIRST_SEEN, "c": COHORT_UNITS, "pu": COHORT_PER_UNIT, "agg": COHORT_SUMS}
    if dialect == "postgres":
        ctes["med"] = MEDIAN_POSTGRES
    else:
        ctes["ranked"], ctes["med"] = MEDIAN_RANKED, MEDIAN_WINDOW
    template = with_ctes(COHORT_FINAL, ctes)
    retention_parts: dict[str, Any] = {}
    for n in RETENTION_DAYS:
        retention_parts[f"d{n}_lo"] = n * DAY_US
        retention_parts[f"d{n}_hi"] = (n + 1) * DAY_US
    tree = s.fill(
        template,
        signup=s.signup(signup_event),
        lo=lo,
        hi=hi,
        grp=group,
        seg=s.segment_of(exp.column("unit_id", "pop"), segment_property),
        start_day=start_day.copy(),
        is_aha=s.is_event(aha_event),
        is_paid=s.is_event(paid_event),
        active=s.active(activity),
        ws=workspace_id,
        span_us=span_days * DAY_US,
        cutoff=cutoff_us,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
        **windows,
        **retention_parts,
    )
    return s.render(tree, COHORT_COLUMNS)


def cohort_of(
    s: KpiStatement, period: Period, first_day: date, last_day: date
) -> tuple[int, int, exp.Expression, exp.Expression]:
    """Return the span of the signups, the local start day of unit ``pop`` and its cohort
    number (the day, or the ISO week as (day + 3) / 7)."""
    lo, hi = span(s.zone, first_day, last_day)
    start_day = s.local_day(exp.column("start_us", "pop"), lo, hi)
    group = (
        start_day
        if period == "day"
        else exp.Div(
            this=exp.paren(exp.Add(this=start_day, expression=_lit(3))),
            expression=_lit(7),
            typed=True,
        )
    )
    return lo, hi, start_day, group


def _lit(value: int) -> exp.Literal:
    return exp.Literal.number(value)


# --- 4. the weekly cohort retention table --------------------------------------------------
COHORT_TABLE_COLUMNS = ("grp", "seg", "k", "units", "retained")


def cohort_table_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_week: date,
    last_week: date,
    weeks: int,
    cutoff_us: int,
    signup_event: str,
    activity: Activity,
    segment_property: str = "",
) -> RenderedQuery:
    """Per weekly signup cohort (local ISO weeks from the Monday ``first_week`` to the week of
    ``last_week``), segment and k = 0..weeks: the users whose week k after their own start
    ([start + 7k days, start + 7(k + 1) days)) has passed by the cut-off, and how many of them
    were active in it."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    first_day, last_day = monday_of(first_week), monday_of(last_week) + timedelta(days=6)
    lo, hi = span(zone, first_day, last_day)
    start_day = s.local_day(exp.column("start_us", "pop"), lo, hi)
    template = with_ctes(
        """
        SELECT cells.grp AS grp, cells.seg AS seg, cells.k AS k, COUNT(*) AS units,
          SUM(CASE WHEN act.unit_id IS NULL THEN 0 ELSE 1 END) AS retained
        FROM cells LEFT JOIN act ON act.unit_id = cells.unit_id AND act.k = cells.k
        GROUP BY cells.grp, cells.seg, cells.k
        ORDER BY cells.grp, cells.seg, cells.k
        """,
        {
            "ks(k)": "SELECT 0 UNION ALL SELECT k + 1 FROM ks WHERE k < :weeks",
            "pop": FIRST_SEEN,
            "c": """
                SELECT pop.unit_id AS unit_id, pop.start_us AS start_us,
                  (:start_day + 3) / 7 AS grp, :seg AS seg
                FROM pop
                WHERE :start_day >= :first_day AND :start_day <= :last_day
            """,
            "cells": """
                SELECT c.unit_id AS unit_id, c.grp AS grp, c.seg AS seg, ks.k AS k
                FROM c JOIN ks ON c.start_us + (ks.k + 1) * :week_us <= :cutoff
            """,
            "act": """
                SELECT DISTINCT c.unit_id AS unit_id, (e.timestamp_us - c.start_us) / :week_us AS k
                FROM c JOIN EVENTS AS e
                  ON e.workspace_id = :ws AND e.distinct_id = c.unit_id
                  AND e.timestamp_us >= c.start_us AND e.timestamp_us < c.start_us + :span_us
                  AND e.timestamp_us < :cutoff
                WHERE :active
            """,
        },
        recursive=True,
    )
    tree = s.fill(
        template,
        weeks=weeks,
        signup=s.signup(signup_event),
        lo=lo,
        hi=hi,
        start_day=start_day,
        seg=s.segment_of(exp.column("unit_id", "pop"), segment_property),
        first_day=day_number(first_day),
        last_day=day_number(last_day),
        week_us=WEEK_US,
        cutoff=cutoff_us,
        ws=workspace_id,
        span_us=(weeks + 1) * WEEK_US,
        active=s.active(activity),
    )
    return s.render(tree, COHORT_TABLE_COLUMNS)
