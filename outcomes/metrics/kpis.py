"""SQL of the KPI library: activity, signup cohorts, retention table, surveys, revenue, PQLs and
feature requests, each one statement that runs inside the database and returns aggregates only.

Statements are written as fixed templates in our code, parsed once by sqlglot (SQLite dialect:
integer division stays integer on every engine) and rendered per dialect; every value that
comes from a workspace (event and property names, windows, thresholds, ids) is a bound
parameter, reusing the metric compiler's ``_Params`` and its per-dialect JSON access ``_Json``.
Nothing here touches Django: ``outcomes.services.kpis`` executes the statements.

Calendar days are local days in the workspace's time zone, computed inside the database as
``(t + offset(t)) / day`` where ``offset(t)`` is a ``CASE`` over the zone's UTC-offset changes
in the range, so a day is 23 or 25 hours long across daylight-saving changes, exactly.
Windows relative to a user's start (activation, retention) are exact 24-hour multiples of
microseconds, as in the metric layer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlglot
from sqlglot import exp

from outcomes.metrics.compiler import (
    DAY_US,
    EVENTS_TABLE,
    PERSONS_TABLE,
    SUPPORTED_DIALECTS,
    CompilerError,
    _Json,
    _Params,
)

WEEK_US = 7 * DAY_US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
# Days before this are never asked for; offsets of older instants use its offset.
OFFSETS_FROM = date(2000, 1, 1)
# Rolling windows of the activity KPIs, in local days (the window ends on, and includes, d).
WEEK_DAYS = 7
MONTH_DAYS = 30
RETENTION_DAYS = (1, 7, 30)
NONE_SEGMENT = "(none)"
PLACEHOLDER_RESERVED = "Template placeholders may not be named like bound parameters: {name}."

Period = Literal["day", "week"]


# --- calendar: local days and weeks as integers ---------------------------------------------
def day_number(day: date) -> int:
    """Return the day's number since 1970-01-01 (a Thursday)."""
    return (day - EPOCH_DATE).days


def day_from_number(number: int) -> date:
    return EPOCH_DATE + timedelta(days=number)


def week_number(day: date) -> int:
    """Return the number of the ISO week (Monday first) holding ``day``."""
    return (day_number(day) + 3) // 7


def week_monday(number: int) -> date:
    """Return the Monday of week ``number`` (see ``week_number``)."""
    return day_from_number(number * 7 - 3)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def instant_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _offset_at(zone: ZoneInfo, at_us: int) -> int:
    offset = (EPOCH + timedelta(microseconds=at_us)).astimezone(zone).utcoffset()
    return (offset or timedelta(0)) // timedelta(microseconds=1)


@functools.lru_cache(maxsize=512)
def _transitions_in_year(zone_name: str, year: int) -> tuple[tuple[int, int], ...]:
    """Return (first instant with the new offset, new offset) of each change in (year, year+1].

    The zone is sampled daily and each change located to the microsecond by bisection; zones
    never change their offset twice within a day.
    """
    zone = ZoneInfo(zone_name)
    start = instant_us(datetime(year, 1, 1, tzinfo=UTC))
    end = instant_us(datetime(year + 1, 1, 1, tzinfo=UTC))
    changes: list[tuple[int, int]] = []
    t, offset = start, _offset_at(zone, start)
    while t < end:
        following = min(t + DAY_US, end)
        new_offset = _offset_at(zone, following)
        if new_offset != offset:
            lo, hi = t, following
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(zone, mid) == offset:
                    lo = mid
                else:
                    hi = mid
            changes.append((hi, _offset_at(zone, hi)))
        t, offset = following, new_offset
    return tuple(changes)


