"""Keys are hashed, shown once, revocable, and record their last use; roles gate writes."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from plg_platform.models import ApiKey, AuditLog, Membership, Role, Workspace
from plg_platform.services.keys import key_digest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_workspace_prints_the_contract_json_and_stores_only_digests():
    out = StringIO()

    call_command("create_workspace", "Acme Docs", "--owner", "ann@example.com", stdout=out)

    printed = json.loads(out.getvalue())
    assert set(printed) == {"workspace", "ingestion_key", "api_token", "sdk_client_key"}
    workspace = Workspace.objects.get(slug=printed["workspace"])
    assert Membership.objects.get(workspace=workspace).role == Role.ADMIN
    for field in ("ingestion_key", "api_token", "sdk_client_key"):
        raw = printed[field]
        key = ApiKey.objects.get(digest=key_digest(raw))
        assert key.workspace == workspace
        # The plain secret appears in no column of the table.
        assert raw not in json.dumps(list(ApiKey.objects.values()), default=str)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {printed['api_token']}")
    assert client.get("/api/v1/workspace/").json()["slug"] == workspace.slug


def test_create_workspace_twice_gives_distinct_slugs():
    a, b = StringIO(), StringIO()
    call_command("create_workspace", "Same", "--owner", "x@example.com", stdout=a)
    call_command("create_workspace", "Same", "--owner", "x@example.com", stdout=b)

    assert json.loads(a.getvalue())["workspace"] != json.loads(b.getvalue())["workspace"]


def test_token_use_records_last_used(editor):
    key = ApiKey.objects.get(digest=key_digest(editor.token))
    assert key.last_used_at is None

    editor.client.get("/api/v1/workspace/")

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_revoked_token_is_refused(admin_actor, editor):
    key = ApiKey.objects.get(digest=key_digest(editor.token))

    response = admin_actor.client.post(f"/api/v1/keys/{key.pk}/revoke")

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert editor.client.get("/api/v1/workspace/").status_code == 401
    assert AuditLog.objects.filter(action="api_key.revoke", object_id=str(key.pk)).exists()


def test_new_key_is_shown_once_then_only_its_prefix(admin_actor):
    created = admin_actor.client.post("/api/v1/keys/", {"kind": "ingestion"}, format="json").json()

    listed = admin_actor.client.get("/api/v1/keys/").json()

    assert created["key"].startswith("plg_ing_")
    assert all("key" not in k for k in listed)
    assert created["prefix"] in {k["prefix"] for k in listed}


def test_editor_may_create_a_personal_token_but_not_an_ingestion_key(editor):
    personal = editor.client.post("/api/v1/keys/", {"kind": "personal"}, format="json")
    ingestion = editor.client.post("/api/v1/keys/", {"kind": "ingestion"}, format="json")

    assert personal.status_code == 201
    assert ingestion.status_code == 403


def test_unknown_key_kind_is_400_naming_kind(admin_actor):
    response = admin_actor.client.post("/api/v1/keys/", {"kind": "root"}, format="json")

    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_foreign_key_id_is_404_not_403(admin_actor, outsider):
    foreign = ApiKey.objects.filter(workspace=outsider.workspace).first()

    response = admin_actor.client.post(f"/api/v1/keys/{foreign.pk}/revoke")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_viewer_cannot_add_members(viewer):
    response = viewer.client.post(
        "/api/v1/workspace/members/", {"email": "new@example.com", "role": "editor"}, format="json"
    )

    assert response.status_code == 403
    assert "authorization" in response.json()["errors"]


def test_admin_adds_a_member_with_a_role(admin_actor):
    response = admin_actor.client.post(
        "/api/v1/workspace/members/", {"email": "new@example.com", "role": "editor"}, format="json"
    )
    # Adding is an invitation: the member joins, with the role, once they accept it.
    assert response.status_code == 201
    assert response.json()["status"] == "invited"
    assert not Membership.objects.filter(user__email="new@example.com").exists()
    invitee = UserFactory(username="new@example.com")
    client = APIClient()
    client.force_authenticate(invitee)
    token = response.json()["accept_url"].rstrip("/").rsplit("/", 1)[1]

    accepted = client.post("/api/v1/invitations/accept", {"token": token}, format="json")

    assert accepted.json() == {"workspace": admin_actor.workspace.slug, "role": "editor"}
    assert Membership.objects.get(user__email="new@example.com").role == Role.EDITOR


def test_sdk_key_is_not_an_api_token(workspace):
    from plg_platform.models import ApiKeyKind
    from plg_platform.services.keys import api_key_create

    _, sdk = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sdk}")

    response = client.get("/api/v1/workspace/")

    assert response.status_code == 401


def test_session_user_acts_in_the_chosen_workspace(editor, outsider):
    from tests.factories import MembershipFactory

    MembershipFactory(workspace=outsider.workspace, user=editor.user, role=Role.VIEWER)
    client = APIClient()
    client.force_login(editor.user)
    session = client.session
    session["workspace_id"] = outsider.workspace.pk
    session.save()

    assert client.get("/api/v1/workspace/").json()["slug"] == outsider.workspace.slug


def test_health_reports_database_and_broker(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_openapi_schema_and_docs_are_served_locally(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/events/batch" in schema.content
    assert docs.status_code == 200
    assert b"https://" not in docs.content.split(b"<body")[0]
