"""SMS text: GSM-7 or UCS-2, how many segments it costs, and look-alike clean-up.

A text message is sent in GSM-7 (160 characters, or 153 a segment when split) only if every
character is in the GSM 03.38 alphabet; one other character turns the whole message into
UCS-2 (70, or 67 a segment). A curly apostrophe pasted from a word processor can therefore
double what a text costs. ``sanitise_for_gsm`` replaces such look-alikes with their GSM-7
forms, as GOV.UK Notify does, but leaves real letters alone: Welsh, Polish or Urdu text stays
UCS-2, because the letters are the message.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

SmsEncoding = Literal["GSM-7", "UCS-2"]

#: GSM 03.38 default alphabet (one septet each); the escape code itself is not a character.
GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: sent as escape + character, so two septets each.
GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

GSM_SINGLE_SEGMENT: Final = 160
GSM_MULTI_SEGMENT: Final = 153
UCS2_SINGLE_SEGMENT: Final = 70
UCS2_MULTI_SEGMENT: Final = 67

_LOOK_ALIKES: Final[dict[str, str]] = {
    # single quotes, apostrophes, primes and accents used as apostrophes
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u0060\u00b4", "'"),
    **dict.fromkeys("\u2039\u203a\uff07", "'"),
    # double quotes, guillemets and double primes
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\uff02", '"'),
    # hyphens, dashes and minus signs
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
    # bullets
    **dict.fromkeys("\u2022\u2023\u2043\u2219\u25e6\u25cf\u25aa", "-"),
    # tab, no-break and typographic spaces
    **dict.fromkeys("\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006", " "),
    **dict.fromkeys("\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    # line and paragraph separators that are not GSM-7
    **dict.fromkeys("\v\u0085\u2028\u2029", "\n"),
    # invisible characters that carry no meaning in a text message
    **dict.fromkeys("\u200b\u2060\ufeff\u00ad", ""),
    "\u2026": "...",
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
}

# Joiners and direction marks matter in Urdu, Persian or emoji, which are UCS-2 anyway; in a
# text that is otherwise GSM-7 they are invisible noise that would make it UCS-2.
_JOINERS_AND_MARKS: Final = frozenset(
    "\u200c\u200d\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: Characters that ``sanitise_for_gsm`` turns into GSM-7 (or removes).
LOOK_ALIKES: Final = frozenset(_LOOK_ALIKES) | _JOINERS_AND_MARKS

_THREE_OR_MORE_NEWLINES: Final = re.compile(r"\n{3,}")
_GSM_ALL: Final = frozenset(GSM_BASIC) | frozenset(GSM_EXTENSION)


def _sanitise_char(char: str) -> str:
    replacement = _LOOK_ALIKES.get(char)
    if replacement is not None:
        return replacement
    if unicodedata.category(char) == "Cc" and not is_gsm(char):
        return ""  # control characters (other than newline and tab) are never meant
    return char


def sanitise_for_gsm(text: str) -> str:
    """Replace look-alike characters with their GSM-7 forms; never change a real letter.

    Curly quotes become ``'`` and ``"``, dashes and minus signs ``-``, ``…`` becomes ``...``,
    bullets ``-``, unusual spaces a space; zero-width characters and stray control characters
    are removed. Characters already in GSM-7 are never changed, and letters with no GSM-7 form
    (Welsh ŵ, Polish ł, Urdu script, ç) are kept, so such a text stays UCS-2. Joiners and
    direction marks are removed only when everything else in the text is GSM-7. The text is
    first put in Unicode NFC form (so ``e`` + combining acute becomes GSM-7 ``é``).
    Applying it twice gives the same result as applying it once.
    """
    composed = unicodedata.normalize("NFC", text)
    if _GSM_ALL.issuperset(composed):
        return composed  # the usual case: nothing to replace
    replaced = "".join(_sanitise_char(char) for char in composed)
    # removing an invisible character can bring a letter and a combining accent together
    sanitised = unicodedata.normalize("NFC", replaced)
    if all(is_gsm(char) or char in _JOINERS_AND_MARKS for char in sanitised):
        sanitised = "".join(char for char in sanitised if char not in _JOINERS_AND_MARKS)
    return sanitised


def is_gsm(text: str) -> bool:
    """Return True if every character of ``text`` is in the GSM-7 alphabet or its extension."""
    return _GSM_ALL.issuperset(text)


def sms_encoding(text: str) -> SmsEncoding:
    """Return ``"GSM-7"`` if every character can be sent in GSM-7, otherwise ``"UCS-2"``.

    The empty text is GSM-7.
    """
    return "GSM-7" if is_gsm(text) else "UCS-2"


def _unit_sizes(text: str, encoding: SmsEncoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if char in GSM_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]  # UTF-16 surrogate pairs


def encoded_length(text: str) -> int:
    """Return the length that SMS limits count: septets for GSM-7, UTF-16 units for UCS-2.

    GSM-7 extension characters (``^ { } \\ [ ~ ] | €``) count two septets; characters
    outside the Basic Multilingual Plane (most emoji) count two UCS-2 units.
    """
    return sum(_unit_sizes(text, sms_encoding(text)))


def _packed_segments(unit_sizes: Iterable[int], capacity: int) -> int:
    # An escaped GSM-7 character or a surrogate pair is never split across two segments.
    segments, used = 1, 0
    for size in unit_sizes:
        if used + size > capacity:
            segments += 1
            used = 0
        used += size
    return segments


def segment_count(text: str) -> int:
    """Return how many SMS segments ``text`` is sent (and billed) as; 0 for the empty text.

    GSM-7: one segment up to 160 septets, otherwise segments of 153 septets. UCS-2: one segment
    up to 70 UTF-16 units, otherwise segments of 67. When split, a two-septet GSM-7 character
    or a surrogate pair that would straddle a boundary moves whole to the next segment, as on
    the network, so this can be one more than ``ceil(length / 153)`` (or ``/ 67``).
    """
    if not text:
        return 0
    encoding = sms_encoding(text)
    sizes = _unit_sizes(text, encoding)
    single, multi = (
        (GSM_SINGLE_SEGMENT, GSM_MULTI_SEGMENT)
        if encoding == "GSM-7"
        else (UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT)
    )
    if sum(sizes) <= single:
        return 1
    return _packed_segments(sizes, multi)


def normalise_whitespace(text: str) -> str:
    r"""Tidy the layout of a rendered text without changing its words.

    Line endings become ``\n``, trailing spaces are removed from every line, three or more
    newlines in a row become two (one blank line), and the text is stripped at both ends.
    """
    unix = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = "\n".join(line.rstrip() for line in unix.split("\n"))
    return _THREE_OR_MORE_NEWLINES.sub("\n\n", lines).strip()


@dataclass(frozen=True)
class SmsText:
    """A text ready to send, measured.

    ``characters`` is the number of characters a reader sees (``len(text)``); the segments
    are counted on the encoded length (see ``encoded_length``).
    """

    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    characters: int


def prepare_sms(text: str) -> SmsText:
    """Sanitise look-alikes, tidy whitespace and measure: the text exactly as it will be sent.

    Any text made only of GSM-7 characters and the look-alikes ``sanitise_for_gsm`` knows
    comes out GSM-7.
    """
    final_text = normalise_whitespace(sanitise_for_gsm(text))
    return SmsText(
        text=final_text,
        encoding=sms_encoding(final_text),
        segments=segment_count(final_text),
        characters=len(final_text),
    )
