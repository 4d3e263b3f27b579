"""API keys: created with a random secret shown once, stored as a SHA-256 digest, revocable.

The secrets are 256-bit random strings, so a fast digest is safe here (no dictionary to attack);
lookups are by the digest's unique index.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKey, ApiKeyKind, Workspace
from plg_platform.services.audit import audit_record

KEY_PREFIXES = {
    ApiKeyKind.INGESTION: "plg_ing_",
    ApiKeyKind.PERSONAL: "plg_pat_",
    ApiKeyKind.SDK: "sdk-",
}
# Record the last use at most this often, so that authenticating is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

PERSONAL_TOKEN_NEEDS_USER = "A personal API token must belong to a user."  # noqa: S105


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    kind: str,
    name: str = "",
    user: AbstractBaseUser | None = None,
    actor: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain secret, which is never stored."""
    kind = ApiKeyKind(kind)
    if kind == ApiKeyKind.PERSONAL and user is None:
        raise ValidationFailed(PERSONAL_TOKEN_NEEDS_USER, field="user")
    raw = KEY_PREFIXES[kind] + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace=workspace,
        kind=kind,
        name=name,
        prefix=raw[:12],
        digest=key_digest(raw),
        user=user if kind == ApiKeyKind.PERSONAL else None,
    )
    key.full_clean()
    key.save()
    audit_record(
        workspace=workspace, actor=actor, action="api_key.create", obj=key, changes={"kind": kind}
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: AbstractBaseUser | None = None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        audit_record(workspace=key.workspace, actor=actor, action="api_key.revoke", obj=key)
    return key


def api_key_authenticate(*, raw_key: str, kind: str) -> ApiKey | None:
    """Return the active key of ``kind`` matching ``raw_key``, recording its use, or None."""
    if not raw_key.startswith(KEY_PREFIXES[ApiKeyKind(kind)]):
        return None
    key = (
        ApiKey.objects.select_related("workspace", "user")
        .filter(digest=key_digest(raw_key), kind=kind, revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
