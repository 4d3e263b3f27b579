"""In a real browser, under the Content-Security-Policy: an admin invites, the invitee chooses
a password and joins, switches workspaces (remembered at the next sign-in), and a run of wrong
passwords pauses sign-in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from plg_platform.models import Membership, Role
from tests.e2e.conftest import sign_in
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CAROL_PASSWORD = "carol-has-a-long-password"  # noqa: S105 - a test password


def test_an_invitee_joins_switches_workspaces_and_lands_there_next_time(
    signed_in_page, owner, shoot
):
    page = signed_in_page
    page.get_by_role("link", name="Members", exact=True).click()
    page.get_by_label("E-mail").fill("carol@example.com")
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invited carol@example.com")
    link = page.locator("#invitation-link").inner_text().strip()
    expect(page.get_by_role("cell", name="carol@example.com")).to_be_visible()
    shoot(page, "30-members-invited")
    assert not Membership.objects.filter(user__email="carol@example.com").exists()

    page.get_by_role("button", name="Sign out").click()
    page.goto(link)
    expect(page.get_by_role("heading", name="Join Acme Docs")).to_be_visible()
    page.get_by_label("Choose a password").fill(CAROL_PASSWORD)
    page.get_by_label("The same password again").fill(CAROL_PASSWORD)
    shoot(page, "31-invitation-new-account")
    page.get_by_role("button", name="Create my account and join").click()
    expect(page.get_by_role("status")).to_contain_text("You joined Acme Docs")
    carol = Membership.objects.get(user__email="carol@example.com")
    assert (carol.workspace, carol.role) == (owner.workspace, Role.EDITOR)

    # A second workspace: the switcher (a script, no inline handler) moves there, and the
    # next sign-in lands there too.
    beta = WorkspaceFactory(name="Beta team")
    MembershipFactory(workspace=beta, user=carol.user, role=Role.VIEWER)
    page.goto("/")
    page.get_by_label("Workspace").select_option(str(beta.pk))
    expect(page.get_by_label("Workspace")).to_have_value(str(beta.pk))
    expect(page.get_by_role("heading", name="Beta team")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "carol@example.com", CAROL_PASSWORD)
    expect(page.get_by_role("heading", name="Beta team")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()


def test_five_wrong_passwords_pause_sign_in_even_with_the_right_one(
    browser, live_server, owner, shoot
):
    # Its own browser context: the 429 answers are expected here, not errors of a page.
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    try:
        for _ in range(5):
            page.goto("/login/")
            page.get_by_label("E-mail").fill(owner.email)
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
        page.goto("/login/")
        page.get_by_label("E-mail").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
        shoot(page, "32-sign-in-paused")
    finally:
        context.close()
