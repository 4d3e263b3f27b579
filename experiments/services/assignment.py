"""Server-side assignment, exposure logging and the GrowthBook-compatible SDK payload.

Server-side assignment records the unit's first exposure in the ``Exposure`` table (and as an
``$exposure`` event, the same event SDKs send); repeats are deduplicated. See
``experiments.services.exposures`` for how SDK-side exposures join the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from experiments.assignment import HASH_VERSION, Assignment, AssignmentSpec, assign
from experiments.models import Experiment, ExperimentStatus
from experiments.services.exposures import EXPOSURE_EVENT, current_phase, exposure_log
from plg_platform.models import Person, Workspace

__all__ = ["EXPOSURE_EVENT", "assignment_spec", "sdk_payload", "unit_assign"]

NOT_RUNNING = Assignment(None, False, "not_running")


def assignment_spec(experiment: Experiment) -> AssignmentSpec:
    variants = list(experiment.variants.all())
    return AssignmentSpec(
        key=experiment.key,
        seed=experiment.hash_seed,
        variant_keys=tuple(v.key for v in variants),
        weights=tuple(v.weight for v in variants),
        coverage=experiment.coverage,
        condition=experiment.targeting or {},
        hash_attribute=experiment.unit_property or "id",
    )


def unit_assign(
    *,
    experiment: Experiment,
    unit_id: str,
    attributes: Mapping[str, Any] | None = None,
    log_exposure: bool = True,
    now: datetime | None = None,
) -> Assignment:
    """Assign ``unit_id`` as the SDKs would, targeting on its stored unit properties (overridden
    by ``attributes``), and log the first exposure when it is in the experiment."""
    if experiment.status != ExperimentStatus.RUNNING:
        return NOT_RUNNING
    spec = assignment_spec(experiment)
    person = Person.objects.filter(
        workspace_id=experiment.workspace_id, distinct_id=unit_id
    ).first()
    merged = {
        **(person.properties if person else {}),
        **(attributes or {}),
        spec.hash_attribute: unit_id,
    }
    result = assign(spec, unit_id=unit_id, attributes=merged)
    if result.in_experiment and result.variant is not None and log_exposure:
        phase = current_phase(experiment)
        # A running experiment always has an open phase (starting one opens it); without one
        # there is nothing to attribute the exposure to.
        if phase is not None:
            exposure_log(
                experiment=experiment, phase=phase, unit_id=unit_id, variant=result.variant, now=now
            )
    return result


def sdk_payload(*, workspace: Workspace) -> dict[str, Any]:
    """Return the workspace's running experiments in GrowthBook's SDK payload format.

    Each experiment is a feature of the same key whose value is the variant key, so
    ``gb.eval_feature(key).value`` is the variant and ``None`` means "not in the experiment".
    """
    features: dict[str, Any] = {}
    running = (
        Experiment.objects.filter(workspace=workspace, status=ExperimentStatus.RUNNING)
        .prefetch_related("variants", "phases")
        .order_by("key")
    )
    for experiment in running:
        spec = assignment_spec(experiment)
        variants = list(experiment.variants.all())
        rule: dict[str, Any] = {
            "id": f"exp-{experiment.key}",
            "key": experiment.key,
            "name": experiment.name,
            "seed": spec.seed,
            "hashVersion": HASH_VERSION,
            "hashAttribute": spec.hash_attribute,
            "coverage": spec.coverage,
            "weights": list(spec.weights),
            "variations": list(spec.variant_keys),
            "meta": [{"key": v.key, "name": v.name} for v in variants],
            "phase": str(max((p.number for p in experiment.phases.all()), default=0)),
        }
        if spec.condition:
            rule["condition"] = dict(spec.condition)
        features[experiment.key] = {"defaultValue": None, "rules": [rule]}
    latest = max((e.updated_at for e in running), default=None)
    return {
        "status": 200,
        "features": features,
        "experiments": [],
        "dateUpdated": (latest or datetime.now(tz=UTC)).isoformat(),
    }
