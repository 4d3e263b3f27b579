"""Analysing experiments: requests (refresh, schedule), the run, and what it reads and writes.

``refresh`` queues analyses (one per experiment at a time), ``run`` computes and stores a
snapshot once per job under the experiment's ``locks``, ``inputs`` computes sufficient
statistics through the metric layer, ``outputs`` turns them into results with the statistics
engine, and ``verdict`` says what they mean.

The names below are resolved on first use (PEP 562), so importing one submodule (as
``experiments.services.health`` does) never drags in the others and no import cycle forms.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CUPED_PRE_PERIOD_DAYS": "inputs",
    "analysis_plan": "inputs",
    "RefreshTicket": "refresh",
    "experiment_refresh_request": "refresh",
    "scheduled_analyses_request": "refresh",
    "ANALYSIS_JOB_KIND": "run",
    "AnalysisBusy": "run",
    "ComputedAnalysis": "run",
    "analysis_job_fail": "run",
    "analysis_job_run": "run",
    "experiment_analyze": "run",
    "snapshot_store": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
