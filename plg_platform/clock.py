"""Time as the platform counts it: integer microseconds since the Unix epoch, and local days.

Every timestamp in the event store is epoch microseconds, so windows are exact integer
arithmetic on every engine. Calendar days are local days in a workspace's time zone, numbered
from 1970-01-01 (a Thursday); ``zone_offsets`` lists a zone's UTC offsets over a span so that
SQL can compute local days inside the database, exactly across daylight-saving changes.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
WEEK_US = 7 * DAY_US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)


# --- instants -------------------------------------------------------------------------------
def epoch_us(moment: datetime) -> int:
    """Return microseconds since the Unix epoch of an aware datetime, exactly (no float)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def datetime_from_us(value: int) -> datetime:
    """Return the aware UTC datetime of ``value`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)


def local_date(zone_name: str, moment: datetime) -> date:
    """Return the calendar day of ``moment`` in the time zone ``zone_name``."""
    return moment.astimezone(ZoneInfo(zone_name)).date()


class HasTimezone(Protocol):
    timezone: str  # an IANA zone name, e.g. a workspace's


def local_today(owner: HasTimezone, now: datetime | None = None) -> date:
    """Return today's date (the day of ``now``, default the current instant) in the owner's
    time zone."""
    return local_date(owner.timezone, now or datetime.now(tz=UTC))


# --- calendar: local days and weeks as integers ---------------------------------------------
def day_number(day: date) -> int:
    """Return the day's number since 1970-01-01 (a Thursday)."""
    return (day - EPOCH_DATE).days


def day_from_number(number: int) -> date:
    return EPOCH_DATE + timedelta(days=number)


def week_monday(number: int) -> date:
    """Return the Monday of week ``number`` (weeks are ``(day_number + 3) // 7``, Monday first)."""
    return day_from_number(number * 7 - 3)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- a zone's UTC offsets ---------------------------------------------------------------------
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
    start = epoch_us(datetime(year, 1, 1, tzinfo=UTC))
    end = epoch_us(datetime(year + 1, 1, 1, tzinfo=UTC))
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
