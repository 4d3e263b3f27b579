"""Pre-registered plans: an experiment's plan is frozen when it first starts; a later change of
a planned field (metrics, MDE, minimum runtime, planned units, statistics settings, decision
rule) is an amendment that needs a reason and is written to the audit log with the old and new
values. The frozen plan itself never changes.

``experiments.services.design`` calls these from ``experiment_create`` and
``experiment_update``, ``experiments.services.lifecycle`` from ``experiment_start``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from experiments.decision_rules import DecisionRule, RuleError
from experiments.models import Experiment, ExperimentPlan, ExperimentTemplate
from experiments.plan_selectors import AMENDMENT_ACTION, current_plan, plan_record
from plg_platform.errors import ValidationFailed
from plg_platform.services.audit import audit_record

# The design fields a plan fixes: changing one after the plan is frozen is an amendment.
PLAN_FIELDS = (
    "primary_metric",
    "secondary_metrics",
    "guardrail_metrics",
    "planned_mde",
    "planned_duration_days",
    "planned_sample_size_per_variant",
    "engine",
    "alpha",
    "sequential",
    "sequential_tuning",
    "correction",
    "cuped",
    "decision_rule",
)
# As long as a phase's reason, which it also becomes when the change starts a new phase.
MAX_AMENDMENT_REASON_LENGTH = 300
NEEDS_AMENDMENT_REASON = (
    "The plan of this experiment was frozen when it started: changing {what} is an amendment. "
    "Send a 'reason' saying why; it is kept in the audit log beside the frozen plan."
)
REASON_TOO_LONG = "A reason has at most {max:,} characters (this has {length:,})."


def decision_rule_read(
    data: Any, *, base: DecisionRule | None = None, field: str = "decision_rule"
) -> DecisionRule:
    """Read a decision rule given as JSON over ``base`` (the defaults when None): the keys
    given replace ``base``'s, the others keep its values. A bad rule is a ``ValidationFailed``
    naming the exact key (e.g. ``decision_rule.ship_when.min_chance_to_win``)."""
    if isinstance(data, DecisionRule):
        return data
    if base is not None and isinstance(data, Mapping):
        merged = base.to_json()
        for section, values in data.items():
            if isinstance(values, Mapping) and isinstance(merged.get(section), dict):
                merged[section] = {**merged[section], **values}
            else:
                merged[section] = values
        data = merged
    try:
        return DecisionRule.from_json(data)
    except RuleError as error:
        path = f"{field}.{error.field}" if error.field else field
        raise ValidationFailed(error.message, field=path) from None


def plan_record_create(
    *, experiment: Experiment, rule: DecisionRule, template: ExperimentTemplate | None
) -> ExperimentPlan:
    return ExperimentPlan.objects.create(
        experiment=experiment, template=template, decision_rule=rule.to_json()
    )


def plan_rule_set(*, experiment: Experiment, rule: DecisionRule) -> ExperimentPlan:
    """Store the experiment's (current) decision rule; the frozen plan keeps its own."""
    record, _ = ExperimentPlan.objects.get_or_create(experiment=experiment)
    record.decision_rule = rule.to_json()
    record.save(update_fields=["decision_rule", "updated_at"])
    return record


def plan_freeze(*, experiment: Experiment) -> ExperimentPlan | None:
    """Freeze the plan at the experiment's first start (call inside the starting transaction).

    Returns the newly frozen plan row, or None when it was frozen before (a resume).
    """
    record, _ = ExperimentPlan.objects.select_for_update().get_or_create(experiment=experiment)
    if record.frozen is not None:
        return None
    record.frozen = current_plan(experiment, record).to_json()
    record.frozen_at = timezone.now()
    record.full_clean()
    record.save(update_fields=["frozen", "frozen_at", "updated_at"])
    return record


def amendment_reason_check(
    *, experiment: Experiment, changed: Collection[str], reason: str
) -> list[str]:
    """The planned fields among ``changed`` when the plan is frozen (an amendment), after
    checking there is a reason for them; [] when nothing planned changes or nothing is frozen."""
    amended = sorted(set(changed) & set(PLAN_FIELDS))
    record = plan_record(experiment)
    if not amended or record is None or record.frozen is None:
        return []
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            NEEDS_AMENDMENT_REASON.format(what=", ".join(amended)), field="reason"
        )
    if len(text) > MAX_AMENDMENT_REASON_LENGTH:
        message = REASON_TOO_LONG.format(max=MAX_AMENDMENT_REASON_LENGTH, length=len(text))
        raise ValidationFailed(message, field="reason")
    return amended


def amendment_record(
    *,
    experiment: Experiment,
    amended: list[str],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    reason: str,
    actor: AbstractBaseUser | None,
) -> None:
    """Write one amendment to the audit log: every planned field's old and new value, and why
    (``before``/``after`` are the designs as JSON)."""
    audit_record(
        workspace=experiment.workspace,
        actor=actor,
        action=AMENDMENT_ACTION,
        obj=experiment,
        changes={
            "fields": {name: {"from": before[name], "to": after[name]} for name in amended},
            "reason": reason.strip(),
        },
    )