def zone_offsets(zone_name: str, lo_us: int, hi_us: int) -> list[tuple[int | None, int]]:
    """Return the zone's UTC offsets over [lo_us, hi_us] as (from instant, offset) pieces.

    The first piece starts at ``None`` (it also covers everything before ``lo_us``).
    """
    zone = ZoneInfo(zone_name)
    pieces: list[tuple[int | None, int]] = [(None, _offset_at(zone, lo_us))]
    first_year = (EPOCH + timedelta(microseconds=lo_us)).year
    last_year = (EPOCH + timedelta(microseconds=hi_us)).year
    for year in range(first_year - 1, last_year + 1):
        for at, offset in _transitions_in_year(zone_name, year):
            if lo_us < at <= hi_us:
                pieces.append((at, offset))
    return pieces


def local_day_start_us(zone_name: str, day: date) -> int:
    """Return an instant at or before the first instant of ``day`` in the zone (± its offset).

    Statements filter exactly by local day number; these instants only bound index scans, so
    they are widened by a day on each side where used.
    """
    offset = _offset_at(ZoneInfo(zone_name), day_number(day) * DAY_US)
    return day_number(day) * DAY_US - offset


# --- what a statement is asked --------------------------------------------------------------
@dataclass(frozen=True)
class Activity:
    """Which events count as activity: ``events`` (any if empty) minus ``excluded``."""

    events: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class KpiQuery:
    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]


_TABLES = {"EVENTS": EVENTS_TABLE, "PERSONS": PERSONS_TABLE}


@functools.lru_cache(maxsize=64)
def _parse(template: str) -> exp.Expression:
    """Parse a template (SQLite dialect); the words EVENTS and PERSONS name the event store."""
    named = re.sub(r"\b(EVENTS|PERSONS)\b", lambda m: _TABLES[m.group(1)], template)
    return sqlglot.parse_one(named, read="sqlite")


_LEAVES = (exp.Placeholder, exp.Literal, exp.Column, exp.Null, exp.Boolean)


