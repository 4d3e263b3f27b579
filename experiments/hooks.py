"""Extension points for the layers above experiments.

Experiments sits below learnings, so it cannot call learnings; instead learnings registers a
function here (from its ``AppConfig.ready``) and the lifecycle service runs the registered
functions once the concluding transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable

ConcludedHook = Callable[[int, int | None], None]
_concluded_hooks: list[ConcludedHook] = []


def on_experiment_concluded(hook: ConcludedHook) -> ConcludedHook:
    """Register ``hook(experiment_id, actor_id)`` to run after an experiment is concluded."""
    if hook not in _concluded_hooks:
        _concluded_hooks.append(hook)
    return hook


def experiment_concluded(experiment_id: int, actor_id: int | None) -> None:
    """Run every registered hook for a concluded experiment."""
    for hook in _concluded_hooks:
        hook(experiment_id, actor_id)
