"""The calculator facade: one request of per-variant counts in, SRM and comparisons out.

Mirrors ``POST /api/v1/stats/analyze`` in DESIGN.md field for field, so the view only has to
validate JSON into :class:`AnalysisRequest` and serialise :class:`AnalysisResponse`
(``dataclasses.asdict`` gives JSON-ready values: non-finite numbers become None). Power
planning's facade is :func:`experiments.stats.power.plan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from experiments.stats.analysis import BatchAnalysis, analyze_batch
from experiments.stats.messages import (
    INSUFFICIENT_DATA,
    OK,
    QUANTILE_LEVEL_ERROR,
    QUANTILE_N_STAR_ERROR,
    QUANTILE_ONLY_ERROR,
    QUANTILE_ORDER_ERROR,
    QUANTILE_SUMS_ERROR,
    RATIO_FIELDS_ERROR,
    SRM_DETECTED_MESSAGE,
    SRM_NO_UNITS_MESSAGE,
    SRM_OK_MESSAGE,
    STATUS_MESSAGES,
    TOO_FEW_VARIANTS_ERROR,
    WEIGHTS_LENGTH_ERROR,
    WEIGHTS_VALUE_ERROR,
    StatsInputError,
    StatusCode,
)
from experiments.stats.quantiles import QuantileArms, analyze_quantiles
from experiments.stats.settings import (
    DEFAULT_ALPHA,
    DEFAULT_SEQUENTIAL_TUNING,
    DEFAULT_SRM_THRESHOLD,
    Alternative,
    AnalysisSettings,
    Correction,
    Difference,
    Engine,
    GaussianPrior,
    MetricType,
    check_option,
    check_srm_threshold,
)
from experiments.stats.srm import srm_test
from experiments.stats.sufficient_statistics import SufficientStatistics
from experiments.stats.summaries import SummaryContext, describe_comparison

CalculatorMetricType = Literal["proportion", "mean", "ratio", "quantile"]
SUM_FIELDS = ("sum", "sum_squares", "denominator_sum", "denominator_sum_squares", "sum_product")
QUANTILE_FIELDS = ("quantile", "lower", "upper", "n_star")


@dataclass(frozen=True)
class VariantStatistics:
    """One variant's sums. ``sum_squares`` may be omitted for proportions (it equals ``sum``).

    A quantile metric gives no sums but its summary (``experiments/stats/quantiles.py``): ``n``
    values, the sample ``quantile`` at the request's ``quantile_level`` ν, and ``lower`` and
    ``upper``, the sample quantiles at ν ∓ 1.96·√(ν(1 − ν)/n*) with ``n_star`` (n* ≤ n; n by
    default) the size that band was computed for.
    """

    key: str
    n: float
    sum: float | None = None
    sum_squares: float | None = None
    denominator_sum: float | None = None
    denominator_sum_squares: float | None = None
    sum_product: float | None = None
    quantile: float | None = None
    lower: float | None = None
    upper: float | None = None
    n_star: float | None = None


@dataclass(frozen=True)
class AnalysisRequest:
    """The analyze request; the first variant is the control. Extra options have defaults.

    ``variants`` may be given as mappings with VariantStatistics' field names (as JSON has them).
    """

    variants: tuple[VariantStatistics, ...]
    metric_type: CalculatorMetricType = "mean"
    engine: Engine = "frequentist"
    difference: Difference = "relative"
    alpha: float = DEFAULT_ALPHA
    sequential: bool = False
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING
    correction: Correction = "none"
    weights: tuple[float, ...] | None = None
    alternative: Alternative = "two_sided"
    higher_is_better: bool = True
    prior_mean: float = 0.0
    prior_variance: float = 1.0
    proper_prior: bool = False
    srm_threshold: float = DEFAULT_SRM_THRESHOLD
    metric_name: str = "the metric"
    quantile_level: float | None = None  # ν, quantile metrics only
    settings: AnalysisSettings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        variants = tuple(
            v if isinstance(v, VariantStatistics) else VariantStatistics(**v) for v in self.variants
        )
        object.__setattr__(self, "variants", variants)
        check_option("metric_type", self.metric_type, CalculatorMetricType)
        if len(self.variants) < 2:
            raise StatsInputError("variants", TOO_FEW_VARIANTS_ERROR)
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(self.weights))
            if len(self.weights) != len(self.variants):
                raise StatsInputError("weights", WEIGHTS_LENGTH_ERROR)
            if not all(math.isfinite(w) and w > 0 for w in self.weights):
                raise StatsInputError("weights", WEIGHTS_VALUE_ERROR)
        check_srm_threshold(self.srm_threshold)
        if self.metric_type == "quantile":
            self._check_quantile()
        else:
            self._check_no_quantile()
            self._check_sums()
        settings = AnalysisSettings(
            engine=self.engine,
            difference=self.difference,
            alpha=self.alpha,
            alternative=self.alternative,
            sequential=self.sequential,
            sequential_tuning=self.sequential_tuning,
            correction=self.correction,
            prior=GaussianPrior(self.prior_mean, self.prior_variance, self.proper_prior),
        )
        object.__setattr__(self, "settings", settings)

    def _check_sums(self) -> None:
        if self.metric_type == "ratio":
            for index, variant in enumerate(self.variants):
                for name in ("denominator_sum", "denominator_sum_squares", "sum_product"):
                    if getattr(variant, name) is None:
                        raise StatsInputError(f"variants[{index}].{name}", RATIO_FIELDS_ERROR)
        for index, variant in enumerate(self.variants):
            if variant.sum is None:
                raise StatsInputError(f"variants[{index}].sum", "sum is required.")
            if self.metric_type != "proportion" and variant.sum_squares is None:
                raise StatsInputError(f"variants[{index}].sum_squares", "sum_squares is required.")

    def _check_quantile(self) -> None:
        level = self.quantile_level
        if level is None or not (math.isfinite(level) and 0 < level < 1):
            raise StatsInputError("quantile_level", QUANTILE_LEVEL_ERROR)
        for index, variant in enumerate(self.variants):
            where = f"variants[{index}]"
            for name in SUM_FIELDS:
                if getattr(variant, name) is not None:
                    raise StatsInputError(f"{where}.{name}", QUANTILE_SUMS_ERROR.format(name=name))
            for name in ("quantile", "lower", "upper"):
                value = getattr(variant, name)
                if value is None or not math.isfinite(value):
                    raise StatsInputError(f"{where}.{name}", f"{name} is required (a number).")
            if not variant.lower <= variant.quantile <= variant.upper:  # type: ignore[operator]
                raise StatsInputError(f"{where}.lower", QUANTILE_ORDER_ERROR)
            if variant.n_star is not None and not (1 <= variant.n_star <= variant.n):
                raise StatsInputError(f"{where}.n_star", QUANTILE_N_STAR_ERROR)

    def _check_no_quantile(self) -> None:
        if self.quantile_level is not None:
            raise StatsInputError(
                "quantile_level", QUANTILE_ONLY_ERROR.format(name="quantile_level")
            )
        for index, variant in enumerate(self.variants):
            for name in QUANTILE_FIELDS:
                if getattr(variant, name) is not None:
                    raise StatsInputError(
                        f"variants[{index}].{name}", QUANTILE_ONLY_ERROR.format(name=name)
                    )

    def quantile_arms(self) -> QuantileArms:
        """A quantile request's summaries as arms of shape (V,)."""

        def column(name: str) -> np.ndarray:
            return np.array([float(getattr(v, name)) for v in self.variants])

        n = column("n")
        n_star = np.array([float(v.n if v.n_star is None else v.n_star) for v in self.variants])
        return QuantileArms(
            level=_given(self.quantile_level, "quantile_level"),
            n=n,
            estimate=column("quantile"),
            lower=column("lower"),
            upper=column("upper"),
            n_star=n_star,
        )

    def statistics(self) -> SufficientStatistics:
        """The request's sums as arrays of shape (V,)."""

        def column(name: str) -> list[float]:
            return [float(getattr(v, name)) for v in self.variants]

        sums = column("sum")
        squares = [
            _given(v.sum if v.sum_squares is None else v.sum_squares, "sum") for v in self.variants
        ]
        ratio = self.metric_type == "ratio"
        return SufficientStatistics(
            n=np.array(column("n")),
            sum=np.array(sums),
            sum_squares=np.array(squares),
            denominator_sum=np.array(column("denominator_sum")) if ratio else None,
            denominator_sum_squares=np.array(column("denominator_sum_squares")) if ratio else None,
            sum_product=np.array(column("sum_product")) if ratio else None,
        )


