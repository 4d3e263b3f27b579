"""Initiatives: the deliverables pursued to move key results, each linked to at least one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from outcomes.okrs.models import Initiative, InitiativeStatus, KeyResult
from outcomes.okrs.services.lookups import (
    KEY_RESULT_NOT_FOUND,
    UNKNOWN_FIELD,
    acting_user,
    clean_title,
    workspace_member,
)
from plg_platform.errors import NotFound, ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

INITIATIVE_NEEDS_KEY_RESULT = (
    "Link the initiative to at least one key result: a deliverable is pursued to move an outcome."
)
BAD_STATUS = "Expected one of: {choices}."


# --- initiatives --------------------------------------------------------------------------
def _key_results(workspace: Workspace, ids: Sequence[int] | None) -> list[KeyResult]:
    if not ids:
        raise ValidationFailed(INITIATIVE_NEEDS_KEY_RESULT, field="key_results")
    found = {kr.pk: kr for kr in KeyResult.objects.filter(workspace=workspace, pk__in=list(ids))}
    for kr_id in ids:
        if kr_id not in found:
            raise NotFound(KEY_RESULT_NOT_FOUND.format(id=kr_id), field="key_results")
    return [found[kr_id] for kr_id in dict.fromkeys(ids)]


def _initiative_status(value: Any) -> str:
    if value not in InitiativeStatus.values:
        raise ValidationFailed(
            BAD_STATUS.format(choices=", ".join(InitiativeStatus.values)), field="status"
        )
    return value


@transaction.atomic
def initiative_create(
    *,
    workspace: Workspace,
    title: str,
    key_result_ids: Sequence[int],
    description: str = "",
    status: str = InitiativeStatus.PLANNED,
    owner_id: int | None = None,
    url: str = "",
    actor: AbstractBaseUser | None = None,
) -> Initiative:
    """Record a deliverable linked to the key results it should move."""
    key_results = _key_results(workspace, key_result_ids)
    initiative = Initiative(
        workspace=workspace,
        title=clean_title(title),
        description=description or "",
        status=_initiative_status(status),
        owner=workspace_member(workspace, owner_id, "owner"),
        url=url or "",
        created_by=acting_user(actor),
    )
    initiative.full_clean()
    initiative.save()
    initiative.key_results.set(key_results)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="initiative.create",
        obj=initiative,
        changes={"title": initiative.title, "key_results": [kr.pk for kr in key_results]},
    )
    return initiative


INITIATIVE_FIELDS = ("title", "description", "status", "owner_id", "url", "key_result_ids")


@transaction.atomic
def initiative_update(
    *, initiative: Initiative, changes: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> Initiative:
    for name in changes:
        if name not in INITIATIVE_FIELDS:
            raise ValidationFailed(UNKNOWN_FIELD, field=name)
    workspace = initiative.workspace
    key_results = (
        _key_results(workspace, changes["key_result_ids"]) if "key_result_ids" in changes else None
    )
    if "title" in changes:
        initiative.title = clean_title(changes["title"])
    if "description" in changes:
        initiative.description = changes["description"] or ""
    if "status" in changes:
        initiative.status = _initiative_status(changes["status"])
    if "owner_id" in changes:
        initiative.owner = workspace_member(workspace, changes["owner_id"], "owner")
    if "url" in changes:
        initiative.url = changes["url"] or ""
    initiative.full_clean()
    initiative.save()
    if key_results is not None:
        initiative.key_results.set(key_results)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="initiative.update",
        obj=initiative,
        changes={"fields": sorted(changes)},
    )
    return initiative


@transaction.atomic
def initiative_delete(*, initiative: Initiative, actor: AbstractBaseUser | None = None) -> None:
    audit_record(
        workspace=initiative.workspace,
        actor=actor,
        action="initiative.delete",
        obj=initiative,
        changes={"title": initiative.title},
    )
    initiative.delete()
