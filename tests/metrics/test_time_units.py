"""The engine's own time constants agree with the platform clock's (it may not import it)."""

from datetime import timedelta

from metrics.engine import time_units
from plg_platform import clock


def test_engine_time_units_equal_the_clock():
    assert (time_units.HOUR_US, time_units.DAY_US) == (clock.HOUR_US, clock.DAY_US)
    assert time_units.DAY_US == timedelta(days=1) // timedelta(microseconds=1)
