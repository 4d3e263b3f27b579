"""Event sources in a real browser: connect a DuckDB file through the form (the engine's
choice shows only its connection fields), run the dry run and read its report.

Screenshots land in test-artifacts/screenshots/sources-*.png; look at them after a change.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metrics.models import EventSource
from tests.metrics.warehouse import generate, write_duckdb

pytestmark = pytest.mark.browser


@pytest.fixture
def warehouse_file(tmp_path, settings):
    settings.METRICS_SOURCE_ROOT = tmp_path
    data = generate(seed=5, units=60)
    write_duckdb(tmp_path / "analytics.duckdb", data)
    return data


def test_connect_a_duckdb_file_and_dry_run_it(signed_in_page, warehouse_file, shoot):
    page = signed_in_page
    page.get_by_role("link", name="Sources").click()
    expect(page.get_by_role("heading", name="Event sources", exact=True)).to_be_visible()
    shoot(page, "sources-empty")
    page.get_by_role("link", name="Connect your first source").click()

    page.get_by_label("Name", exact=True).fill("Analytics")
    page.get_by_label("ClickHouse server").check()
    expect(page.get_by_label("Host", exact=True)).to_be_visible()
    expect(page.get_by_label("Path", exact=True)).to_be_hidden()
    page.get_by_label("DuckDB file (.duckdb, opened read-only)").check()
    expect(page.get_by_label("Host", exact=True)).to_be_hidden()
    page.get_by_label("Path", exact=True).fill("analytics.duckdb")
    page.get_by_role("textbox", name="Event table", exact=True).fill("app_events")
    page.get_by_label("Event name column").fill("event_name")
    page.get_by_label("User id column").fill("account_user")
    page.get_by_label("Time column", exact=True).fill("occurred_at")
    page.get_by_label("JSON properties column").fill("payload")
    page.get_by_label("Typed property columns").fill("revenue = revenue\nplan = plan")
    page.get_by_label("Exposure table", exact=True).fill("experiment_viewed")
    shoot(page, "sources-form")
    page.get_by_role("button", name="Connect the source").click()

    expect(page.get_by_role("button", name="Run a dry run")).to_be_visible()
    page.get_by_role("button", name="Run a dry run").click()
    expect(page.get_by_text("Dry run passed")).to_be_visible()
    source = EventSource.objects.get()
    rows = source.last_check["events"]["rows"]
    assert rows == len(warehouse_file.events)
    expect(page.get_by_role("cell", name=str(rows), exact=True).first).to_be_visible()
    expect(page.get_by_role("rowheader", name="checkout-redesign")).to_be_visible()
    shoot(page, "sources-dry-run")
    page.get_by_role("link", name="← Event sources").click()
    expect(page.get_by_text("✓ Passed")).to_be_visible()
    shoot(page, "sources-list")
