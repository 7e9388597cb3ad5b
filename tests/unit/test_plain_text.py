"""The one rule for plain text: what an API field, an MIS webhook or a call note may hold."""

from __future__ import annotations

import pytest

from dispatcher.plain_text import plain_text_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    ["Snow: school closed", "Zamknięta szkoła", "اسکول بند ہے", "line one\nline two\ttab\r\n", ""],
)
def test_ordinary_text_in_any_script_with_line_breaks_is_plain(text: str) -> None:
    assert plain_text_problem(text) is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f"])
def test_nul_and_other_control_characters_are_refused_in_words(char: str) -> None:
    assert plain_text_problem(f"called{char}back") == "must not contain control characters"


def test_an_unpaired_surrogate_is_named_as_such() -> None:
    assert plain_text_problem("half \ud800 a pair") == (
        "must be valid Unicode text (it holds an unpaired surrogate)"
    )


def test_a_single_line_field_refuses_line_breaks_and_tabs() -> None:
    for char in "\t\n\r":
        assert plain_text_problem(f"A{char}B", line_breaks=False) is not None
    assert plain_text_problem("A B", line_breaks=False) is None
