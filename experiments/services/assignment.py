"""Server-side assignment, exposure logging and the GrowthBook-compatible SDK payload.

Server-side assignment records the unit's first exposure in the ``Exposure`` table (and as an
``$exposure`` event, the same event SDKs send); repeats are deduplicated. See
``experiments.services.exposures`` for how SDK-side exposures join the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from experiments.assignment import (
    GENERAL_ARM,
    HASH_VERSION,
    HOLDOUT_ARM,
    Assignment,
    AssignmentSpec,
    HoldoutSpec,
    assign,
    holdout_arm,
)
from experiments.holdouts.selectors import holdout_active, holdout_spec
from experiments.holdouts.services import holdout_unit_log
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
    by ``attributes``), and log the first exposure when it is in the experiment.

    While a workspace holdout runs, its units get no variant (reason ``holdout``), and every
    unit with a value to hash on is recorded in the holdout's arm it belongs to, as the SDKs'
    tracking reports it when they evaluate the holdout gate."""
    if experiment.status != ExperimentStatus.RUNNING:
        return NOT_RUNNING
    moment = now or datetime.now(tz=UTC)
    holdout = holdout_active(workspace_id=experiment.workspace_id, at=moment)
    spec = assignment_spec(experiment)
    person = Person.objects.filter(
        workspace_id=experiment.workspace_id, distinct_id=unit_id
    ).first()
    merged = {
        **(person.properties if person else {}),
        **(attributes or {}),
        spec.hash_attribute: unit_id,
    }
    hold = holdout_spec(holdout) if holdout is not None else None
    if hold is not None and unit_id and log_exposure:
        arm = holdout_arm(hold, attributes=merged)
        if arm is not None and holdout is not None:
            holdout_unit_log(
                holdout=holdout, unit_id=str(merged[hold.hash_attribute]), arm=arm, now=moment
            )
    result = assign(spec, unit_id=unit_id, attributes=merged, holdout=hold)
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
    While a holdout runs, it is served as GrowthBook serves holdouts: a ``$holdout:<key>``
    feature (see ``holdout_feature``) that every experiment's rule names as a gating
    prerequisite, so a held-out unit gets ``None`` from every experiment.
    """
    features: dict[str, Any] = {}
    active = holdout_active(workspace_id=workspace.pk)
    hold = holdout_spec(active) if active is not None else None
    if hold is not None:
        features[hold.feature_key] = holdout_feature(hold)
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
        if hold is not None:
            rule["parentConditions"] = [
                {"id": hold.feature_key, "condition": {"value": GENERAL_ARM}, "gate": True}
            ]
        features[experiment.key] = {"defaultValue": None, "rules": [rule]}
    latest = max(
        [e.updated_at for e in running] + ([active.updated_at] if active is not None else []),
        default=None,
    )
    return {
        "status": 200,
        "features": features,
        "experiments": [],
        "dateUpdated": (latest or datetime.now(tz=UTC)).isoformat(),
    }


def holdout_feature(hold: HoldoutSpec) -> dict[str, Any]:
    """The holdout as a GrowthBook feature: one experiment rule over the holdout's own hash,
    ``holdout`` for buckets below the share and ``general`` above, with explicit ranges so the
    SDK compares each bucket with exactly the server's two floats. A unit without a value to
    hash on falls back to the default, ``general``. Its tracking key is the feature key, so
    the SDKs' tracking callback reports every unit's arm as an ``$exposure`` of
    ``$holdout:<key>``, the measurement of the holdout."""
    return {
        "defaultValue": GENERAL_ARM,
        "rules": [
            {
                "id": f"holdout-{hold.key}",
                "key": hold.feature_key,
                "seed": hold.seed,
                "hashVersion": HASH_VERSION,
                "hashAttribute": hold.hash_attribute,
                "coverage": 1.0,
                "variations": [HOLDOUT_ARM, GENERAL_ARM],
                "ranges": [list(r) for r in hold.ranges],
                "meta": [
                    {"key": HOLDOUT_ARM, "name": "Held out"},
                    {"key": GENERAL_ARM, "name": "Everyone else"},
                ],
                "phase": "0",
            }
        ],
    }
