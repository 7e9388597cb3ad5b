"""Fixtures of the browser tests: one Chromium (Debian's, driven by Playwright) for the
session, and for each test a real ``dispatcher web`` (uvicorn, in a thread of this
process) on a free port of 127.0.0.1 against the test's own database (SQLite and
PostgreSQL) and Redis.

Every page a test opens is checked by ``ConsolePage``: no request may leave the server
(any other address is aborted and fails the test), and ``check`` runs axe-core on the page
as it is and keeps a screenshot under ``$BROWSER_ARTIFACTS`` (default
``var/test-artifacts/browser``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

from dispatcher.access.staff import StaffInfo, create_staff
from dispatcher.runtime import Runtime
from tests.support.paths import ROOT
from tests.support.services import free_port

#: Debian's Chromium (``.ci/run`` installs it with apt-get when it is missing).
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "var" / "test-artifacts" / "browser"))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session (each test has its own contexts)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


@pytest.fixture
def console_url(env: dict[str, str], clean_redis: Any, runtime: Runtime) -> Iterator[str]:
    """The base URL of a real ``dispatcher web`` on this test's database and Redis."""
    from dispatcher.web.server import build_server

    port = free_port()
    server = build_server("127.0.0.1", port)
    thread = threading.Thread(target=server.run, name="dispatcher-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "dispatcher web stopped while starting"
        assert time.monotonic() < deadline, "dispatcher web did not start in 20 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class ConsolePage:
    """A browser page on the console, watched for requests that leave the server."""

    page: Page
    base_url: str
    axe: Axe
    test_name: str
    outside_requests: list[str] = field(default_factory=list)
    shots: int = 0

    def open(self, path: str) -> None:
        """Go to ``path`` on the console."""
        self.page.goto(self.base_url + path)

    def check(self, label: str) -> None:
        """Keep a screenshot of the page as it is, and fail on any axe-core violation."""
        self.shots += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.test_name}-{self.shots:02d}-{label}")
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        results = self.axe.run(self.page)
        assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def new_page(
    chromium: Browser, console_url: str, axe: Axe, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Make a page in a browser context of its own (a ``width`` x ``height`` screen at
    ``zoom``): another person, or another device. Each fails the test on a request to
    another address."""
    pages: list[ConsolePage] = []
    contexts = []

    def make(width: int = 1024, height: int = 768, zoom: float = 1) -> ConsolePage:
        # Zoom as a browser does it: CSS pixels grow, so fewer fit the same screen.
        context = chromium.new_context(
            viewport={"width": round(width / zoom), "height": round(height / zoom)},
            device_scale_factor=zoom,
        )
        contexts.append(context)
        page = context.new_page()
        console_page = ConsolePage(page, console_url, axe, request.node.name)

        def guard(route: Route) -> None:
            url = route.request.url
            if url.startswith((console_url + "/", "data:")) or url == console_url:
                route.continue_()
            else:
                console_page.outside_requests.append(url)
                route.abort()

        page.route("**/*", guard)
        pages.append(console_page)
        return console_page

    yield make
    for context in contexts:
        context.close()
    leaked = [url for p in pages for url in p.outside_requests]
    assert leaked == [], f"pages asked for something outside the server: {leaked}"


@pytest.fixture
def staff(runtime: Runtime) -> Any:
    """Create a staff account (password ``PASSWORD``) and return it."""

    def make(email: str, role: str, school: str | None = "demo") -> StaffInfo:
        with runtime.sessions() as session:
            return create_staff(
                session,
                runtime.configuration,
                email,
                role,
                PASSWORD,
                datetime.now(UTC),
                school=school,
            )

    return make