@dataclass(frozen=True)
class SrmSummary:
    p_value: float | None
    flag: bool
    chi_square: float | None
    threshold: float
    status: StatusCode
    message: str


@dataclass(frozen=True)
class ComparisonResult:
    """One treatment against the control. Frequentist fills ``p_value`` (corrected when a
    correction is set; the raw one is ``p_value_unadjusted``); Bayesian fills
    ``chance_to_win``, ``risk`` (expected loss if shipped) and ``risk_control``.
    ``ci_level`` is the interval's actual confidence level (below 1 − alpha when corrected)."""

    variant: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    risk: float | None
    status: StatusCode
    message: str
    summary: str
    p_value_unadjusted: float | None
    risk_control: float | None
    ci_level: float | None
    control_mean: float | None
    variant_mean: float | None


@dataclass(frozen=True)
class AnalysisResponse:
    srm: SrmSummary
    comparisons: tuple[ComparisonResult, ...]


def _number(values: np.ndarray | None, index: int) -> float | None:
    """A JSON-safe float: None for a missing array or a non-finite value."""
    if values is None:
        return None
    value = float(values[index])
    return value if math.isfinite(value) else None


def _srm_summary(request: AnalysisRequest) -> SrmSummary:
    counts = [v.n for v in request.variants]
    result = srm_test(counts, request.weights, request.srm_threshold)
    status: StatusCode = str(result.status)  # type: ignore[assignment]
    p_value = _number(np.atleast_1d(result.p_value), 0)
    if status == INSUFFICIENT_DATA:
        message = SRM_NO_UNITS_MESSAGE
    elif status != OK or p_value is None:
        message = STATUS_MESSAGES[status]
    elif bool(result.flag):
        message = SRM_DETECTED_MESSAGE.format(p_value=p_value)
    else:
        message = SRM_OK_MESSAGE
    return SrmSummary(
        p_value=p_value,
        flag=bool(result.flag),
        chi_square=_number(np.atleast_1d(result.chi_square), 0),
        threshold=request.srm_threshold,
        status=status,
        message=message,
    )