class _Statement:
    """One statement under construction: bound parameters, JSON access, templates, local days."""

    def __init__(self, *, dialect: str, workspace_id: int, zone: str) -> None:
        if dialect not in SUPPORTED_DIALECTS:
            raise CompilerError(f"Unsupported dialect {dialect!r}.")
        self.dialect = dialect
        self.workspace_id = workspace_id
        self.zone = zone
        self.params = _Params()
        self.json = _Json(dialect, self.params)

    def bind(self, value: Any) -> exp.Placeholder:
        return self.params.bind(value)

    def fill(self, template: str, **parts: Any) -> exp.Expression:
        """Parse ``template`` and put each part in its ``:name``: expressions as they are
        (parenthesised), anything else as a bound parameter."""
        bound: dict[str, exp.Expression] = {}
        for name, part in parts.items():
            if name[:1] == "p" and name[1:].isdigit():
                raise CompilerError(PLACEHOLDER_RESERVED.format(name=name))
            if isinstance(part, exp.Expression):
                bound[name] = part if isinstance(part, _LEAVES) else exp.paren(part, copy=False)
            else:
                bound[name] = self.bind(part)
        tree = _parse(template)
        missing = {p.name for p in tree.find_all(exp.Placeholder)} - set(bound)
        if missing:
            raise CompilerError(f"Template parts missing: {sorted(missing)}.")

        def substitute(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.name in bound:
                return bound[node.name].copy()
            return node

        return tree.transform(substitute)

    def render(self, tree: exp.Expression, columns: Sequence[str]) -> KpiQuery:
        return KpiQuery(
            sql=tree.sql(dialect=self.dialect),
            params=dict(self.params.values),
            columns=tuple(columns),
        )

    # --- pieces ---------------------------------------------------------------------------
    def local_day(self, t: exp.Expression, lo_us: int, hi_us: int) -> exp.Expression:
        """Return the local day number of instant ``t``, exact for instants in [lo_us, hi_us]."""
        pieces = zone_offsets(self.zone, lo_us, hi_us)
        if len(pieces) == 1:
            offset: exp.Expression = self.bind(pieces[0][1])
        else:
            case = exp.Case()
            for at, value in reversed(pieces[1:]):  # the most recent first: most events match
                case = case.when(exp.GTE(this=t.copy(), expression=self.bind(at)), self.bind(value))
            offset = case.else_(self.bind(pieces[0][1]))
        return exp.Div(
            this=exp.paren(exp.Add(this=t, expression=offset)),
            expression=self.bind(DAY_US),
            typed=True,
        )

    def event_in(self, column: exp.Expression, names: Sequence[str]) -> exp.Expression:
        return exp.In(this=column, expressions=[self.bind(name) for name in names])

    def active(self, activity: Activity, alias: str = "e") -> exp.Expression:
        """Return the condition that event ``alias`` counts as activity."""
        event = exp.column("event", table=alias)
        conditions: list[exp.Expression] = []
        if activity.events:
            conditions.append(self.event_in(event, activity.events))
        if activity.excluded:
            conditions.append(exp.Not(this=self.event_in(event.copy(), activity.excluded)))
        return exp.and_(*conditions) if conditions else exp.true()

    def segment_of(self, unit: exp.Expression, segment_property: str) -> exp.Expression:
        """Return the unit's person property as text ('(none)' if unset), or '' for everyone."""
        if not segment_property:
            return exp.Literal.string("")
        value = exp.cast(self.json.text(exp.column("properties", "sp"), segment_property), "TEXT")
        person = (
            exp.select(value)
            .from_(exp.to_table(PERSONS_TABLE).as_("sp"))
            .where(
                exp.and_(
                    exp.EQ(
                        this=exp.column("workspace_id", "sp"),
                        expression=self.bind(self.workspace_id),
                    ),
                    exp.EQ(this=exp.column("distinct_id", "sp"), expression=unit),
                )
            )
        )
        return exp.Coalesce(
            this=exp.Subquery(this=person), expressions=[exp.Literal.string(NONE_SEGMENT)]
        )

    def account_of(self, account_property: str, person: str = "p", fallback: str = "e"):
        """Return the account id (person property) or, without one, the distinct id."""
        distinct_id = exp.column("distinct_id", fallback)
        if not account_property:
            return distinct_id
        account = exp.cast(
            self.json.text(exp.column("properties", person), account_property), "TEXT"
        )
        return exp.Coalesce(this=account, expressions=[distinct_id])

    def signup(self, signup_event: str) -> exp.Expression:
        """Return the condition that event ``e`` starts a user (any event if no signup event)."""
        if not signup_event:
            return exp.true()
        return exp.EQ(this=exp.column("event", "e"), expression=self.bind(signup_event))

    def is_event(self, name: str, alias: str = "e") -> exp.Expression:
        """Return ``alias.event = name``, or FALSE when the event is not configured."""
        if not name:
            return exp.false()
        return exp.EQ(this=exp.column("event", alias), expression=self.bind(name))


# Users whose first signup event (any event without one) is in [:lo, :hi), before the cut-off.
# In templates, EVENTS and PERSONS are the event store's tables (see ``_parse``).
FIRST_SEEN = """
    SELECT e.distinct_id AS unit_id, MIN(e.timestamp_us) AS start_us
    FROM EVENTS AS e
    WHERE e.workspace_id = :ws AND e.timestamp_us < :cutoff AND :signup
    GROUP BY e.distinct_id
    HAVING MIN(e.timestamp_us) >= :lo AND MIN(e.timestamp_us) < :hi
"""


def _span(zone: str, first_day: date, last_day: date, lookback_days: int = 0) -> tuple[int, int]:
    """Return instants bounding local days [first_day − lookback, last_day], a day wider."""
    lo = local_day_start_us(zone, first_day - timedelta(days=lookback_days + 1))
    hi = local_day_start_us(zone, last_day + timedelta(days=2))
    return lo, hi


def _history_lo_us() -> int:
    return instant_us(datetime.combine(OFFSETS_FROM, datetime.min.time(), tzinfo=UTC))


def _with_ctes(final: str, ctes: Mapping[str, str], recursive: bool = False) -> str:
    head = "WITH RECURSIVE " if recursive else "WITH "
    return head + ",\n".join(f"{name} AS ({body})" for name, body in ctes.items()) + "\n" + final


# The local days [:first_day, :last_day] as numbers (a recursive CTE named days(day)).
DAYS = "SELECT :first_day UNION ALL SELECT day + 1 FROM days WHERE day < :last_day"


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
) -> KpiQuery:
    """Per local day d in [first_day, last_day] and segment: users active on d (DAU), in the 7
    days ending d (WAU), in the 30 days ending d (MAU), in the 30 days before those
    (``previous_mau``); churned (active then, not now), new (first activity ever in the last
    30 days), resurrected (active now, not in the previous 30 days, but before them)."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = _span(zone, first_day, last_day, lookback_days=2 * MONTH_DAYS)
    event_day = s.local_day(exp.column("timestamp_us", "e"), lo, hi)
    first_day_of_unit = s.local_day(exp.column("first_us", "fs"), _history_lo_us(), hi)
    template = _with_ctes(
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
) -> KpiQuery:
    """Per local day d, segment and core event (kind 'core') or feature (kind 'feature'): the
    users who did it in the 30 local days ending d. A feature is an event, or with
    ``feature_property`` an event and that property's value (``feature_used:comments``)."""
    if not core_events and not feature_events:
        raise CompilerError("Give core events or feature events.")
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = _span(zone, first_day, last_day, lookback_days=MONTH_DAYS)
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
        key: exp.Expression = event.copy()
        if feature_property:
            value = exp.cast(s.json.text(exp.column("properties", "e"), feature_property), "TEXT")
            key = exp.Coalesce(
                this=exp.DPipe(
                    this=exp.DPipe(this=event.copy(), expression=exp.Literal.string(":")),
                    expression=value,
                ),
                expressions=[event.copy()],
            )
        parts["feature_key"] = key
        parts["feature_day"] = s.local_day(exp.column("timestamp_us", "e"), lo, hi)
        parts["is_feature"] = s.event_in(event.copy(), feature_events)
    template = _with_ctes(
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
COHORT_PER_UNIT = """
    SELECT c.unit_id AS unit_id, c.start_us AS start_us, c.grp AS grp, c.seg AS seg,
      MIN(CASE WHEN :is_aha AND e.timestamp_us < c.start_us + :ttv_us
          THEN e.timestamp_us - c.start_us END) AS aha_us,
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
      SUM(CASE WHEN pu.start_us + :ttv_us <= :cutoff AND pu.aha_us IS NOT NULL
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
    WHERE pu.start_us + :ttv_us <= :cutoff AND pu.aha_us IS NOT NULL
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
    WHERE pu.start_us + :ttv_us <= :cutoff AND pu.aha_us IS NOT NULL
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
) -> KpiQuery:
    """Per signup cohort (local day, or ISO week) and segment, over users who started (first
    ``signup_event``) in [first_day, last_day]: how many matured for each measure and how many
    reached it; the median time to the first Aha among those who reached it (in the database:
    ``percentile_cont`` on PostgreSQL, the middle rows of a window on SQLite).

    A user matures for a measure of window W days once ``start + W days <= cutoff``.
    Retention day N: any activity in [start + N days, start + N + 1 days).
    """
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = _span(zone, first_day, last_day)
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
    template = _with_ctes(COHORT_FINAL, ctes)
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
) -> KpiQuery:
    """Per weekly signup cohort (local ISO weeks from the Monday ``first_week`` to the week of
    ``last_week``), segment and k = 0..weeks: the users whose week k after their own start
    ([start + 7k days, start + 7(k + 1) days)) has passed by the cut-off, and how many of them
    were active in it."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    first_day, last_day = monday_of(first_week), monday_of(last_week) + timedelta(days=6)
    lo, hi = _span(zone, first_day, last_day)
    start_day = s.local_day(exp.column("start_us", "pop"), lo, hi)
    template = _with_ctes(
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


# --- 5. voice of the customer: NPS and CES answers per local day ---------------------------
VOICE_COLUMNS = (
    "day",
    "seg",
    "nps_answers",
    "promoters",
    "detractors",
    "ces_answers",
    "ces_sum",
)


def voice_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    nps_event: str,
    nps_property: str,
    ces_event: str,
    ces_property: str,
    ces_max: int,
    segment_property: str = "",
) -> KpiQuery:
    """Per local day of the answer and segment: NPS answers (numbers in [0, 10]), promoters
    (9 to 10), detractors (below 7); CES answers (numbers in [1, ces_max]) and their sum.
    Answers whose score is missing, not a number, or out of range are left out."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = _span(zone, first_day, last_day)
    props = exp.column("properties", "e")
    score = (
        exp.Case()
        .when(s.is_event(nps_event), s.json.number(props, nps_property or "score"))
        .else_(s.json.number(props.copy(), ces_property or "score"))
    )
    template = _with_ctes(
        """
        SELECT ans.day AS day, ans.seg AS seg,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 0 AND ans.score <= 10
              THEN 1 ELSE 0 END) AS nps_answers,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 9 AND ans.score <= 10
              THEN 1 ELSE 0 END) AS promoters,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 0 AND ans.score < 7
              THEN 1 ELSE 0 END) AS detractors,
          SUM(CASE WHEN ans.is_ces = 1 AND ans.score >= 1 AND ans.score <= :ces_max
              THEN 1 ELSE 0 END) AS ces_answers,
          SUM(CASE WHEN ans.is_ces = 1 AND ans.score >= 1 AND ans.score <= :ces_max
              THEN ans.score ELSE 0 END) AS ces_sum
        FROM ans
        WHERE ans.day >= :first_day AND ans.day <= :last_day
        GROUP BY ans.day, ans.seg
        ORDER BY ans.day, ans.seg
        """,
        {
            "ans": """
                SELECT :event_day AS day, :score AS score, :seg AS seg,
                  CASE WHEN :is_nps THEN 1 ELSE 0 END AS is_nps,
                  CASE WHEN :is_ces THEN 1 ELSE 0 END AS is_ces
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
                  AND (:is_nps OR :is_ces)
            """
        },
    )
    tree = s.fill(
        template,
        event_day=s.local_day(exp.column("timestamp_us", "e"), lo, hi),
        score=score,
        seg=s.segment_of(exp.column("distinct_id", "e"), segment_property),
        ws=workspace_id,
        lo=lo,
        hi=hi,
        is_nps=s.is_event(nps_event),
        is_ces=s.is_event(ces_event),
        ces_max=ces_max,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, VOICE_COLUMNS)


# --- 6. value capture: recurring revenue moves per local day -------------------------------
REVENUE_COLUMNS = ("day", "net", "added", "lost")


def revenue_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    revenue_event: str,
    amount_property: str,
    monthly_factor: float,
    churn_event: str = "",
    account_property: str = "",
) -> KpiQuery:
    """Moves of monthly recurring revenue per local day: each ``revenue_event`` sets its
    account's MRR to ``amount × monthly_factor`` (0 if the amount is not a number), each
    ``churn_event`` sets it to 0; a move is the difference from the account's previous MRR.
    Day -1 holds the sum of all moves before ``first_day`` (the opening MRR)."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    _, hi = _span(zone, first_day, last_day)
    day = s.local_day(exp.column("timestamp_us", "deltas"), _history_lo_us(), hi)
    amount = exp.Coalesce(
        this=s.json.number(exp.column("properties", "e"), amount_property), expressions=[_lit(0)]
    )
    template = _with_ctes(
        """
        SELECT moves.day AS day, SUM(moves.delta) AS net,
          SUM(CASE WHEN moves.delta > 0 THEN moves.delta ELSE 0 END) AS added,
          SUM(CASE WHEN moves.delta < 0 THEN 0 - moves.delta ELSE 0 END) AS lost
        FROM moves
        WHERE moves.day <= :last_day
        GROUP BY moves.day
        ORDER BY moves.day
        """,
        {
            "rev": """
                SELECT :unit AS unit_id, e.timestamp_us AS timestamp_us, e.id AS id,
                  CASE WHEN :is_revenue THEN :amount * :factor ELSE 0 END AS mrr
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.timestamp_us < :hi AND (:is_revenue OR :is_churn)
            """,
            "deltas": """
                SELECT rev.timestamp_us AS timestamp_us,
                  rev.mrr - LAG(rev.mrr, 1, 0) OVER (
                    PARTITION BY rev.unit_id ORDER BY rev.timestamp_us, rev.id) AS delta
                FROM rev
            """,
            "moves": """
                SELECT CASE WHEN :day < :first_day THEN -1 ELSE :day END AS day,
                  deltas.delta AS delta
                FROM deltas
            """,
        },
    )
    tree = s.fill(
        template,
        unit=s.account_of(account_property),
        is_revenue=s.is_event(revenue_event),
        is_churn=s.is_event(churn_event),
        amount=exp.cast(amount, "DOUBLE"),
        factor=float(monthly_factor),
        ws=workspace_id,
        hi=hi,
        day=day,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, REVENUE_COLUMNS)


