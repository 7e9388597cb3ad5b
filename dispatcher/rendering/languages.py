"""Language tags as a person reads them ("pl" is Polish, "pt-BR" Portuguese (Brazil)), in
English, from the CLDR data Babel carries."""

from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError


@functools.lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """The English name of the language ``tag`` (BCP 47, ``pl``, ``pt-BR``); the tag itself
    when Babel does not know it."""
    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name("en")
    except (UnknownLocaleError, ValueError, TypeError):
        return tag
    return name or tag


def language_label(tag: str) -> str:
    """``"Polish (pl)"``: the name and the tag, or the tag alone when it has no name."""
    name = language_name(tag)
    return tag if name == tag else f"{name} ({tag})"
