"""How much a meta-analysis of k experiments can say, for the page to state it plainly.

A win rate of k experiments is a proportion: its 95% Wilson interval (Wilson 1927) is wider
than 50 points until k reaches ``MIN_EXPERIMENTS_FOR_WIN_RATE`` (the smallest k for which no
count of wins gives a wider one), so below that a win rate, and any comparison of groups by
it, says little. Shrinkage needs its own minimum (``learnings.shrinkage``): the spread
between experiments is estimated from the experiments themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from learnings.shrinkage import MIN_EXPERIMENTS_EB, MIN_EXPERIMENTS_JS

CONFIDENCE = 0.95
MAX_USEFUL_WIDTH = 0.5  # a win rate known to within ±25 points


def wilson_interval(wins: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion wins/n; (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def widest_interval(n: int) -> float:
    """The widest 95% Wilson interval any number of wins out of n can have."""
    return max(hi - lo for lo, hi in (wilson_interval(w, n) for w in range(n + 1)))


def _min_experiments() -> int:
    n = 1
    while widest_interval(n) > MAX_USEFUL_WIDTH:
        n += 1
    return n


MIN_EXPERIMENTS_FOR_WIN_RATE = _min_experiments()
SHRINKAGE_MINIMUM = {"empirical_bayes": MIN_EXPERIMENTS_EB, "james_stein": MIN_EXPERIMENTS_JS}


@dataclass(frozen=True)
class Evidence:
    """What k experiments support: the win rate's interval and whether it means something."""

    experiments: int
    wins: int
    win_low: float
    win_high: float
    enough_for_win_rate: bool
    experiments_needed: int
    shrinkage_needs: int


def meta_evidence(*, experiments: int, wins: int, method: str) -> Evidence:
    low, high = wilson_interval(wins, experiments)
    return Evidence(
        experiments=experiments,
        wins=wins,
        win_low=low,
        win_high=high,
        enough_for_win_rate=experiments >= MIN_EXPERIMENTS_FOR_WIN_RATE,
        experiments_needed=MIN_EXPERIMENTS_FOR_WIN_RATE,
        shrinkage_needs=SHRINKAGE_MINIMUM.get(method, MIN_EXPERIMENTS_EB),
    )