# --- 7. product-qualified leads ------------------------------------------------------------
PQL_COLUMNS = (
    "unit_id",
    "event_count",
    "users",
    "first_us",
    "last_us",
    "qualified_us",
    "plan",
    "arr",
)


def pql_query(
    *,
    dialect: str,
    workspace_id: int,
    event: str,
    min_count: int,
    since_us: int,
    cutoff_us: int,
    account_property: str = "",
    arr_property: str = "",
    plan_property: str = "",
) -> KpiQuery:
    """Units (users, or accounts through ``account_property``) with at least ``min_count``
    ``event``s in [since_us, cutoff_us): their count, distinct users, first and last event,
    the moment of the ``min_count``-th event (when they qualified), plan and ARR (the largest
    among the unit's persons)."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone="UTC")
    person_props = exp.column("properties", "pp")
    arr = s.json.number(person_props, arr_property) if arr_property else exp.null()
    plan = (
        exp.cast(s.json.text(person_props.copy(), plan_property), "TEXT")
        if plan_property
        else exp.null()
    )
    template = _with_ctes(
        """
        SELECT agg.unit_id AS unit_id, agg.event_count, agg.users, agg.first_us, agg.last_us,
          agg.qualified_us, acct.plan AS plan, acct.arr AS arr
        FROM agg LEFT JOIN acct ON acct.unit_id = agg.unit_id
        WHERE agg.event_count >= :min_count
        ORDER BY agg.event_count DESC, agg.unit_id
        """,
        {
            "w": """
                SELECT :unit AS unit_id, e.distinct_id AS distinct_id, e.timestamp_us AS t,
                  ROW_NUMBER() OVER (PARTITION BY :unit ORDER BY e.timestamp_us, e.id) AS rn
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.event = :event
                  AND e.timestamp_us >= :since AND e.timestamp_us < :cutoff
            """,
            "agg": """
                SELECT w.unit_id AS unit_id, COUNT(*) AS event_count,
                  COUNT(DISTINCT w.distinct_id) AS users, MIN(w.t) AS first_us,
                  MAX(w.t) AS last_us, MAX(CASE WHEN w.rn = :min_count THEN w.t END) AS qualified_us
                FROM w GROUP BY w.unit_id
            """,
            "acct": """
                SELECT :person_unit AS unit_id, MAX(:arr) AS arr, MAX(:plan) AS plan
                FROM PERSONS AS pp
                WHERE pp.workspace_id = :ws
                GROUP BY :person_unit
            """,
        },
    )
    unit = s.account_of(account_property)
    person_unit = s.account_of(account_property, person="pp", fallback="pp")
    tree = s.fill(
        template,
        unit=unit,
        person_unit=person_unit,
        arr=arr,
        plan=plan,
        ws=workspace_id,
        event=event,
        since=since_us,
        cutoff=cutoff_us,
        min_count=min_count,
    )
    return s.render(tree, PQL_COLUMNS)


# --- 8. feature requests -----------------------------------------------------------------
FEATURE_REQUEST_COLUMNS = (
    "request",
    "text",
    "requests",
    "accounts",
    "arr",
    "first_us",
    "last_us",
)


def feature_request_query(
    *,
    dialect: str,
    workspace_id: int,
    event: str,
    text_property: str,
    since_us: int,
    cutoff_us: int,
    account_property: str = "",
    arr_property: str = "",
    topics: Sequence[tuple[str, Sequence[str]]] = (),
) -> KpiQuery:
    """Feature requests in [since_us, cutoff_us): the text property of feedback events, grouped
    by topic (the first of ``topics`` with a keyword inside the lower-cased text) or else by
    the lower-cased, trimmed text; how many, from how many distinct accounts (users without one
    count as their own account), and the Σ of those accounts' ARR (each account once)."""
    s = _Statement(dialect=dialect, workspace_id=workspace_id, zone="UTC")
    text = exp.cast(s.json.text(exp.column("properties", "e"), text_property), "TEXT")
    request: exp.Expression = exp.Lower(this=exp.Trim(this=text.copy()))
    shown: exp.Expression = exp.Trim(this=text.copy())
    if topics:
        key_case, shown_case = exp.Case(), exp.Case()
        for topic, keywords in topics:
            found = exp.or_(
                *(
                    exp.GT(
                        this=exp.StrPosition(
                            this=exp.Lower(this=text.copy()), substr=s.bind(keyword.lower())
                        ),
                        expression=_lit(0),
                    )
                    for keyword in keywords
                )
            )
            key_case = key_case.when(found, s.bind(topic.strip().lower()))
            shown_case = shown_case.when(found.copy(), s.bind(topic.strip()))
        request, shown = key_case.else_(request), shown_case.else_(shown)
    arr = (
        s.json.number(exp.column("properties", "pp"), arr_property) if arr_property else exp.null()
    )
    template = _with_ctes(
        """
        SELECT per_account.request AS request, MIN(per_account.text) AS text,
          SUM(per_account.n) AS requests, COUNT(*) AS accounts,
          SUM(COALESCE(acct.arr, 0)) AS arr,
          MIN(per_account.first_us) AS first_us, MAX(per_account.last_us) AS last_us
        FROM per_account LEFT JOIN acct ON acct.unit_id = per_account.unit_id
        GROUP BY per_account.request
        ORDER BY arr DESC, requests DESC, request
        """,
        {
            "req": """
                SELECT :request AS request, :shown AS text, :unit AS unit_id,
                  e.timestamp_us AS t
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.event = :event
                  AND e.timestamp_us >= :since AND e.timestamp_us < :cutoff
                  AND :text IS NOT NULL AND TRIM(:text) <> ''
            """,
            "per_account": """
                SELECT req.request AS request, MIN(req.text) AS text, req.unit_id AS unit_id,
                  COUNT(*) AS n, MIN(req.t) AS first_us, MAX(req.t) AS last_us
                FROM req GROUP BY req.request, req.unit_id
            """,
            "acct": """
                SELECT :person_unit AS unit_id, MAX(:arr) AS arr
                FROM PERSONS AS pp
                WHERE pp.workspace_id = :ws
                GROUP BY :person_unit
            """,
        },
    )
    person_unit = s.account_of(account_property, person="pp", fallback="pp")
    tree = s.fill(
        template,
        text=text,
        request=request,
        shown=shown,
        unit=s.account_of(account_property),
        person_unit=person_unit,
        arr=arr,
        ws=workspace_id,
        event=event,
        since=since_us,
        cutoff=cutoff_us,
    )
    return s.render(tree, FEATURE_REQUEST_COLUMNS)
