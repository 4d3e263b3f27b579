"""What every OKR write checks first: members, objectives and metrics of the workspace, titles,
numbers; and the messages the services share.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from metrics.public import Metric
from outcomes.okrs.models import Objective
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import Membership, Workspace

OUTPUT_NOT_KEY_RESULT = (
    "A key result must be bound to a metric: it measures an outcome (what users do), not an "
    "output. {title!r} reads like a deliverable: record it as an initiative (or an "
    "experiment) linked to the key result it should move, e.g. 7-day retention of new teams."
)
METRIC_NOT_FOUND = "No metric {key!r} in this workspace."
OBJECTIVE_NOT_FOUND = "No objective {id} in this workspace."
KEY_RESULT_NOT_FOUND = "No key result {id} in this workspace."
OWNER_NOT_MEMBER = "The owner must be a member of this workspace."
TITLE_REQUIRED = "Give a title."
BAD_NUMBER = "Give a finite number."
UNKNOWN_FIELD = "This field cannot be changed."


# --- lookups within a workspace -----------------------------------------------------------
def workspace_member(workspace: Workspace, user_id: int | None, field: str):
    if user_id is None:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(workspace=workspace, user_id=user_id)
        .first()
    )
    if membership is None:
        raise ValidationFailed(OWNER_NOT_MEMBER, field=field)
    return membership.user


def workspace_objective(
    workspace: Workspace, objective_id: int | None, field: str
) -> Objective | None:
    if objective_id is None:
        return None
    objective = Objective.objects.filter(workspace=workspace, pk=objective_id).first()
    if objective is None:
        raise NotFound(OBJECTIVE_NOT_FOUND.format(id=objective_id), field=field)
    return objective


def key_result_metric(workspace: Workspace, key: str | None, title: str) -> Metric:
    if not key:
        raise ValidationFailed(OUTPUT_NOT_KEY_RESULT.format(title=title), field="metric")
    metric = Metric.objects.filter(workspace=workspace, key=key).first()
    if metric is None:
        raise NotFound(METRIC_NOT_FOUND.format(key=key), field="metric")
    return metric


def clean_title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(TITLE_REQUIRED, field="title")
    return value.strip()


def finite_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed(BAD_NUMBER, field=field)
    return float(value)


def acting_user(actor: AbstractBaseUser | None):
    return actor if actor is not None and actor.is_authenticated else None
