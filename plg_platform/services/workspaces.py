"""Workspaces and memberships (invitations, the only way in for others: ``invitations.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone as django_timezone
from django.utils.text import slugify

from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKeyKind, Membership, Role, Workspace
from plg_platform.services.audit import audit_record
from plg_platform.services.keys import api_key_create

WORKSPACE_NAME_REQUIRED = "A workspace needs a name."


@dataclass(frozen=True)
class WorkspaceCreated:
    """A new workspace with the plain secrets of its first keys (shown once)."""

    workspace: Workspace
    owner: AbstractBaseUser
    ingestion_key: str
    api_token: str
    sdk_client_key: str

    def as_json(self) -> dict[str, str]:
        return {
            "workspace": self.workspace.slug,
            "ingestion_key": self.ingestion_key,
            "api_token": self.api_token,
            "sdk_client_key": self.sdk_client_key,
        }


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def user_get_or_create(*, email: str) -> AbstractBaseUser:
    """Return the user with this e-mail, creating one (with no usable password) if needed."""
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.full_clean()
        user.save()
    return user


@transaction.atomic
def workspace_create(*, name: str, owner_email: str, timezone: str = "UTC") -> WorkspaceCreated:
    """Create a workspace owned by ``owner_email`` with one key of each kind."""
    if not name.strip():
        raise ValidationFailed(WORKSPACE_NAME_REQUIRED, field="name")
    owner = user_get_or_create(email=owner_email)
    workspace = Workspace(name=name.strip(), slug=_unique_slug(name), timezone=timezone)
    workspace.full_clean()
    workspace.save()
    membership_set(workspace=workspace, user=owner, role=Role.ADMIN, actor=owner)
    _, ingestion = api_key_create(
        workspace=workspace, kind=ApiKeyKind.INGESTION, name="Default ingestion key", actor=owner
    )
    _, token = api_key_create(
        workspace=workspace, kind=ApiKeyKind.PERSONAL, name="Owner token", user=owner, actor=owner
    )
    _, sdk = api_key_create(
        workspace=workspace, kind=ApiKeyKind.SDK, name="Default SDK key", actor=owner
    )
    audit_record(workspace=workspace, actor=owner, action="workspace.create", obj=workspace)
    return WorkspaceCreated(workspace, owner, ingestion, token, sdk)


@transaction.atomic
def membership_set(
    *, workspace: Workspace, user: AbstractBaseUser, role: str, actor: AbstractBaseUser | None
) -> Membership:
    """Give ``user`` the ``role`` in ``workspace`` (adding them if they are not a member)."""
    membership, created = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"role": Role(role)}
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="membership.create" if created else "membership.update",
        obj=membership,
        changes={"role": role, "user": user.get_username()},
    )
    return membership


def membership_choose(*, membership: Membership) -> Membership:
    """Remember that the user chose this workspace: their next sign-in lands in it."""
    membership.last_chosen_at = django_timezone.now()
    membership.save(update_fields=["last_chosen_at", "updated_at"])
    return membership
