"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, which Django would take for async
code and refuse ORM calls in: the tests here only touch the database from that thread on purpose.
"""

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """A factory of pages, each in its own context (its own cookies: one person per context)."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
