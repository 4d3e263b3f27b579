"""What the experiments now running would add to a key result if shipped: the provider this
app registers with outcomes (``LearningsConfig.ready``; the contract is
``outcomes.okrs.contracts.ExpectedContribution``).

For each running experiment linked to the key result that measures its metric:

* **lift**: the latest analysis's relative effect of the best-looking variant on the key
  result's metric, its standard error from the interval (``standard_error_from_interval``);
* **shrunk**: the normal–normal posterior (``shrinkage.normal_posterior``) of that lift, oriented
  so that positive is better, under the workspace's meta-analysis prior (empirical Bayes over
  its concluded experiments' primary lifts, ``selectors.meta_analysis``). Until the
  meta-analysis can fit one (``shrinkage.MIN_EXPERIMENTS_EB`` experiments with an impact), a
  sceptical default prior: centred on no effect, standard deviation ``DEFAULT_PRIOR_SD``;
* **reach**: the share of the key result's units it would reach if shipped: units exposed
  between its first and last exposure, divided by its coverage, over the key result's units
  that started in that span (at most 1). Experiments randomised by another unit, or reading
  exposures from a warehouse, are assumed to reach everyone (the note says so);
* **treated share**: coverage × the variant's weight, already treated while the test runs;
* **ships on**: today. The question is "what if the running experiments that look good
  shipped now?": a change shipped later reaches less of the final cohort, and one the team
  would not ship (its shrunk lift goes the wrong way) is listed but not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from experiments.contracts import ComparisonSummary
from experiments.models import Experiment
from experiments.selectors import (
    experiment_result_summary,
    exposure_span,
    key_result_running_experiments,
)
from learnings.selectors import meta_analysis
from learnings.services.from_experiment import standard_error_from_interval
from learnings.shrinkage import MIN_EXPERIMENTS_EB, normal_posterior
from outcomes.okrs.contracts import ExpectedContribution
from outcomes.okrs.models import KeyResult
from outcomes.okrs.progress import key_result_population_units
from plg_platform.models import Workspace

# The default prior: relative lifts centred on no effect, 95% of them within about ±10%.
DEFAULT_PRIOR_MEAN = 0.0
DEFAULT_PRIOR_SD = 0.05

PRIOR_FROM_META = (
    "shrunk with the meta-analysis prior of {k} concluded experiments "
    "(mean {mean:+.1%}, spread {sd:.1%})"
)
PRIOR_DEFAULT = (
    "shrunk with a sceptical default prior (no effect ± {sd:.0%}): the meta-analysis needs "
    "{needed} concluded experiments with an impact, this workspace has {k}"
)
REACH_MEASURED = (
    "{exposed:,} units exposed at {coverage:.0%} coverage, of {population:,} starting then"
)
REACH_OTHER_UNIT = "randomised by {unit}: assumed to reach everyone"
REACH_WAREHOUSE = "exposures live in a warehouse: assumed to reach everyone"
REACH_NO_POPULATION = (
    "no unit of the key result started while it exposed: assumed to reach everyone"
)


@dataclass(frozen=True)
class Prior:
    """The prior a lift is shrunk with (oriented: positive is better)."""

    mean: float
    variance: float
    description: str


def shrinkage_prior(*, workspace: Workspace) -> Prior:
    """The workspace's empirical-Bayes prior from its meta-analysis, or the default one."""
    meta = meta_analysis(workspace=workspace, method="empirical_bayes")
    shrinkage = meta.shrinkage
    k = len(shrinkage.raw)
    if shrinkage.method == "empirical_bayes" and shrinkage.prior_mean is not None:
        tau2 = shrinkage.tau2 or 0.0
        return Prior(
            shrinkage.prior_mean,
            tau2,
            PRIOR_FROM_META.format(k=k, mean=shrinkage.prior_mean, sd=math.sqrt(tau2)),
        )
    return Prior(
        DEFAULT_PRIOR_MEAN,
        DEFAULT_PRIOR_SD**2,
        PRIOR_DEFAULT.format(sd=DEFAULT_PRIOR_SD, needed=MIN_EXPERIMENTS_EB, k=k),
    )


def _best(comparisons: tuple[ComparisonSummary, ...]) -> ComparisonSummary | None:
    """The variant that looks best on the metric (largest effect in its good direction)."""

    def oriented(c: ComparisonSummary) -> float:
        effect = c.effect if c.effect is not None else -math.inf
        return effect if c.higher_is_better else -effect

    usable = [c for c in comparisons if c.effect is not None and math.isfinite(c.effect)]
    return max(usable, key=oriented) if usable else None


def experiment_reach(*, experiment: Experiment, key_result: KeyResult) -> tuple[float, str]:
    """The share of the key result's units the experiment would reach if shipped, and how it
    was found (module docstring)."""
    if experiment.unit_property:
        return 1.0, REACH_OTHER_UNIT.format(unit=experiment.unit_property)
    if experiment.source_id is not None:
        return 1.0, REACH_WAREHOUSE
    span = exposure_span(experiment=experiment)
    if not span.units or span.first_us is None or span.last_us is None:
        return 1.0, REACH_NO_POPULATION
    population = key_result_population_units(
        key_result=key_result, starts_from_us=span.first_us, starts_before_us=span.last_us + 1
    )
    if population <= 0 or experiment.coverage <= 0:
        return 1.0, REACH_NO_POPULATION
    reach = min(span.units / experiment.coverage / population, 1.0)
    note = REACH_MEASURED.format(
        exposed=span.units, coverage=experiment.coverage, population=population
    )
    return reach, note


def experiment_contribution(
    *, experiment: Experiment, key_result: KeyResult, prior: Prior, today: date
) -> ExpectedContribution | None:
    """The expected contribution of one running experiment, or None when its latest analysis
    has no relative effect with an interval on the key result's metric."""
    summary = experiment_result_summary(experiment=experiment)
    if summary is None or summary.difference != "relative":
        return None
    chosen = _best(summary.for_metric(key_result.metric.key))
    if chosen is None or chosen.effect is None:
        return None
    se = standard_error_from_interval(chosen.ci_low, chosen.ci_high, experiment.alpha)
    if se is None or not se > 0:
        return None
    sign = 1.0 if chosen.higher_is_better else -1.0
    oriented, oriented_sd = normal_posterior(sign * chosen.effect, se, prior.mean, prior.variance)
    reach, reach_note = experiment_reach(experiment=experiment, key_result=key_result)
    weight = next((v.weight for v in experiment.variants.all() if v.key == chosen.variant), 0.0)
    return ExpectedContribution(
        experiment_key=experiment.key,
        experiment_name=experiment.name,
        variant=chosen.variant,
        lift=chosen.effect,
        lift_se=se,
        shrunk_lift=sign * oriented,
        shrunk_lift_sd=oriented_sd,
        prior=prior.description,
        reach=reach,
        reach_note=reach_note,
        treated_share=min(max(experiment.coverage * weight, 0.0), 1.0),
        ships_on=today,
        would_ship=oriented > 0,
    )


def key_result_expected_contributions(
    key_result: KeyResult, today: date
) -> list[ExpectedContribution]:
    """The provider: every running experiment linked to the key result that measures it."""
    experiments = list(key_result_running_experiments(key_result=key_result))
    if not experiments:
        return []
    prior = shrinkage_prior(workspace=key_result.workspace)
    contributions = (
        experiment_contribution(
            experiment=experiment, key_result=key_result, prior=prior, today=today
        )
        for experiment in experiments
    )
    return [c for c in contributions if c is not None]
