"""The activity KPIs' statements: DAU, WAU, MAU, new, resurrected and churned users, and
feature adoption (users of each core and feature event in the 30 days ending each day, and the
features there are).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlglot import exp

from metrics.public import CompilerError, RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import (
    DAYS,
    MONTH_DAYS,
    WEEK_DAYS,
    Activity,
    KpiStatement,
    history_lo_us,
    span,
)
from plg_platform.clock import day_number, local_day_start_us

# --- 1. activity: DAU, WAU, MAU, new, resurrected and churned users --------------------------
ACTIVITY_COLUMNS = (
    "day",
    "seg",
    "dau",
    "wau",
    "mau",
    "previous_mau",
    "churned",
    "new_users",
    "resurrected",
)


def activity_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    activity: Activity,
    segment_property: str = "",
) -> RenderedQuery:
    """Per local day d in [first_day, last_day] and segment: users active on d (DAU), in the 7
    days ending d (WAU), in the 30 days ending d (MAU), in the 30 days before those
    (``previous_mau``); churned (active then, not now), new (first activity ever in the last
    30 days), resurrected (active now, not in the previous 30 days, but before them)."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = span(zone, first_day, last_day, lookback_days=2 * MONTH_DAYS)
    event_day = s.local_day(exp.column("timestamp_us", "e"), lo, hi)
    first_day_of_unit = s.local_day(exp.column("first_us", "fs"), history_lo_us(), hi)
    template = with_ctes(
        """
        SELECT per.day AS day, u.seg AS seg,
          SUM(per.in_day) AS dau, SUM(per.in_week) AS wau, SUM(per.in_month) AS mau,
          SUM(per.in_previous) AS previous_mau,
          SUM(CASE WHEN per.in_previous = 1 AND per.in_month = 0 THEN 1 ELSE 0 END) AS churned,
          SUM(CASE WHEN per.in_month = 1 AND per.in_previous = 0
                   AND u.first_day > per.day - :month THEN 1 ELSE 0 END) AS new_users,
          SUM(CASE WHEN per.in_month = 1 AND per.in_previous = 0
                   AND u.first_day <= per.day - 2 * :month THEN 1 ELSE 0 END) AS resurrected
        FROM per JOIN units AS u ON u.unit_id = per.unit_id
        GROUP BY per.day, u.seg
        ORDER BY per.day, u.seg
        """,
        {
            "days(day)": DAYS,
            "ud": """
                SELECT DISTINCT e.distinct_id AS unit_id, :event_day AS day
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
                  AND :active
            """,
            "fs": """
                SELECT e.distinct_id AS unit_id, MIN(e.timestamp_us) AS first_us
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us < :hi AND :active
                  AND e.distinct_id IN (SELECT ud.unit_id FROM ud)
                GROUP BY e.distinct_id
            """,
            "units": """
                SELECT fs.unit_id AS unit_id, :first_day_of_unit AS first_day, :seg AS seg FROM fs
            """,
            "per": """
                SELECT d.day AS day, ud.unit_id AS unit_id,
                  MAX(CASE WHEN ud.day = d.day THEN 1 ELSE 0 END) AS in_day,
                  MAX(CASE WHEN ud.day > d.day - :week THEN 1 ELSE 0 END) AS in_week,
                  MAX(CASE WHEN ud.day > d.day - :month THEN 1 ELSE 0 END) AS in_month,
                  MAX(CASE WHEN ud.day <= d.day - :month THEN 1 ELSE 0 END) AS in_previous
                FROM days AS d JOIN ud ON ud.day > d.day - 2 * :month AND ud.day <= d.day
                GROUP BY d.day, ud.unit_id
            """,
        },
        recursive=True,
    )
    tree = s.fill(
        template,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
        ws=workspace_id,
        lo=lo,
        hi=hi,
        event_day=event_day,
        active=s.active(activity),
        first_day_of_unit=first_day_of_unit,
        seg=s.segment_of(exp.column("unit_id", "fs"), segment_property),
        week=WEEK_DAYS,
        month=MONTH_DAYS,
    )
    return s.render(tree, ACTIVITY_COLUMNS)


# --- 2. adoption: users of each core and feature event in the 30 days ending d ---------------
ADOPTION_COLUMNS = ("day", "seg", "kind", "feature", "adopters")


