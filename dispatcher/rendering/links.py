"""Links in messages: which template variables are links, and which links may go out.

A template variable is a link when its name is ``url`` or ends in ``_url`` or ``_link``
(``letter_url``, ``details_url``, ``form_url``, ``payment_link``...); every template uses that
naming. A link a request gives must be ``https:``: a ``javascript:`` or ``data:`` URL would
be a clickable ``href`` in the HTML email, and an ``http:`` one can be rewritten on the way.
The rendered HTML is checked again (:func:`unsafe_href`): an ``href`` or ``src`` must be
``https:``, ``mailto:`` or ``tel:``, or the school's own configured website. Pure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

#: Schemes an ``href`` in a rendered email may have besides ``https``.
SAFE_HREF_SCHEMES: Final = frozenset({"https", "mailto", "tel"})
#: The longest link a request may give.
MAX_LINK_LENGTH: Final = 500

_ATTRIBUTE = re.compile(r"""\b(?:href|src|action|formaction)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
# Browsers drop ASCII tabs and line breaks anywhere in a URL and spaces around it, so
# "java\tscript:" is javascript:.
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")


def is_link_variable(name: str) -> bool:
    """Whether template variable ``name`` holds a link (``url``, ``*_url``, ``*_link``)."""
    return name == "url" or name.endswith(("_url", "_link"))


def link_problem(value: str) -> str | None:
    """Why ``value`` may not be sent as a link, or None when it is an ``https://`` URL with a
    host, no spaces or control characters, at most :data:`MAX_LINK_LENGTH` characters. The
    reason never repeats the value."""
    if len(value) > MAX_LINK_LENGTH:
        return f"must be an https:// link of at most {MAX_LINK_LENGTH} characters"
    if _IGNORED_IN_URL.search(value):
        return "must be an https:// link without spaces or control characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "must be an https:// link"
    if parts.scheme.lower() != "https" or not parts.hostname:
        return "must be an https:// link (e.g. https://school.example/letter)"
    return None


def unsafe_href(rendered_html: str, also_allowed: Collection[str] = ()) -> str | None:
    """The first link attribute (``href``, ``src``...) of ``rendered_html`` whose scheme is
    not ``https``, ``mailto`` or ``tel`` and that is not one of ``also_allowed`` (the
    school's configured website); None when every link is safe. Returns the scheme found
    (``javascript``, ``http``, or ``relative``), never the URL."""
    allowed = {value.strip() for value in also_allowed if value}
    for match in _ATTRIBUTE.finditer(rendered_html):
        url = html.unescape(match.group(1) if match.group(1) is not None else match.group(2))
        if url.strip() in allowed:
            continue
        cleaned = _IGNORED_IN_URL.sub("", url).lower()
        scheme = _SCHEME.match(cleaned)
        if scheme is None:
            return "relative"
        if scheme.group(1) not in SAFE_HREF_SCHEMES:
            return scheme.group(1)
    return None
