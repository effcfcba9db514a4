"""What every browser test shares: Debian's headless Chromium, driven by Playwright.

Playwright's sync API runs an event loop in the test's thread while it is open, and Django
refuses database calls from there: a test makes its rows first, then opens the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's `chromium` package "
            "(apt-get install chromium), or run `make test`"
        )
    return str(CHROMIUM)


@pytest.fixture
def open_browser(chromium_path: str) -> Callable[[], AbstractContextManager[Browser]]:
    """``with open_browser() as browser:`` a headless Chromium, closed on the way out."""

    @contextmanager
    def open_() -> Iterator[Browser]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
            try:
                yield browser
            finally:
                browser.close()

    return open_
