"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Chromium is never downloaded: it comes from Debian (``make browser`` runs
``apt-get install -y chromium``). Without it these tests skip with a warning; with
``PLG_REQUIRE_SERVICES=1`` (CI) they fail instead. Every page a test visits is checked for
JavaScript errors and for requests leaving the live server (no CDN), and screenshots of the
main pages land in ``test-artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plg_platform.models import Workspace
from plg_platform.services.workspaces import workspace_create
from tests.conftest import require_or_skip

# Playwright's sync API runs an event loop in this thread, so Django would refuse ORM calls
# from the test body ("cannot call this from an async context"); nothing here is async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("PLG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in containers
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a-long-browser-test-password"
TIMEOUT_MS = 15_000
# A full-page screenshot is evidence, not a check; on a loaded 2-core machine it took > 15 s.
SCREENSHOT_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (skips, or fails in CI, when it is missing)."""
    if not CHROMIUM.exists():
        warnings.warn(
            f"!! Chromium not found at {CHROMIUM}: browser tests are SKIPPED "
            "(apt-get install -y chromium, or make browser)",
            stacklevel=1,
        )
    require_or_skip(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class PageWatch:
    """What went wrong in the page: JavaScript errors and requests to other hosts."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def on_request(self, request: Any) -> None:
        url = request.url
        if not url.startswith(self.origin) and not url.startswith(("data:", "blob:", "about:")):
            self.foreign_requests.append(url)

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def _page(browser: Any, live_server: Any, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = PageWatch(origin=live_server.url)
    page.on("request", watch.on_request)
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    yield page
    context.close()
    assert watch.foreign_requests == [], "pages must load nothing from other hosts (no CDN)"
    assert watch.errors == [], "JavaScript errors in the page"


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh desktop-sized page on the live server, checked for JS errors and CDN loads."""
    yield from _page(browser, live_server, DESKTOP)


@pytest.fixture
def phone_page(browser: Any, live_server: Any) -> Iterator[Any]:
    yield from _page(browser, live_server, PHONE)


@dataclass
class Owner:
    workspace: Workspace
    email: str
    password: str
    api_token: str


@pytest.fixture
def owner(transactional_db: None) -> Owner:
    """An empty workspace and its admin, who can sign in with a password."""
    created = workspace_create(name="Acme Docs", owner_email="owner@example.com")
    created.owner.set_password(PASSWORD)
    created.owner.save(update_fields=["password"])
    return Owner(
        workspace=created.workspace,
        email="owner@example.com",
        password=PASSWORD,
        api_token=created.api_token,
    )


def sign_in(page: Any, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def signed_in_page(page: Any, owner: Owner) -> Any:
    sign_in(page, owner.email, owner.password)
    return page


@pytest.fixture
def shoot() -> Any:
    """``shoot(page, "name")``: a full-page screenshot in test-artifacts/screenshots/name.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, timeout=SCREENSHOT_TIMEOUT_MS)
        return path

    return save
