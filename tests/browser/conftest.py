"""Playwright fixtures: Debian's Chromium, headless, driven through the sync API against the live `server`.

Playwright's own browser download (`playwright install`) is not used: the forge is tested with the Chromium
that Debian ships at /usr/bin/chromium (scripts/test.sh installs it). Without it the browser tests skip, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import LiveServer

# Another Chromium build can be named for local runs; CI uses Debian's.
CHROMIUM = Path(os.environ.get("FORGE_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test.sh does)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # chromium_sandbox=False: CI runs as root, where Chromium's sandbox cannot start.
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False, timeout=60_000
    )
    yield browser
    browser.close()


def new_context(
    browser: Browser, server: LiveServer, *, javascript: bool = True, locale: str = "en-US"
) -> BrowserContext:
    """A fresh browser profile (no cookies) whose language preference is ``locale``, as a first-time visitor's."""
    context = browser.new_context(
        base_url=server.url,
        locale=locale,
        accept_downloads=True,
        java_script_enabled=javascript,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def context(browser: Browser, server: LiveServer) -> Iterator[BrowserContext]:
    ctx = new_context(browser, server)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
