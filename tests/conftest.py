"""Fixtures shared by the whole suite.

``PLG_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns "PostgreSQL/Redis/Chromium not available,
skipped" into a failure, so CI can never pass by skipping what it is meant to test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.test import APIClient

from plg_platform.models import ApiKeyKind, Role, Workspace
from plg_platform.services.keys import api_key_create
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

REQUIRE_SERVICES = os.environ.get("PLG_REQUIRE_SERVICES") == "1"


def require_or_skip(available: bool, what: str) -> None:
    """Skip when ``what`` is missing locally; fail when CI requires it."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (PLG_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    return [
        f"database: {settings.DATABASES['default']['ENGINE']}",
        f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}",
        f"require services: {REQUIRE_SERVICES}",
    ]


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only(on_postgres: bool) -> None:
    require_or_skip(on_postgres, "PostgreSQL (set DATABASE_URL)")


@dataclass
class Actor:
    """A user with a role in a workspace, and API clients authenticated as them."""

    workspace: Workspace
    user: object
    token: str
    client: APIClient

    def ingestion_client(self) -> APIClient:
        _, raw = api_key_create(workspace=self.workspace, kind=ApiKeyKind.INGESTION)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client


def make_actor(workspace: Workspace, role: str = Role.EDITOR) -> Actor:
    user = UserFactory()
    MembershipFactory(workspace=workspace, user=user, role=role)
    _, token = api_key_create(workspace=workspace, kind=ApiKeyKind.PERSONAL, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return Actor(workspace=workspace, user=user, token=token, client=client)


@pytest.fixture
def workspace(db) -> Workspace:
    return WorkspaceFactory()


@pytest.fixture
def other_workspace(db) -> Workspace:
    return WorkspaceFactory()


@pytest.fixture
def editor(workspace: Workspace) -> Actor:
    return make_actor(workspace, Role.EDITOR)


@pytest.fixture
def viewer(workspace: Workspace) -> Actor:
    return make_actor(workspace, Role.VIEWER)


@pytest.fixture
def admin_actor(workspace: Workspace) -> Actor:
    return make_actor(workspace, Role.ADMIN)


@pytest.fixture
def outsider(other_workspace: Workspace) -> Actor:
    """An admin of another workspace, to prove nothing crosses workspaces."""
    return make_actor(other_workspace, Role.ADMIN)


@pytest.fixture
def ingestion_client(editor: Actor) -> APIClient:
    return editor.ingestion_client()


def broker_available() -> bool:
    from plg_platform.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return True


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real Celery worker process on the test database (see tests/worker.py)."""
    from tests.worker import running_worker

    require_or_skip(broker_available(), "Celery broker")
    with running_worker(tmp_path) as worker:
        yield worker


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:<port>`` of a real Spark Connect server (tests/spark_connect.py),
    started on first use and stopped, JVM and all, at the end of the test session."""
    from tests.spark_connect import missing, running_connect_server

    lacking = missing()
    require_or_skip(not lacking, lacking or "Spark Connect")
    with running_connect_server(tmp_path_factory.mktemp("spark-connect")) as server:
        yield server.url


@pytest.fixture
def make_metric(db):
    """Create a conversion metric (or any type, through ``spec``) in a workspace."""
    from metrics.public import metric_create

    def make(workspace: Workspace, key: str, **spec):
        spec = {"type": "conversion", "event": f"{key}-event", "window_days": 7, **spec}
        return metric_create(workspace=workspace, key=key, name=key.replace("-", " "), spec=spec)

    return make
