"""The contract with the layers above: the experiments linked to a key result, as frozen values
from providers that a higher layer registers (``experiments`` does, in its ``AppConfig``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
