"""The engine's own time constants agree with the platform clock's (it may not import it)."""

from datetime import UTC, datetime, timedelta

from metrics.engine import time_units
from plg_platform import clock


def test_engine_time_units_equal_the_clock():
    assert (time_units.HOUR_US, time_units.DAY_US) == (clock.HOUR_US, clock.DAY_US)
    assert time_units.DAY_US == timedelta(days=1) // timedelta(microseconds=1)


def test_epoch_us_round_trips_exactly():
    moment = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC)
    assert clock.epoch_us(moment) == 1_774_749_599_999_999
    assert clock.datetime_from_us(clock.epoch_us(moment)) == moment
