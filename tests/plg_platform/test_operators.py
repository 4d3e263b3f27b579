"""What operators rely on: the health check, the OpenAPI schema and docs, and the admin."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

OUR_APPS = ("plg_platform", "outcomes", "experiments", "learnings")


def test_health_checks_database_and_broker():
    response = Client().get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_openapi_schema_validates_without_warnings():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = out.getvalue()
    for path in (
        "/api/v1/events/batch",
        "/api/v1/metrics/",
        "/api/v1/metrics/{key}/values",
        "/api/v1/stats/analyze",
        "/api/v1/stats/power",
        "/v1/batch",
    ):
        assert f'"{path}"' in schema, path
    assert '"apiToken"' in schema
    assert '"ingestionKey"' in schema


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_scripts_from_our_own_static_files(page):
    response = Client().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert sources, "the docs page loads its UI from script files"
    for src in sources:
        # Our static files, or (Swagger's start-up script) our own docs URL: same origin.
        assert src.startswith(("/static/", f"{page}?script=")), src
    # No inline script (the Content-Security-Policy forbids it) and nothing from elsewhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "https://" not in html


def test_every_model_of_ours_is_in_the_admin():
    missing = [
        model._meta.label
        for name in OUR_APPS
        for model in apps.get_app_config(name).get_models()
        if not admin.site.is_registered(model)
    ]
    assert missing == []
