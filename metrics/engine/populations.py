"""Who a metric is computed over: the populations the compiler can start from.

A population gives every unit its start time (windows count from it), its group (variant, or a
cohort bucket) and, optionally, its segment. Pure values: the compiler turns them into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metrics.engine.event_tables import ExposureTable


@dataclass(frozen=True)
class TablePopulation:
    """Units listed in a table of ours: one row per unit with its start time and group.

    Used for experiments (the exposures table: unit, first exposure, variant). ``filters`` are
    ``column = value`` conditions; ``exclude_column`` names a boolean column whose true rows are
    left out (units exposed to two variants). ``bucket_us`` > 0 also groups by the start's
    bucket (the day of first exposure, for cumulative lift over time), returned as ``bucket``.
    """

    table: str
    unit_column: str
    start_column: str
    group_column: str
    filters: tuple[tuple[str, Any], ...] = ()
    exclude_column: str = ""
    segment_property: str = ""
    bucket_us: int = 0


@dataclass(frozen=True)
class FirstSeenPopulation:
    """Units that first did ``event`` (any event if empty) in [starts_from_us, starts_before_us).

    The group is the start's bucket of ``bucket_us`` microseconds (for cohort series; the caller
    maps buckets to local calendar days) or one group ``"all"`` when ``bucket_us`` is 0.
    """

    event: str = ""
    starts_from_us: int | None = None
    starts_before_us: int | None = None
    bucket_us: int = 0
    segment_property: str = ""


@dataclass(frozen=True)
class ExposurePopulation:
    """Units exposed to an experiment, read from a warehouse source's exposure table.

    The start is the unit's first exposure in [starts_from_us, starts_before_us) (an
    experiment phase; unbounded where None), the group its variation; ``bucket_us`` > 0 also
    groups by the start's bucket, as for ``TablePopulation``. ``segment_property`` is read
    from the event table's persons table.
    """

    exposures: ExposureTable
    bucket_us: int = 0
    segment_property: str = ""
    starts_from_us: int | None = None
    starts_before_us: int | None = None


Population = TablePopulation | FirstSeenPopulation | ExposurePopulation
