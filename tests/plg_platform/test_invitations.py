"""Nobody joins a workspace without accepting an invitation; invitations expire, can be
withdrawn, work once and are stored only as digests; sign-in lands in the last workspace."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from plg_platform.models import AuditLog, Invitation, Membership, Role
from plg_platform.services.invitations import (
    ALREADY_MEMBER,
    INVITATION_EXPIRED,
    INVITATION_REVOKED,
    INVITATION_UNKNOWN,
    INVITATION_USED,
    WRONG_ACCOUNT,
    token_digest,
)
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-invitee-password"  # noqa: S105 - a test password


def _invite(admin_actor, email: str = "bob@example.com", role: str = "editor") -> dict:
    response = admin_actor.client.post(
        "/api/v1/workspace/members/", {"email": email, "role": role}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _token(invited: dict) -> str:
    return invited["accept_url"].rstrip("/").rsplit("/", 1)[1]


def _as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _user(email: str):
    user = UserFactory(username=email, email=email)
    user.set_password(PASSWORD)
    user.save()
    return user


def _accept(user, token: str):
    return _as(user).post("/api/v1/invitations/accept", {"token": token}, format="json")


def test_adding_an_existing_user_invites_them_and_nothing_changes_until_they_accept(
    admin_actor, django_capture_on_commit_callbacks
):
    bob = _user("bob@example.com")
    own = MembershipFactory(user=bob, role=Role.ADMIN).workspace

    with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves on commit
        invited = _invite(admin_actor, "Bob@Example.com")
    client = Client()
    client.post("/login/", {"username": bob.username, "password": PASSWORD})
    landed = client.get("/").context["membership"].workspace

    assert invited["status"] == "invited"
    assert (invited["email"], invited["role"]) == ("bob@example.com", "editor")
    assert not Membership.objects.filter(workspace=admin_actor.workspace, user=bob).exists()
    assert landed == own  # no silent membership, no landing in the inviter's workspace
    # The link went to the invitee.
    [message] = mail.outbox
    assert message.to == ["bob@example.com"]
    assert invited["accept_url"] in message.body


def test_accepting_makes_a_member_with_the_role_once(admin_actor):
    bob = _user("bob@example.com")
    token = _token(_invite(admin_actor))

    first = _accept(bob, token)
    again = _accept(bob, token)

    assert first.status_code == 200
    assert first.json() == {"workspace": admin_actor.workspace.slug, "role": "editor"}
    assert Membership.objects.get(workspace=admin_actor.workspace, user=bob).role == Role.EDITOR
    assert again.status_code == 409
    assert again.json()["errors"] == {"token": [INVITATION_USED]}
    assert list(
        AuditLog.objects.filter(workspace=admin_actor.workspace)
        .filter(action__startswith="invitation.")
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["invitation.create", "invitation.accept"]


def test_the_token_is_stored_only_as_its_digest(admin_actor):
    token = _token(_invite(admin_actor))

    invitation = Invitation.objects.get()
    stored = json.dumps(list(Invitation.objects.values()), default=str)

    assert invitation.token_digest == token_digest(token)
    assert token not in stored


def test_another_account_cannot_accept(admin_actor):
    token = _token(_invite(admin_actor))
    mallory = _user("mallory@example.com")

    response = _accept(mallory, token)

    assert response.status_code == 403
    assert response.json()["errors"] == {"token": [WRONG_ACCOUNT.format(email="bob@example.com")]}
    assert not Membership.objects.filter(user=mallory).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_expired_invitation_cannot_be_accepted(admin_actor):
    bob = _user("bob@example.com")
    token = _token(_invite(admin_actor))
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _accept(bob, token)

    assert response.status_code == 409
    assert response.json()["errors"] == {"token": [INVITATION_EXPIRED]}
    assert not Membership.objects.filter(user=bob).exists()
    assert admin_actor.client.get("/api/v1/workspace/invitations/").json() == []


def test_a_revoked_invitation_cannot_be_accepted(admin_actor, viewer, outsider):
    bob = _user("bob@example.com")
    invited = _invite(admin_actor)
    path = f"/api/v1/workspace/invitations/{invited['id']}/revoke"

    by_viewer = viewer.client.post(path)
    by_outsider = outsider.client.post(path)
    listed = admin_actor.client.get("/api/v1/workspace/invitations/").json()
    revoked = admin_actor.client.post(path)
    twice = admin_actor.client.post(path)
    response = _accept(bob, _token(invited))

    assert (by_viewer.status_code, by_outsider.status_code) == (403, 404)
    assert [(i["email"], i["status"]) for i in listed] == [("bob@example.com", "pending")]
    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked")
    assert twice.status_code == 409
    assert response.status_code == 409
    assert response.json()["errors"] == {"token": [INVITATION_REVOKED]}
    assert not Membership.objects.filter(user=bob).exists()


def test_inviting_again_withdraws_the_earlier_link(admin_actor):
    bob = _user("bob@example.com")
    first = _token(_invite(admin_actor, role="viewer"))
    second = _token(_invite(admin_actor, role="admin"))

    old = _accept(bob, first)
    new = _accept(bob, second)

    assert old.json()["errors"] == {"token": [INVITATION_REVOKED]}
    assert new.json()["role"] == "admin"


def test_inviting_a_member_is_a_409_naming_email(admin_actor, editor):
    response = admin_actor.client.post(
        "/api/v1/workspace/members/", {"email": editor.user.email, "role": "admin"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["errors"] == {"email": [ALREADY_MEMBER.format(email=editor.user.email)]}
    assert Membership.objects.get(user=editor.user).role == Role.EDITOR


def test_an_unknown_token_is_404(editor):
    response = _accept(editor.user, "not-a-token")

    assert response.status_code == 404
    assert response.json()["errors"] == {"token": [INVITATION_UNKNOWN]}


def test_a_new_person_chooses_a_password_on_the_invitation_page_and_lands_in_the_workspace(
    admin_actor,
):
    invited = _invite(admin_actor, "carol@example.com", role="viewer")
    page = invited["accept_url"].split("testserver", 1)[1]
    client = Client()

    shown = client.get(page)
    weak = client.post(page, {"password1": "123", "password2": "123"})
    nobody_yet = Membership.objects.filter(user__email="carol@example.com").exists()
    joined = client.post(page, {"password1": PASSWORD, "password2": PASSWORD})
    home = client.get("/")
    reused = Client().get(page)

    assert b"Choose a password" in shown.content
    assert weak.status_code == 400
    assert nobody_yet is False
    assert joined.status_code == 302
    assert home.context["membership"].workspace == admin_actor.workspace
    assert home.context["membership"].role == Role.VIEWER
    assert reused.status_code == 410
    assert INVITATION_USED.encode() in reused.content


def test_an_existing_account_must_sign_in_and_cannot_be_taken_over_through_the_link(admin_actor):
    # An account without a usable password (made by create_workspace --owner, say).
    dave = UserFactory(username="dave@example.com", email="dave@example.com")
    dave.set_unusable_password()
    dave.save()
    invited = _invite(admin_actor, "dave@example.com")
    page = invited["accept_url"].split("testserver", 1)[1]
    client = Client()

    shown = client.get(page)
    attempt = client.post(page, {"password1": PASSWORD, "password2": PASSWORD})

    dave.refresh_from_db()
    assert b"Sign in as dave@example.com" in shown.content
    assert attempt.status_code == 302
    assert attempt["Location"] == f"/login/?next={page}"
    assert not dave.has_usable_password()
    assert not Membership.objects.filter(user=dave).exists()


def test_a_signed_in_invitee_accepts_on_the_page(admin_actor):
    bob = _user("bob@example.com")
    invited = _invite(admin_actor)
    page = invited["accept_url"].split("testserver", 1)[1]
    client = Client()
    client.force_login(bob)

    accepted = client.post(page)

    assert accepted.status_code == 302
    assert client.get("/").context["membership"].workspace == admin_actor.workspace


def test_admins_invite_and_withdraw_on_the_members_page(admin_actor, viewer):
    admin = Client()
    admin.force_login(admin_actor.user)
    as_viewer = Client()
    as_viewer.force_login(viewer.user)

    invited = admin.post("/workspace/members/", {"email": "erin@example.com", "role": "editor"})
    page = admin.get("/workspace/members/")
    invitation = Invitation.objects.get()
    forbidden = as_viewer.post("/workspace/members/", {"email": "x@example.com", "role": "admin"})
    withdrawn = admin.post(f"/workspace/invitations/{invitation.pk}/revoke")

    assert invited.status_code == 302
    assert b"erin@example.com" in page.content
    assert b"/invitations/" in page.content  # the link, shown once
    assert forbidden.status_code == 403
    assert Invitation.objects.count() == 1
    assert withdrawn.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert b"/invitations/" not in admin.get("/workspace/members/").content


def test_sign_in_lands_in_the_workspace_chosen_last():
    frank = _user("frank@example.com")
    alpha = WorkspaceFactory(name="Alpha")
    beta = WorkspaceFactory(name="Beta")
    MembershipFactory(workspace=alpha, user=frank)
    MembershipFactory(workspace=beta, user=frank)

    first = Client()
    first.post("/login/", {"username": frank.username, "password": PASSWORD})
    before = first.get("/").context["membership"].workspace
    first.post("/workspace/switch", {"workspace": beta.pk})
    first.post("/logout/")
    later = Client()
    later.post("/login/", {"username": frank.username, "password": PASSWORD})
    after = later.get("/").context["membership"].workspace

    assert (before, after) == (alpha, beta)
