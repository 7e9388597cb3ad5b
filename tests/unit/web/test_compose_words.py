"""The compose flow's pure parts: which field each template variable gets, how typed
dates, times and amounts become the templates' words, and how a category describes its
channels and its send window."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dispatcher.config.configuration import load_configuration
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.web.console.compose_words import (
    FieldKind,
    VariableField,
    amount_words,
    channels_in_words,
    date_words,
    field_kind,
    field_value,
    send_window_words,
    variable_fields,
    year_words,
)
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR

CONFIG = load_configuration(CONFIG_DIR)
TEMPLATES = TemplateLibrary(TEMPLATES_DIR)
DEMO = CONFIG.school("demo")


def test_the_closure_form_asks_for_date_and_reason_and_offers_reopening_and_a_link() -> None:
    fields = variable_fields(TEMPLATES, "emergency_closure", ["en", "pl", "ur"])
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("date", FieldKind.DATE, True),
        ("reason", FieldKind.TEXT, True),
        ("reopening", FieldKind.DATE, False),
        ("details_url", FieldKind.LINK, False),
    ]
    assert "school" not in {f.name for f in fields}  # per-family and school names are given


def test_a_payment_request_gets_an_amount_a_due_date_and_a_payment_link() -> None:
    kinds = {f.name: f.kind for f in variable_fields(TEMPLATES, "payment_request", ["en"])}
    assert kinds["amount"] is FieldKind.AMOUNT
    assert kinds["due_date"] is FieldKind.DATE
    assert kinds["payment_link"] is FieldKind.LINK
    assert kinds["item"] is FieldKind.TEXT


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("date", FieldKind.DATE),
        ("due_date", FieldKind.DATE),
        ("reply_by", FieldKind.DATE),
        ("time", FieldKind.TIME),
        ("cost", FieldKind.AMOUNT),
        ("url", FieldKind.LINK),
        ("form_url", FieldKind.LINK),
        ("payment_link", FieldKind.LINK),
        ("reason", FieldKind.TEXT),
    ],
)
def test_each_variable_gets_the_input_its_name_calls_for(name: str, kind: FieldKind) -> None:
    assert field_kind(name) is kind


def test_dates_times_and_amounts_read_as_the_templates_say_them() -> None:
    assert date_words(date(2026, 11, 24)) == "Tuesday 24 November"
    assert amount_words(Decimal("12.5")) == "£12.50"
    assert field_value(VariableField("date", "Date", FieldKind.DATE, True), "2026-11-24") == (
        "Tuesday 24 November",
        None,
    )
    assert field_value(VariableField("time", "Time", FieldKind.TIME, True), "15:30") == (
        "3:30pm",
        None,
    )
    amount = VariableField("amount", "Amount to pay", FieldKind.AMOUNT, True)
    assert field_value(amount, "£1,250.5") == ("£1,250.50", None)


def test_bad_input_is_named_by_its_field() -> None:
    date_field = VariableField("date", "Date", FieldKind.DATE, True)
    assert field_value(date_field, "") == (None, "Enter date")
    assert field_value(date_field, "2026-02-30")[1] == (
        "Date must be a real date, for example 2026-11-24"
    )
    link = VariableField("details_url", "Link to more details", FieldKind.LINK, False)
    assert field_value(link, "") == (None, None)  # optional: left out
    value, problem = field_value(link, "http://example.org/x")
    assert value is None and problem is not None
    assert problem.startswith("Link to more details must start with https://")
    amount = VariableField("amount", "Amount to pay", FieldKind.AMOUNT, True)
    assert field_value(amount, "twelve")[1] == (
        "Amount to pay must be an amount in pounds, for example 12.50"
    )
    assert field_value(amount, "0")[0] is None
    reason = VariableField("reason", "Reason", FieldKind.TEXT, True)
    assert field_value(reason, "snow\x00") == (None, "Reason must not contain control characters")


def test_categories_say_their_channels_in_order_and_whether_they_wait() -> None:
    closure = CONFIG.policy.category("emergency_closure")
    newsletter = CONFIG.policy.category("newsletter")
    term_dates = CONFIG.policy.category("term_dates")
    assert channels_in_words(DEMO, closure) == (
        "Text message, then app, then email; an email copy as back-up"
    )
    assert channels_in_words(DEMO, newsletter) == "Email, then app, then text message"
    assert send_window_words(DEMO, closure) == "Goes at once, day or night"
    assert send_window_words(DEMO, newsletter) == (
        "Waits for school hours (08:00 to 19:00) on school days"
    )
    assert "holidays included" in send_window_words(DEMO, term_dates)


def test_years_read_as_schools_say_them() -> None:
    assert [year_words(y) for y in (-1, 0, 6)] == ["Nursery", "Reception", "Year 6"]
