"""The experiment lifecycle: draft → running → stopped → concluded → archived.

Every transition is validated here and written to the audit trail in the same transaction.
Each service updates the instance it is given (and returns it), as ``Model.save`` would.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from experiments.hooks import experiment_concluded
from experiments.models import Decision, Experiment, ExperimentStatus
from experiments.services.design import phase_start
from experiments.services.plans import plan_freeze
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.services.audit import audit_record

ILLEGAL_TRANSITION = "Cannot {action} an experiment that is {status}."
DECISION_REQUIRED = "Concluding needs a decision: ship, rollback or iterate."
RATIONALE_REQUIRED = "Concluding needs a rationale: say why you decided this."
SHIP_NEEDS_VARIANT = "Shipping needs the key of the variant to ship."
UNKNOWN_VARIANT = "No variant {key!r} in this experiment."
RATIONALE_TOO_LONG = "A rationale has at most {max:,} characters (this has {length:,})."
MAX_RATIONALE_LENGTH = 5000

_ALLOWED = {
    "start": {ExperimentStatus.DRAFT, ExperimentStatus.STOPPED},
    "stop": {ExperimentStatus.RUNNING},
    "conclude": {ExperimentStatus.RUNNING, ExperimentStatus.STOPPED},
    "archive": {ExperimentStatus.DRAFT, ExperimentStatus.STOPPED, ExperimentStatus.CONCLUDED},
}


def _lock(experiment: Experiment, action: str) -> Experiment:
    """Lock the experiment's row and reload the caller's instance from it, in place.

    Reloading in place (rather than returning a fresh copy) means no caller is left holding an
    instance that still says "running" after a stop: assignment trusts ``experiment.status``.
    """
    experiment.refresh_from_db(from_queryset=Experiment.objects.select_for_update())
    if experiment.status not in _ALLOWED[action]:
        raise Conflict(
            ILLEGAL_TRANSITION.format(action=action, status=experiment.status), field="status"
        )
    return experiment


@transaction.atomic
def experiment_start(*, experiment: Experiment, actor: AbstractBaseUser | None) -> Experiment:
    """Start (or resume) the experiment: a new phase begins now, and at the first start its
    plan is frozen (``experiments.services.plans``)."""
    experiment = _lock(experiment, "start")
    resumed = experiment.status == ExperimentStatus.STOPPED
    experiment.status = ExperimentStatus.RUNNING
    experiment.started_at = experiment.started_at or timezone.now()
    experiment.stopped_at = None
    experiment.save(update_fields=["status", "started_at", "stopped_at", "updated_at"])
    phase_start(experiment=experiment, reason="Resumed" if resumed else "Started")
    # The plan is frozen at the first start (a resume keeps it): later changes are amendments.
    frozen = plan_freeze(experiment=experiment)
    audit_record(
        workspace=experiment.workspace,
        actor=actor,
        action="experiment.resume" if resumed else "experiment.start",
        obj=experiment,
        changes={"plan": frozen.frozen} if frozen is not None else None,
    )
    return experiment


def _end_phase(experiment: Experiment) -> None:
    experiment.phases.filter(ended_at__isnull=True).update(ended_at=timezone.now())


@transaction.atomic
def experiment_stop(*, experiment: Experiment, actor: AbstractBaseUser | None) -> Experiment:
    experiment = _lock(experiment, "stop")
    experiment.status = ExperimentStatus.STOPPED
    experiment.stopped_at = timezone.now()
    experiment.save(update_fields=["status", "stopped_at", "updated_at"])
    _end_phase(experiment)
    audit_record(
        workspace=experiment.workspace, actor=actor, action="experiment.stop", obj=experiment
    )
    return experiment


@transaction.atomic
def experiment_conclude(
    *,
    experiment: Experiment,
    decision: str,
    rationale: str,
    actor: AbstractBaseUser | None,
    variant: str = "",
) -> Experiment:
    """Record the decision; a running experiment stops first."""
    if decision not in Decision.values:
        raise ValidationFailed(DECISION_REQUIRED, field="decision")
    if not rationale.strip():
        raise ValidationFailed(RATIONALE_REQUIRED, field="rationale")
    if len(rationale.strip()) > MAX_RATIONALE_LENGTH:
        message = RATIONALE_TOO_LONG.format(max=MAX_RATIONALE_LENGTH, length=len(rationale.strip()))
        raise ValidationFailed(message, field="rationale")
    experiment = _lock(experiment, "conclude")
    if decision == Decision.SHIP:
        if not variant:
            raise ValidationFailed(SHIP_NEEDS_VARIANT, field="variant")
        if not experiment.variants.filter(key=variant).exists():
            raise ValidationFailed(UNKNOWN_VARIANT.format(key=variant), field="variant")
    now = timezone.now()
    experiment.status = ExperimentStatus.CONCLUDED
    experiment.decision = decision
    experiment.decision_variant = variant if decision == Decision.SHIP else ""
    experiment.decision_rationale = rationale.strip()
    experiment.stopped_at = experiment.stopped_at or now
    experiment.concluded_at = now
    experiment.full_clean()
    experiment.save()
    _end_phase(experiment)
    audit_record(
        workspace=experiment.workspace,
        actor=actor,
        action="experiment.conclude",
        obj=experiment,
        changes={"decision": decision, "variant": variant, "rationale": rationale},
    )
    # After commit, so the layers above (learnings) see the concluded experiment, and a failure
    # of theirs never undoes the decision.
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    experiment_id = experiment.pk
    transaction.on_commit(lambda: experiment_concluded(experiment_id, actor_id))
    return experiment


@transaction.atomic
def experiment_archive(*, experiment: Experiment, actor: AbstractBaseUser | None) -> Experiment:
    experiment = _lock(experiment, "archive")
    experiment.status = ExperimentStatus.ARCHIVED
    experiment.save(update_fields=["status", "updated_at"])
    audit_record(
        workspace=experiment.workspace, actor=actor, action="experiment.archive", obj=experiment
    )
    return experiment
