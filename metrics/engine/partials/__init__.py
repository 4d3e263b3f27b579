"""Incremental refresh of metric statistics: the statements that keep per-unit partial
aggregates between refreshes, and the one that turns them into sufficient statistics.

A scope (one experiment phase, say) keeps, in the engine that holds the events:

- **Day rows** (``metrics_partial_day``): per metric part × unit × ``rel_day`` × ``slice_day``,
  the matching events' count, the sum of the part's property (JSON numbers only; missing or
  non-numeric as 0, as the compiler sums), how many events had a number, and the earliest
  ``t - start``. ``rel_day`` = floor((t - start) / day), negative before the start (CUPED's
  pre-period); ``slice_day`` = floor(t / day), the UTC day of the event. Metric windows are
  whole days from the start, so day rows with ``rel_day`` in [lo, hi) give exactly a unit's
  value of every metric type.
- **Units** (``metrics_partial_unit``): each unit's start as built, and its *components*
  (``layout``) over the day rows of settled slices, before ``frozen_day``: no refresh re-reads
  those slices, so their sums never change again.

A refresh (``metrics.incremental``) re-reads the events of the last slices (the lookback) into
day rows, builds units that are new or whose start moved (a late, earlier exposure) from all
their events, and folds the slices that have just settled into the units' components. The
statistics statement (``reader``) reads one row per unit and the recent day rows: its cost
follows the units and the last days, not the history.
"""

from metrics.engine.partials.layout import (
    DAY_TABLE,
    DIRTY_TABLE,
    UNIT_TABLE,
    PartialLayout,
    base_population,
    day_fingerprint,
    partial_layout,
    value_fingerprint,
)
from metrics.engine.partials.reader import POPULATION_MISMATCH, statistics_query
from metrics.engine.partials.statements import PartialStatements, Statement, UnitSet

__all__ = [
    "DAY_TABLE",
    "DIRTY_TABLE",
    "POPULATION_MISMATCH",
    "UNIT_TABLE",
    "PartialLayout",
    "PartialStatements",
    "Statement",
    "UnitSet",
    "base_population",
    "day_fingerprint",
    "partial_layout",
    "statistics_query",
    "value_fingerprint",
]
