"""Option aliases and the frozen settings objects every analysis takes.

Defaults follow GrowthBook's gbstats where we have no reason to differ: alpha 0.05, relative
lift, sequential tuning parameter 5,000 units, flat (improper) prior, SRM flag at p < 0.001.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from experiments.stats.messages import (
    ALPHA_RANGE_ERROR,
    PRIOR_VARIANCE_ERROR,
    SRM_THRESHOLD_ERROR,
    TUNING_ERROR,
    UNKNOWN_OPTION_ERROR,
    StatsInputError,
)

MetricType = Literal["proportion", "mean", "ratio"]
Engine = Literal["frequentist", "bayesian"]
Difference = Literal["relative", "absolute"]
Alternative = Literal["two_sided", "greater", "less"]
Correction = Literal["none", "holm", "bh"]

DEFAULT_ALPHA: Final = 0.05
DEFAULT_SEQUENTIAL_TUNING: Final = 5000.0
DEFAULT_SRM_THRESHOLD: Final = 0.001


def check_option(name: str, value: object, alias: object) -> None:
    """Raise StatsInputError unless ``value`` is one of the Literal ``alias``'s values."""
    allowed = get_args(alias)
    if value not in allowed:
        raise StatsInputError(name, UNKNOWN_OPTION_ERROR.format(value=value, allowed=allowed))


def check_alpha(name: str, alpha: float) -> None:
    """Raise StatsInputError unless 0 < alpha < 1."""
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise StatsInputError(name, ALPHA_RANGE_ERROR)


@dataclass(frozen=True)
class GaussianPrior:
    """Normal prior on the effect, in the effect's own units (relative or absolute).

    ``proper=False`` is the flat (improper) prior: the posterior is then the likelihood.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        if self.proper and not (math.isfinite(self.variance) and self.variance > 0):
            raise StatsInputError("prior_variance", PRIOR_VARIANCE_ERROR)
        if not math.isfinite(self.mean):
            raise StatsInputError("prior_mean", PRIOR_VARIANCE_ERROR)


@dataclass(frozen=True)
class AnalysisSettings:
    """How to compare every variant against the control.

    ``alternative`` is about the raw difference treatment − control ("greater" = the
    treatment's metric is higher). The Bayesian engine ignores ``alternative``,
    ``sequential`` and ``correction`` (posteriors are reported as they are).
    """

    engine: Engine = "frequentist"
    difference: Difference = "relative"
    alpha: float = DEFAULT_ALPHA
    alternative: Alternative = "two_sided"
    sequential: bool = False
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING
    correction: Correction = "none"
    prior: GaussianPrior = field(default_factory=GaussianPrior)
    cuped: bool = True

    def __post_init__(self) -> None:
        check_option("engine", self.engine, Engine)
        check_option("difference", self.difference, Difference)
        check_option("alternative", self.alternative, Alternative)
        check_option("correction", self.correction, Correction)
        check_alpha("alpha", self.alpha)
        tuning = self.sequential_tuning
        if not (isinstance(tuning, int | float) and math.isfinite(tuning) and tuning > 0):
            raise StatsInputError("sequential_tuning", TUNING_ERROR)


def check_srm_threshold(threshold: float) -> None:
    """Raise StatsInputError unless 0 < threshold < 1."""
    if not (isinstance(threshold, int | float) and 0.0 < threshold < 1.0):
        raise StatsInputError("srm_threshold", SRM_THRESHOLD_ERROR)