def adoption_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    core_events: Sequence[str],
    feature_events: Sequence[str],
    feature_property: str = "",
    segment_property: str = "",
) -> RenderedQuery:
    """Per local day d, segment and core event (kind 'core') or feature (kind 'feature'): the
    users who did it in the 30 local days ending d. A feature is an event, or with
    ``feature_property`` an event and that property's value (``feature_used:comments``)."""
    if not core_events and not feature_events:
        raise CompilerError("Give core events or feature events.")
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = span(zone, first_day, last_day, lookback_days=MONTH_DAYS)
    branches = []
    parts: dict[str, Any] = {"ws": workspace_id, "lo": lo, "hi": hi}
    event = exp.column("event", "e")
    if core_events:
        branches.append(
            """
            SELECT DISTINCT e.distinct_id AS unit_id, 'core' AS kind, e.event AS feature,
              :core_day AS day
            FROM EVENTS AS e
            WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
              AND :is_core
            """
        )
        parts["core_day"] = s.local_day(exp.column("timestamp_us", "e"), lo, hi)
        parts["is_core"] = s.event_in(event, core_events)
    if feature_events:
        branches.append(
            """
            SELECT DISTINCT e.distinct_id AS unit_id, 'feature' AS kind, :feature_key AS feature,
              :feature_day AS day
            FROM EVENTS AS e
            WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
              AND :is_feature
            """
        )
        parts["feature_key"] = _feature_key(s, feature_property)
        parts["feature_day"] = s.local_day(exp.column("timestamp_us", "e"), lo, hi)
        parts["is_feature"] = s.event_in(event.copy(), feature_events)
    template = with_ctes(
        """
        SELECT d.day AS day, fu.seg AS seg, fu.kind AS kind, fu.feature AS feature,
          COUNT(DISTINCT fu.unit_id) AS adopters
        FROM days AS d JOIN fu ON fu.day > d.day - :month AND fu.day <= d.day
        GROUP BY d.day, fu.seg, fu.kind, fu.feature
        ORDER BY d.day, fu.seg, fu.kind, fu.feature
        """,
        {
            "days(day)": DAYS,
            "used": " UNION ALL ".join(branches),
            "fu": """
                SELECT used.unit_id AS unit_id, used.kind AS kind, used.feature AS feature,
                  used.day AS day, :seg AS seg
                FROM used
            """,
        },
        recursive=True,
    )
    tree = s.fill(
        template,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
        month=MONTH_DAYS,
        seg=s.segment_of(exp.column("unit_id", "used"), segment_property),
        **parts,
    )
    return s.render(tree, ADOPTION_COLUMNS)


def _feature_key(s: KpiStatement, feature_property: str) -> exp.Expression:
    """Return the feature of event ``e``: its name, or ``name:value`` of ``feature_property``."""
    event = exp.column("event", "e")
    if not feature_property:
        return event
    value = exp.cast(s.json.text(exp.column("properties", "e"), feature_property), "TEXT")
    return exp.Coalesce(
        this=exp.DPipe(
            this=exp.DPipe(this=event.copy(), expression=exp.Literal.string(":")),
            expression=value,
        ),
        expressions=[event.copy()],
    )


# --- 2b. the features: every feature used before the range's end -----------------------------
FEATURE_COLUMNS = ("feature",)


def features_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    last_day: date,
    feature_events: Sequence[str],
    feature_property: str = "",
) -> RenderedQuery:
    """The distinct features used up to the end of local day ``last_day``: feature adoption has
    a value for each of them on every day, 0 when no monthly active user used it."""
    if not feature_events:
        raise CompilerError("Give feature events.")
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    hi = local_day_start_us(zone, last_day + timedelta(days=1))
    template = """
        SELECT DISTINCT :feature_key AS feature
        FROM EVENTS AS e
        WHERE e.workspace_id = :ws AND e.timestamp_us < :hi AND :is_feature
        ORDER BY feature
    """
    tree = s.fill(
        template,
        ws=workspace_id,
        hi=hi,
        feature_key=_feature_key(s, feature_property),
        is_feature=s.event_in(exp.column("event", "e"), feature_events),
    )
    return s.render(tree, FEATURE_COLUMNS)


# --- 2c. the first event: where a refresh's history starts -----------------------------------
FIRST_EVENT_COLUMNS = ("first_us",)


def first_event_query(*, dialect: str, workspace_id: int) -> RenderedQuery:
    """The instant of the workspace's first event (NULL without events)."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone="UTC")
    template = "SELECT MIN(e.timestamp_us) AS first_us FROM EVENTS AS e WHERE e.workspace_id = :ws"
    return s.render(s.fill(template, ws=workspace_id), FIRST_EVENT_COLUMNS)
