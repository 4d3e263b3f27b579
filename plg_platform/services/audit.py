"""The audit trail: one function every service calls in the same transaction as its change."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from plg_platform.models import AuditLog, Workspace


def audit_record(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    """Record that ``actor`` did ``action`` to ``obj``; call inside the changing transaction."""
    return AuditLog.objects.create(
        workspace=workspace,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=type(obj)._meta.label_lower,
        object_id=str(obj.pk),
        changes=changes or {},
    )
