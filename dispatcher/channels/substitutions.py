"""One email content for many families: their own names as substitution tags.

Every email greets its family ("Dear Anne,") and names their children ("Please keep Amy at
home"), so no two families' messages are identical. ``tag_personal`` takes one rendered
message and the recipient's own values and replaces each value, where it stands as a whole
word, with a tag: ``%dp0%`` for the value as written (subject, plain text), ``%dh0%`` for
its HTML-escaped form in the HTML (its own tag even where escaping changes nothing, so that
"Ann & Joe" and "Anne" still share a content). Families whose messages then
read the same share one SendGrid request, each personalization carrying its own
``substitutions``, and SendGrid puts every family's values back.

It promises that putting the values back, in any order, gives exactly the rendered message;
where it cannot promise that, it returns None and the message goes on its own:

- a value holding ``%`` (it could make or break a tag), or a message that already holds
  ``%d`` (the tags' start), is refused;
- after tagging, every ``%d`` in the message must be one this function wrote (a value could
  otherwise be matched inside a tag written before it);
- the tags and values must fit SendGrid's limit on substitutions per personalization.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import escape

#: Every tag starts with this, and nothing else in a tagged message does.
TAG_START: Final = "%d"
#: SendGrid's limit on one personalization's substitutions (keys and values), in bytes
#: (the v3 Mail Send reference; newer pages allow more, this is the safe figure).
MAX_SUBSTITUTION_BYTES: Final = 10_000


@dataclass(frozen=True)
class Tagged:
    """A message with the recipient's values replaced by tags, and each tag's value."""

    plain: tuple[str, ...]
    html: str | None
    substitutions: dict[str, str]


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _tag_whole_words(text: str, shown: str, tag: str) -> tuple[str, int]:
    """``text`` with each occurrence of ``shown`` that no letter, digit or underscore
    touches replaced by ``tag``; and how many were replaced."""
    pieces = text.split(shown)
    if len(pieces) == 1:
        return text, 0
    out = [pieces[0]]
    count = 0
    last = len(pieces) - 2
    for i in range(len(pieces) - 1):
        before = pieces[i][-1:] or (shown[-1] if i > 0 else "")
        after = pieces[i + 1][:1] or (shown[0] if i < last else "")
        if (before and _is_word(before)) or (after and _is_word(after)):
            out.append(shown)
        else:
            out.append(tag)
            count += 1
        out.append(pieces[i + 1])
    return "".join(out), count


def tag_personal(plain: Sequence[str], html: str | None, personal: Sequence[str]) -> Tagged | None:
    """``plain`` texts (subject, text part) and ``html`` with each non-empty value of
    ``personal`` replaced by its tag where it stands as a whole word; None where the
    substitutions SendGrid would make could give anything but the original texts."""
    values: list[tuple[int, str]] = []
    for index, value in enumerate(personal):
        if not value or any(value == seen for _, seen in values):
            continue
        if "%" in value:
            return None
        values.append((index, value))
    if any(TAG_START in text for text in plain) or (html is not None and TAG_START in html):
        return None
    longest_first = sorted(values, key=lambda item: -len(item[1]))
    substitutions: dict[str, str] = {}
    written = 0

    def tagged(text: str, in_html: bool) -> str:
        nonlocal written
        for index, value in longest_first:
            shown = str(escape(value)) if in_html else value
            tag = f"%dh{index}%" if in_html else f"%dp{index}%"
            text, count = _tag_whole_words(text, shown, tag)
            if count:
                substitutions[tag] = shown
                written += count
        return text

    new_plain = tuple(tagged(text, in_html=False) for text in plain)
    new_html = None if html is None else tagged(html, in_html=True)
    found = sum(text.count(TAG_START) for text in new_plain)
    found += 0 if new_html is None else new_html.count(TAG_START)
    if found != written:
        return None
    size = sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())
    if size > MAX_SUBSTITUTION_BYTES:
        return None
    return Tagged(new_plain, new_html, substitutions)
