"""Lengths of time in integer microseconds, the unit of every timestamp in the event store.

The same constants as ``plg_platform.clock``, kept here because the engine imports nothing of
our Django apps (a test checks that the two agree).
"""

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
