"""Platform pages with Django's test client: sign-in, onboarding, keys, sample data, switching."""

from __future__ import annotations

import pytest
from django.urls import reverse

from plg_platform.models import ApiKey, ApiKeyKind, Event, Role
from plg_platform.services.keys import api_key_authenticate
from plg_platform.views import SAMPLE_NEEDS_EMPTY, SAMPLE_USERS, SESSION_NEW_KEYS
from tests.conftest import make_actor
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_pages_need_a_signed_in_user(client):
    for url in ("/", "/experiments/", "/calculator/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_sign_in_with_email_and_password_lands_on_home(client, editor):
    response = client.post(
        "/login/", {"username": editor.user.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_wrong_password_shows_an_alert_and_stays_signed_out(client, editor):
    response = client.post("/login/", {"username": editor.user.email, "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert "_auth_user_id" not in client.session


def test_user_without_workspace_is_told_how_to_get_one(client):
    client.force_login(UserFactory())
    response = client.get("/")
    assert b"You are not in a workspace yet" in response.content


def test_empty_workspace_shows_blank_slate_snippets_and_checklist(client, admin_actor):
    client.force_login(admin_actor.user)
    response = client.get("/")
    html = response.content.decode()
    assert "No events yet" in html
    assert reverse("sample-data") in html
    assert f"generate_demo_data --workspace {admin_actor.workspace.slug}" in html
    assert "YOUR_INGESTION_KEY" in html
    assert "/api/v1/events/batch" in html
    assert "segment.analytics" in html
    assert "GrowthBook(" in html
    assert [item.key for item in response.context["checklist"]] == [
        "event",
        "identify",
        "metric",
        "experiment",
        "team",
    ]


def test_viewer_sees_no_key_or_sample_buttons(client, viewer):
    client.force_login(viewer.user)
    html = client.get("/").content.decode()
    assert reverse("sample-data") not in html
    assert reverse("snippet-key") not in html
    assert "Ask an admin" in html


def test_admin_gets_working_keys_shown_once(client, admin_actor):
    client.force_login(admin_actor.user)
    response = client.post(reverse("snippet-key"), follow=True)
    keys = response.context["new_keys"]
    html = response.content.decode()
    assert keys["ingestion_key"] in html
    assert keys["sdk_client_key"] in html
    ingestion = api_key_authenticate(raw_key=keys["ingestion_key"], kind=ApiKeyKind.INGESTION)
    sdk = api_key_authenticate(raw_key=keys["sdk_client_key"], kind=ApiKeyKind.SDK)
    assert ingestion.workspace == admin_actor.workspace == sdk.workspace

    again = client.get("/").content.decode()
    assert keys["ingestion_key"] not in again
    assert SESSION_NEW_KEYS not in client.session


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_only_admins_create_keys(client, workspace, role):
    actor = make_actor(workspace, role)
    before = ApiKey.objects.count()
    client.force_login(actor.user)
    assert client.post(reverse("snippet-key")).status_code == 403
    assert ApiKey.objects.count() == before


def test_keys_need_post(client, admin_actor):
    client.force_login(admin_actor.user)
    assert client.get(reverse("snippet-key")).status_code == 405


def test_admin_loads_sample_data_into_an_empty_workspace_once(client, admin_actor):
    client.force_login(admin_actor.user)
    response = client.post(reverse("sample-data"), follow=True)
    events = Event.objects.filter(workspace=admin_actor.workspace).count()
    assert events > 10_000
    assert f"{SAMPLE_USERS:,} sample users" in response.content.decode()
    assert response.context["is_empty"] is False

    refused = client.post(reverse("sample-data"), follow=True)
    assert SAMPLE_NEEDS_EMPTY in refused.content.decode()
    assert Event.objects.filter(workspace=admin_actor.workspace).count() == events


def test_editor_cannot_load_sample_data(client, editor):
    client.force_login(editor.user)
    assert client.post(reverse("sample-data")).status_code == 403
    assert not Event.objects.exists()


def test_switcher_changes_workspace_only_to_ones_you_belong_to(
    client, editor, other_workspace, outsider
):
    second = make_actor(other_workspace, Role.VIEWER)
    client.force_login(second.user)
    # `second` belongs only to other_workspace; asking for editor's workspace changes nothing.
    client.post(reverse("switch-workspace"), {"workspace": editor.workspace.pk})
    assert client.get("/").context["membership"].workspace == other_workspace

    MembershipFactory(workspace=editor.workspace, user=second.user, role=Role.EDITOR)
    client.post(reverse("switch-workspace"), {"workspace": editor.workspace.pk})
    response = client.get("/")
    assert response.context["membership"].workspace == editor.workspace
    assert b'id="ws-switch"' in response.content


def test_every_page_loads_local_assets_only(client, editor):
    client.force_login(editor.user)
    for url in ("/", "/experiments/", "/calculator/", "/calculator/sample-size"):
        html = client.get(url).content.decode()
        assert "https://" not in html.split("<body")[0], f"{url} loads something remotely"
        assert "/static/vendor/chartjs/chart.umd.min.js" in html
        assert "/static/vendor/htmx/htmx.min.js" in html
