"""Numbers and languages as a person reads them (issue 15, problem 8)."""

from __future__ import annotations

import pytest

from dispatcher.rendering.languages import language_label, language_name
from dispatcher.rendering.phone_numbers import readable_phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+441632960108", "01632 960108"),  # Ofcom's drama landline range
        ("+447700900123", "07700 900123"),  # and its drama mobiles
        ("+441384816635", "01384 816635"),  # Brockmoor's office
        ("+33123456789", "+33 1 23 45 67 89"),  # abroad: the international format
        ("", ""),
        (None, ""),
        ("not a number", "not a number"),
    ],
)
def test_uk_numbers_are_shown_as_dialled(stored: str | None, shown: str) -> None:
    assert readable_phone(stored) == shown


def test_languages_are_named() -> None:
    assert language_name("pl") == "Polish"
    assert language_name("so") == "Somali"
    assert language_label("ur") == "Urdu (ur)"
    assert language_label("pt-BR") == "Portuguese (Brazil) (pt-BR)"
    assert language_label("zz-unknown") == "zz-unknown"
