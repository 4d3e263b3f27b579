"""The API docs (Redoc and Swagger UI) render from our own server only: no font CDN, no other
host (issue 13). The ``page`` fixture records every request and fails the test on any that
leaves the live server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_redoc_renders_readable_operations_with_local_fonts_only(signed_in_page, shoot):
    page = signed_in_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/api/redoc/")

    expect(page.get_by_text("Store a batch of events").first).to_be_visible()
    expect(page.get_by_text("GrowthBook SDK endpoint").first).to_be_visible()
    shoot(page, "api-redoc")
    assert requests, "the page made requests"
    assert all(url.startswith(page.url.split("/api/")[0]) for url in requests), requests
    font = page.evaluate("getComputedStyle(document.querySelector('h1, h2')).fontFamily")
    assert "Montserrat" not in font
    assert "system-ui" in font


def test_swagger_ui_renders_from_local_files_only(signed_in_page, shoot):
    page = signed_in_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/api/docs/")

    expect(page.get_by_text("events_batch").first).to_be_visible()
    shoot(page, "api-swagger")
    assert all(url.startswith(page.url.split("/api/")[0]) for url in requests), requests
