"""Pages for members: the members page (admins invite and revoke) and the invitation page
where an invitee accepts, signed in or by choosing a password for a new account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from plg_platform.errors import DomainError, NotFound, ValidationFailed
from plg_platform.forms import InviteForm, NewAccountForm
from plg_platform.models import Invitation, Membership, Role
from plg_platform.permissions import SESSION_WORKSPACE_KEY, request_membership
from plg_platform.selectors import invitations_pending_list, memberships_list
from plg_platform.services.invitations import (
    WrongAccount,
    invitation_accept,
    invitation_accept_as_new_user,
    invitation_create,
    invitation_get_pending,
    invitation_revoke,
    invitation_send,
    invitee_has_account,
)

SESSION_NEW_INVITATION = "new_invitation_url"
ADMINS_ONLY_INVITE = "Only admins of the workspace invite and revoke."


def _members_page(
    request: HttpRequest, membership: Membership, form: InviteForm | None = None, status=200
) -> HttpResponse:
    workspace = membership.workspace
    can_admin = membership.has_role(Role.ADMIN)
    return render(
        request,
        "plg_platform/members.html",
        {
            "members": memberships_list(workspace=workspace),
            "invitations": (
                invitations_pending_list(workspace=workspace, now=timezone.now())
                if can_admin
                else []
            ),
            "can_admin": can_admin,
            "form": form or InviteForm(),
            "new_invitation_url": request.session.pop(SESSION_NEW_INVITATION, None),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest) -> HttpResponse:
    membership = request_membership(request)
    if membership is None:
        return render(request, "plg_platform/no_workspace.html")
    if request.method == "GET":
        return _members_page(request, membership)
    if not membership.has_role(Role.ADMIN):
        return _members_page(request, membership, status=403)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, form, status=400)
    try:
        created = invitation_create(
            workspace=membership.workspace,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except DomainError as error:
        form.add_error("email", error.message)
        return _members_page(request, membership, form, status=error.status_code)
    url = request.build_absolute_uri(reverse("invitation", args=[created.token]))
    invitation_send(invitation=created.invitation, accept_url=url)
    request.session[SESSION_NEW_INVITATION] = url
    messages.success(
        request,
        f"Invited {created.invitation.email}. They join once they accept; the link below "
        "is shown only now.",
    )
    return redirect("members-page")


@login_required
@require_POST
def invitation_revoke_page(request: HttpRequest, invitation_id: int) -> HttpResponse:
    membership = request_membership(request)
    if membership is None or not membership.has_role(Role.ADMIN):
        return render(request, "403.html", {"exception": ADMINS_ONLY_INVITE}, status=403)
    invitation = get_object_or_404(Invitation, workspace=membership.workspace, pk=invitation_id)
    try:
        invitation_revoke(invitation=invitation, actor=request.user)
        messages.success(request, f"Withdrew the invitation of {invitation.email}.")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("members-page")


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, f"You joined {membership.workspace.name}.")
    return redirect("home")


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Show an invitation and accept it on POST."""
    try:
        pending = invitation_get_pending(token=token)
    except DomainError as error:
        return render(
            request,
            "plg_platform/invitation.html",
            {"refusal": error.message},
            status=404 if isinstance(error, NotFound) else 410,
        )
    has_account = invitee_has_account(pending)
    context = {"invitation": pending, "has_account": has_account, "form": NewAccountForm()}
    if request.method == "GET":
        return render(request, "plg_platform/invitation.html", context)
    if request.user.is_authenticated:
        try:
            return _joined(request, invitation_accept(token=token, user=request.user))
        except WrongAccount as error:
            return render(
                request, "plg_platform/invitation.html", {**context, "error": error.message}, 403
            )
    if has_account:
        return redirect(f"{reverse('login')}?next={request.path}")
    form = NewAccountForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return render(request, "plg_platform/invitation.html", context, status=400)
    try:
        membership = invitation_accept_as_new_user(
            token=token, password=form.cleaned_data["password1"]
        )
    except ValidationFailed as error:
        form.add_error("password1", error.message)
        return render(request, "plg_platform/invitation.html", context, status=400)
    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return _joined(request, membership)
