"""What the layers above tell a holdout report: each shipped experiment's lift, shrunk.

The meta-analysis (shrinkage across experiments) lives in ``learnings``, above experiments, so
experiments cannot import it; learnings registers a provider here from its ``AppConfig.ready``
(as it registers its "concluded" hook), and the report asks whoever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ShippedEstimate:
    """One shipped experiment's primary-metric lift (relative), as recorded and as shrunk
    toward the workspace's prior by the meta-analysis (equal to the raw lift when too few
    experiments have a standard error to fit a prior)."""

    experiment_id: int
    lift: float
    lift_shrunk: float
    method: str  # the shrinkage method used, "none" when the raw lift is carried


ShippedEstimatesProvider = Callable[[int, Sequence[int]], Mapping[int, ShippedEstimate]]
_providers: list[ShippedEstimatesProvider] = []


def register_shipped_estimates_provider(provider: ShippedEstimatesProvider) -> None:
    """Register ``provider(workspace_id, experiment_ids) -> {experiment_id: estimate}``."""
    if provider not in _providers:
        _providers.append(provider)


def shipped_estimates(
    *, workspace_id: int, experiment_ids: Sequence[int]
) -> dict[int, ShippedEstimate]:
    """Estimates for ``experiment_ids`` from every registered provider (none: empty)."""
    found: dict[int, ShippedEstimate] = {}
    for provider in _providers:
        found.update(provider(workspace_id, experiment_ids))
    return found
