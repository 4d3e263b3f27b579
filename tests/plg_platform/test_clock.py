"""Time as the platform counts it: exact epoch microseconds, local days, a zone's offsets."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from plg_platform import clock


@dataclass
class _Owner:
    timezone: str


def test_epoch_us_round_trips_exactly():
    moment = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC)
    assert clock.epoch_us(moment) == 1_774_749_599_999_999
    assert clock.datetime_from_us(clock.epoch_us(moment)) == moment


def test_today_is_the_owners_local_day():
    late_evening_utc = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert clock.local_today(_Owner("Europe/Berlin"), late_evening_utc) == date(2026, 7, 1)
    assert clock.local_today(_Owner("America/New_York"), late_evening_utc) == date(2026, 6, 30)


def test_berlins_spring_change_is_found_to_the_microsecond():
    change = clock.epoch_us(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    pieces = clock.zone_offsets("Europe/Berlin", change - clock.DAY_US, change + clock.DAY_US)
    assert pieces == [(None, clock.HOUR_US), (change, 2 * clock.HOUR_US)]


def test_days_and_weeks_as_numbers():
    assert clock.day_number(date(1970, 1, 2)) == 1
    assert clock.day_from_number(clock.day_number(date(2026, 3, 29))) == date(2026, 3, 29)
    monday = date(2026, 3, 23)
    assert clock.monday_of(date(2026, 3, 29)) == monday
    assert clock.week_monday((clock.day_number(monday) + 3) // 7) == monday
