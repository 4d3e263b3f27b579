"""The statistics engine: A/B analysis on sufficient statistics, with no Django in sight.

Entry points: :func:`analyze` (the calculator request of DESIGN.md), :func:`analyze_batch` (every
metric × segment × variant of an experiment at once, with CUPED), :func:`analyze_guardrails`,
:func:`srm_test`, :func:`plan` (power and duration), :func:`analyze_quantiles` (differences
in quantiles), :func:`describe_comparison` and
:func:`describe_plan`. Methods,
formulas and references: docs/statistics.md.
"""

from experiments.stats.analysis import BatchAnalysis, analyze_batch
from experiments.stats.calculator import (
    AnalysisRequest,
    AnalysisResponse,
    ComparisonResult,
    SrmSummary,
    VariantStatistics,
    analyze,
)
from experiments.stats.corrections import adjust_p_values
from experiments.stats.effects import EffectEstimates, estimate_effects
from experiments.stats.guardrails import GuardrailResult, analyze_guardrails
from experiments.stats.messages import STATUS_MESSAGES, StatsInputError
from experiments.stats.power import PowerRequest, PowerResponse, plan
from experiments.stats.quantiles import (
    MIN_QUANTILE_UNITS,
    QuantileArms,
    analyze_quantiles,
    apply_arm_status,
    quantile_moments,
    quantile_sufficient_statistics,
)
from experiments.stats.settings import AnalysisSettings, GaussianPrior
from experiments.stats.srm import SrmResult, srm_test
from experiments.stats.sufficient_statistics import SufficientStatistics
from experiments.stats.summaries import SummaryContext, describe_comparison, describe_plan

# Bump on any change that can alter a number; snapshots store it next to their results.
ENGINE_VERSION = "1.2.0"

__all__ = [
    "ENGINE_VERSION",
    "MIN_QUANTILE_UNITS",
    "STATUS_MESSAGES",
    "AnalysisRequest",
    "AnalysisResponse",
    "AnalysisSettings",
    "BatchAnalysis",
    "ComparisonResult",
    "EffectEstimates",
    "GaussianPrior",
    "GuardrailResult",
    "PowerRequest",
    "PowerResponse",
    "QuantileArms",
    "SrmResult",
    "SrmSummary",
    "StatsInputError",
    "SufficientStatistics",
    "SummaryContext",
    "VariantStatistics",
    "adjust_p_values",
    "analyze",
    "analyze_batch",
    "analyze_guardrails",
    "analyze_quantiles",
    "apply_arm_status",
    "describe_comparison",
    "describe_plan",
    "estimate_effects",
    "plan",
    "quantile_moments",
    "quantile_sufficient_statistics",
    "srm_test",
]