def _comparison(
    request: AnalysisRequest, batch: BatchAnalysis, index: int, context: SummaryContext
) -> ComparisonResult:
    status: StatusCode = str(batch.status[index])  # type: ignore[assignment]
    values = {
        "effect": _number(batch.effect, index),
        "ci_low": _number(batch.ci_low, index),
        "ci_high": _number(batch.ci_high, index),
        "ci_level": _number(batch.ci_level, index),
        "p_value": _number(batch.p_value, index),
        "chance_to_win": _number(batch.chance_to_win, index),
        "risk": _number(batch.risk, index),
    }
    # One-sided bounds are infinite; the sentence needs them, JSON gets None.
    low, high = float(batch.ci_low[index]), float(batch.ci_high[index])
    variant = request.variants[index + 1].key
    summary = describe_comparison(
        context,
        variant=variant,
        status=status,
        effect=values["effect"],
        ci_low=low if not math.isnan(low) else None,
        ci_high=high if not math.isnan(high) else None,
        ci_level=values["ci_level"],
        p_value=values["p_value"],
        chance_to_win=values["chance_to_win"],
        risk=values["risk"],
    )
    return ComparisonResult(
        variant=variant,
        status=status,
        message=STATUS_MESSAGES[status],
        summary=summary,
        p_value_unadjusted=_number(batch.p_value_unadjusted, index),
        risk_control=_number(batch.risk_control, index),
        control_mean=_number(batch.control_mean, index),
        variant_mean=_number(batch.variant_mean, index),
        **values,
    )


def analyze(request: AnalysisRequest) -> AnalysisResponse:
    """Check the traffic split, then compare every variant with the first (the control)."""
    if request.metric_type == "quantile":
        batch = analyze_quantiles(
            request.quantile_arms(),
            settings=request.settings,
            higher_is_better=request.higher_is_better,
        )
        metric_type: MetricType = "mean"  # a difference in the metric's own units
    else:
        batch = analyze_batch(
            request.statistics(),
            metric_type=request.metric_type,
            settings=request.settings,
            higher_is_better=request.higher_is_better,
        )
        metric_type = request.metric_type
    context = SummaryContext(
        metric_name=request.metric_name,
        engine=request.engine,
        difference=request.difference,
        metric_type=metric_type,
        alpha=request.alpha,
        sequential=request.sequential,
        correction=request.correction,
        higher_is_better=request.higher_is_better,
        control_name=request.variants[0].key,
    )
    comparisons = tuple(
        _comparison(request, batch, index, context) for index in range(len(request.variants) - 1)
    )
    return AnalysisResponse(srm=_srm_summary(request), comparisons=comparisons)


def _given(value: float | None, name: str) -> float:
    """A field the request's validation already required for this metric type."""
    if value is None:
        raise ValueError(f"{name} is required")
    return float(value)
