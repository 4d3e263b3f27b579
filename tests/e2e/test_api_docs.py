"""The API docs (Redoc and Swagger UI) render from our own server only: no font CDN, no other
host (issue 13). The ``page`` fixture records every request and fails the test on any that
leaves the live server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA_MS = 90_000


def test_redoc_renders_readable_operations_with_local_fonts_only(signed_in_page):
    page = signed_in_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/api/redoc/")

    # The schema is generated on request: give a loaded machine time.
    batch = page.get_by_role("heading", name="Store a batch of events")
    expect(batch).to_be_visible(timeout=SCHEMA_MS)
    expect(page.get_by_role("heading", name="GrowthBook SDK endpoint")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-redoc.png"))
    assert requests, "the page made requests"
    origin = page.url.split("/api/")[0]
    assert [url for url in requests if not url.startswith((origin, "blob:", "data:"))] == []
    font = page.evaluate("getComputedStyle(document.querySelector('h1, h2')).fontFamily")
    assert "Montserrat" not in font
    assert "system-ui" in font


def test_swagger_ui_renders_from_local_files_only(signed_in_page):
    page = signed_in_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/api/docs/")

    expect(page.get_by_text("Store a batch of events").first).to_be_visible(timeout=SCHEMA_MS)
    page.screenshot(path=str(SCREENSHOTS / "api-swagger.png"))
    origin = page.url.split("/api/")[0]
    assert [url for url in requests if not url.startswith((origin, "blob:", "data:"))] == []
