"""Invitations: nobody becomes a member of a workspace without accepting.

An admin invites an e-mail address with a role; the invitee receives a link holding a random
token (only its SHA-256 digest is stored, as for API keys) and accepts it signed in as the
account with that e-mail, or, when no account has that e-mail, by choosing a password, which
creates the account. An invitation works once, until it expires, unless revoked; inviting the
same address again revokes the earlier pending one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from plg_platform.errors import Conflict, DomainError, NotFound, ValidationFailed
from plg_platform.models import Invitation, InvitationStatus, Membership, Role, Workspace
from plg_platform.services.audit import audit_record

logger = logging.getLogger(__name__)

INVITATION_UNKNOWN = "This invitation link is not valid."
INVITATION_EXPIRED = "This invitation has expired; ask an admin of the workspace for a new one."
INVITATION_REVOKED = "This invitation was withdrawn."
INVITATION_USED = "This invitation has already been accepted."
INVITATION_NOT_PENDING = "Only a pending invitation can be revoked."
WRONG_ACCOUNT = "This invitation is for {email}; sign in with that account to accept it."
ACCOUNT_EXISTS = "An account with this e-mail exists: sign in to accept."
ALREADY_MEMBER = "{email} is already a member of this workspace."

_REFUSAL = {
    InvitationStatus.EXPIRED: INVITATION_EXPIRED,
    InvitationStatus.REVOKED: INVITATION_REVOKED,
    InvitationStatus.ACCEPTED: INVITATION_USED,
}


class WrongAccount(DomainError):
    """The signed-in user is not the invitee."""

    status_code = 403


@dataclass(frozen=True)
class InvitationWithToken:
    """A new invitation and the plain token of its link: returned once, never stored."""

    invitation: Invitation
    token: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalize(email: str) -> str:
    return get_user_model().objects.normalize_email(email.strip()).lower()


def _user_with_email(email: str) -> AbstractBaseUser | None:
    return get_user_model().objects.filter(email__iexact=email).first()


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, email: str, role: str, actor: AbstractBaseUser | None
) -> InvitationWithToken:
    """Invite ``email`` as ``role``; an earlier pending invitation to it is revoked."""
    email = _normalize(email)
    role = Role(role)
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise Conflict(ALREADY_MEMBER.format(email=email), field="email")
    now = timezone.now()
    Invitation.objects.filter(
        workspace=workspace,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=now, updated_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        workspace=workspace,
        email=email,
        role=role,
        token_digest=token_digest(token),
        invited_by=actor if actor is not None and actor.is_authenticated else None,
        expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    try:
        invitation.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(messages[0], field=field) from error
    invitation.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="invitation.create",
        obj=invitation,
        changes={"email": email, "role": role},
    )
    return InvitationWithToken(invitation=invitation, token=token)


def invitation_send(*, invitation: Invitation, accept_url: str) -> None:
    """E-mail the link to the invitee once the invitation is committed (best effort)."""
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "An admin"
    subject = f"You are invited to {invitation.workspace.name} on the PLG platform"
    body = (
        f"{inviter} invites you to the workspace {invitation.workspace.name} as "
        f"{invitation.get_role_display().lower()}.\n\nAccept (the link works once, until "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n{accept_url}\n"
    )

    def send() -> None:
        try:
            send_mail(subject, body, None, [invitation.email])
        except OSError:
            logger.warning("Could not e-mail invitation %s", invitation.pk, exc_info=True)

    transaction.on_commit(send)


def invitation_get_pending(*, token: str) -> Invitation:
    """Return the pending invitation with this token, or raise why it cannot be used."""
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token_digest=token_digest(token))
        .first()
    )
    if invitation is None:
        raise NotFound(INVITATION_UNKNOWN, field="token")
    status = invitation.status_at(timezone.now())
    if status != InvitationStatus.PENDING:
        raise Conflict(_REFUSAL[status], field="token")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Make ``user`` (who must have the invited e-mail) a member; the token is then spent."""
    pending = invitation_get_pending(token=token)
    # Lock the row: two requests with the same link cannot both accept it.
    invitation = Invitation.objects.select_for_update().get(pk=pending.pk)
    if invitation.status_at(timezone.now()) != InvitationStatus.PENDING:
        raise Conflict(_REFUSAL[invitation.status_at(timezone.now())], field="token")
    if _normalize(user.email or "") != invitation.email:
        raise WrongAccount(WRONG_ACCOUNT.format(email=invitation.email), field="token")
    now = timezone.now()
    membership, created = Membership.objects.get_or_create(
        workspace_id=invitation.workspace_id,
        user=user,
        defaults={"role": invitation.role, "last_chosen_at": now},
    )
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_record(
        workspace=pending.workspace,
        actor=user,
        action="invitation.accept",
        obj=invitation,
        changes={"email": invitation.email, "role": invitation.role, "joined": created},
    )
    if created:
        audit_record(
            workspace=pending.workspace,
            actor=user,
            action="membership.create",
            obj=membership,
            changes={"role": invitation.role, "user": user.get_username()},
        )
    return membership


@transaction.atomic
def invitation_accept_as_new_user(*, token: str, password: str) -> Membership:
    """Create the invitee's account with ``password`` and accept; only when none exists."""
    invitation = invitation_get_pending(token=token)
    if _user_with_email(invitation.email) is not None:
        raise Conflict(ACCOUNT_EXISTS, field="email")
    User = get_user_model()
    user = User(username=invitation.email, email=invitation.email)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationFailed(" ".join(error.messages), field="password") from error
    user.set_password(password)
    user.full_clean()
    user.save()
    return invitation_accept(token=token, user=user)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: AbstractBaseUser | None) -> Invitation:
    if invitation.status_at(timezone.now()) != InvitationStatus.PENDING:
        raise Conflict(INVITATION_NOT_PENDING, field="id")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        workspace=invitation.workspace,
        actor=actor,
        action="invitation.revoke",
        obj=invitation,
        changes={"email": invitation.email},
    )
    return invitation


def invitee_has_account(invitation: Invitation) -> bool:
    return _user_with_email(invitation.email) is not None
