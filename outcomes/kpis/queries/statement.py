"""What every KPI statement is built from: the KPI-specific pieces on top of the metric layer's
template statements (local days, activity, segments, accounts, signups), and shared templates.

Calendar days are local days in the workspace's time zone, computed inside the database as
``(t + offset(t)) / day`` where ``offset(t)`` is a ``CASE`` over the zone's UTC-offset changes
in the range, so a day is 23 or 25 hours long across daylight-saving changes, exactly.
Windows relative to a user's start (activation, retention) are exact 24-hour multiples of
microseconds, as in the metric layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlglot import exp

from metrics.public import PERSONS_TABLE, Statement
from plg_platform.clock import DAY_US, epoch_us, local_day_start_us, zone_offsets

# Days before this are never asked for; offsets of older instants use its offset.
OFFSETS_FROM = date(2000, 1, 1)
# Rolling windows of the activity KPIs, in local days (the window ends on, and includes, d).
WEEK_DAYS = 7
MONTH_DAYS = 30
RETENTION_DAYS = (1, 7, 30)
NONE_SEGMENT = "(none)"

Period = Literal["day", "week"]


@dataclass(frozen=True)
class Activity:
    """Which events count as activity: ``events`` (any if empty) minus ``excluded``."""

    events: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class KpiStatement(Statement):
    """One KPI statement under construction, in the workspace's time zone ``zone``."""

    def __init__(self, *, dialect: str, workspace_id: int, zone: str) -> None:
        super().__init__(dialect=dialect, workspace_id=workspace_id)
        self.zone = zone

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
# In templates, EVENTS and PERSONS are the event store's tables (see ``metrics.public.Statement``).
FIRST_SEEN = """
    SELECT e.distinct_id AS unit_id, MIN(e.timestamp_us) AS start_us
    FROM EVENTS AS e
    WHERE e.workspace_id = :ws AND e.timestamp_us < :cutoff AND :signup
    GROUP BY e.distinct_id
    HAVING MIN(e.timestamp_us) >= :lo AND MIN(e.timestamp_us) < :hi
"""


def span(zone: str, first_day: date, last_day: date, lookback_days: int = 0) -> tuple[int, int]:
    """Return instants bounding local days [first_day − lookback, last_day], a day wider."""
    lo = local_day_start_us(zone, first_day - timedelta(days=lookback_days + 1))
    hi = local_day_start_us(zone, last_day + timedelta(days=2))
    return lo, hi


def history_lo_us() -> int:
    return epoch_us(datetime.combine(OFFSETS_FROM, datetime.min.time(), tzinfo=UTC))


# The local days [:first_day, :last_day] as numbers (a recursive CTE named days(day)).
DAYS = "SELECT :first_day UNION ALL SELECT day + 1 FROM days WHERE day < :last_day"
