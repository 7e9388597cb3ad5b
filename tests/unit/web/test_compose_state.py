"""The compose flow's state: read back from a query string, carried on, and its details
checked into the templates' variables and a send time in the school's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from dispatcher.config.configuration import load_configuration
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.web.console.compose_state import (
    Draft,
    audience_problem,
    check_templates,
    checked_details,
    read_draft,
)
from dispatcher.web.console.compose_words import variable_fields
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR

CONFIG = load_configuration(CONFIG_DIR)
TEMPLATES = TemplateLibrary(TEMPLATES_DIR)
DEMO = CONFIG.school("demo")
CLOSURE = CONFIG.policy.category("emergency_closure")
FIELDS = variable_fields(TEMPLATES, "emergency_closure", ["en", "pl", "ur"])
NOW = datetime(2026, 12, 8, 6, 45, tzinfo=UTC)


def test_a_draft_survives_the_query_string_it_travels_in() -> None:
    draft = Draft(
        school="demo",
        category="emergency_closure",
        audience=("year:6", "class:5A"),
        inputs={"date": "2026-12-09", "reason": "snow & ice"},
        when="later",
        send_date="2026-12-09",
        send_time="06:30",
    )
    url = draft.url("/compose/check")
    assert read_draft(parse_qsl(url.partition("?")[2])) == draft
    assert "var-date" not in draft.url("/compose/audience", details=False)


def test_nonsense_in_the_query_string_is_ignored_or_cut() -> None:
    draft = read_draft([("when", "whenever"), ("audience", ""), ("school", "x" * 500), ("z", "1")])
    assert draft.when == "now" and draft.audience == () and len(draft.school) == 64
    assert audience_problem(draft) is not None
    assert audience_problem(Draft(audience=("year:banana",))) is not None
    assert audience_problem(Draft(audience=("school",))) is None


def test_details_become_the_templates_words_and_a_utc_send_time() -> None:
    draft = Draft(
        inputs={"date": "2027-07-01", "reason": "a burst pipe"},
        when="later",
        send_date="2027-07-01",
        send_time="06:30",
    )
    details, errors = checked_details(draft, FIELDS, DEMO.tz, NOW)
    assert errors == []
    assert details is not None
    assert details.variables == {"date": "Thursday 1 July", "reason": "a burst pipe"}
    assert details.send_at == datetime(2027, 7, 1, 5, 30, tzinfo=UTC)  # 06:30 BST


def test_every_wrong_detail_is_named() -> None:
    draft = Draft(inputs={"details_url": "http://x.example"}, when="later", send_date="2026-12-01")
    details, errors = checked_details(draft, FIELDS, DEMO.tz, NOW)
    assert details is None
    assert [field for field, _ in errors] == [
        "var-date",
        "var-reason",
        "var-details_url",
        "send-time",
    ]
    past = Draft(
        inputs={"date": "2026-12-09", "reason": "snow"},
        when="later",
        send_date="2026-12-01",
        send_time="07:00",
    )
    assert checked_details(past, FIELDS, DEMO.tz, NOW)[1] == [
        ("send-date", "The time to send it must be in the future")
    ]


def test_a_text_too_long_for_the_category_is_put_on_the_form() -> None:
    variables = {"date": "Wednesday 9 December", "reason": "snow " * 200}
    [(field, message)] = check_templates(TEMPLATES, DEMO, CLOSURE, variables, FIELDS)
    assert field == "var-date"
    assert "the text message would take" in message.lower()
    assert check_templates(TEMPLATES, DEMO, CLOSURE, {"date": "x", "reason": "y"}, FIELDS) == []
