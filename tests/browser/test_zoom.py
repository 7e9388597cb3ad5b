"""WCAG 2.2's reflow at 200% zoom: every page of a snow day on a 1280 x 800 screen zoomed
to 200% (640 CSS pixels wide) reads without scrolling sideways, and axe-core finds
nothing on it."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.runtime import Runtime
from tests.browser.conftest import ConsolePage
from tests.browser.test_compose import FAMILIES
from tests.browser.test_sign_off import ask, enrolled, sign_in_senior
from tests.support.factories import create, import_roster, plan

PAGES = [
    ("home", "/"),
    ("compose-category", "/compose/category?school=demo"),
    (
        "compose-check",
        "/compose/check?school=demo&category=emergency_closure&audience=school"
        "&var-date=2026-12-09&var-reason=heavy+snow",
    ),
    ("announcement", "/announcements/{announcement}"),
    ("families-to-phone", "/announcements/{announcement}/not-reached"),
    ("sign-off-request", "/sign-off/{sign_off}"),
    ("accounts", "/accounts"),
]


@pytest.mark.parametrize(("label", "path"), PAGES, ids=[label for label, _ in PAGES])
def test_each_page_reflows_at_200_percent_zoom(
    label: str, path: str, new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, FAMILIES)
    admin = staff("it@demo.example.org", "admin")
    head = staff("head@demo.example.org", "senior")
    announcement = create(runtime, variables={"date": "Wednesday 9 December", "reason": "snow"})
    plan(runtime, announcement)
    sign_off = ask(runtime, head)
    page: ConsolePage = new_page(width=1280, height=800, zoom=2)
    sign_in_senior(page, "it@demo.example.org", enrolled(runtime, admin))
    page.open(path.format(announcement=announcement, sign_off=sign_off))
    assert page.page.evaluate("window.innerWidth") == 640
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 640, label
    page.check(f"zoom-200-{label}")
