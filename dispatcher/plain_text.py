"""What text every database and channel can hold: no NUL, no other control character (tab
and line breaks allowed where a field may span lines), no unpaired surrogate. One rule for
the API's fields, MIS webhooks, the office's call notes and roster cells."""

from __future__ import annotations

#: Control characters a multi-line field may hold.
LINE_CONTROLS = frozenset("\t\n\r")


def _is_control(char: str, allowed: frozenset[str]) -> bool:
    code = ord(char)
    return (code < 0x20 and char not in allowed) or 0x7F <= code <= 0x9F


def plain_text_problem(value: str, *, line_breaks: bool = True) -> str | None:
    """Why ``value`` is not plain text, in words a form or an API error can show after the
    field's name, or None when it is. With ``line_breaks`` (the default) tabs and line
    breaks are plain text; without, they are control characters too."""
    allowed = LINE_CONTROLS if line_breaks else frozenset()
    if value.isprintable():  # no control character, no surrogate: the usual case, quickly
        return None
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return "must be valid Unicode text (it holds an unpaired surrogate)"
        if _is_control(char, allowed):
            return "must not contain control characters"
    return None
