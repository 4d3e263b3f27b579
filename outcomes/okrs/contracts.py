"""The contract with the layers above, as frozen values from providers that a higher layer
registers in its ``AppConfig``: the experiments linked to a key result (``experiments``
registers that one) and what the running ones would add to it if shipped (``learnings``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from outcomes.okrs.models import KeyResult


# The experiments app lives above outcomes, so outcomes never imports it. It registers a
# provider (in its AppConfig.ready) that returns the experiments linked to a key result.
@dataclass(frozen=True)
class LinkedExperiment:
    key: str
    name: str
    status: str
    outcome: str  # e.g. "won", "lost", "inconclusive", "running"
    estimated_impact: float | None  # on the key result's metric, in its units (or relative)
    impact_description: str = ""


LinkedExperimentsProvider = Callable[[KeyResult], Sequence[LinkedExperiment]]
linked_experiments_providers: list[LinkedExperimentsProvider] = []


def register_linked_experiments_provider(provider: LinkedExperimentsProvider) -> None:
    """Let a higher layer (experiments) list the experiments linked to a key result."""
    if provider not in linked_experiments_providers:
        linked_experiments_providers.append(provider)


# The layers above also tell what the experiments now running would add to a key result if
# shipped (``learnings`` registers the provider: it owns the meta-analysis prior that shrinks
# each estimate). Outcomes projects each onto the key result's final value (``outlook``).
@dataclass(frozen=True)
class ExpectedContribution:
    """What one running experiment's variant would add to a key result once shipped.

    ``lift`` is the latest relative effect on the key result's metric (+0.05: the metric 5%
    higher in the variant), ``lift_se`` its standard error; ``shrunk_lift`` and
    ``shrunk_lift_sd`` the posterior after shrinking with the meta-analysis prior described by
    ``prior``. ``reach`` is the share of the key result's units the change would reach if
    shipped (0–1); ``treated_share`` the share already getting the variant while the test runs
    (their effect is in the trend already). ``ships_on`` is the earliest day it could ship (the
    planned end of the test, or today); ``would_ship`` whether the shrunk lift goes the
    metric's good way (a team would not ship it otherwise, and it is not counted).
    """

    experiment_key: str
    experiment_name: str
    variant: str
    lift: float
    lift_se: float
    shrunk_lift: float
    shrunk_lift_sd: float
    prior: str
    reach: float
    reach_note: str
    treated_share: float
    ships_on: date
    would_ship: bool


ContributionsProvider = Callable[[KeyResult, date], Sequence[ExpectedContribution]]
contributions_providers: list[ContributionsProvider] = []


def register_contributions_provider(provider: ContributionsProvider) -> None:
    """Let a higher layer (learnings) estimate what running experiments would add to a key
    result, as of a day: ``provider(key_result, today)``."""
    if provider not in contributions_providers:
        contributions_providers.append(provider)
