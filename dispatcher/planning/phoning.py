"""Whether the office may phone a contact: what the lists the office phones from say beside
a name (the report's not-reached list and its other numbers, the dry run's unreachable list).

A contact's needs decide it. A hearing-impaired contact is never offered as a call to make:
they are reached by text, email or Relay UK (the text relay service, dialled as 18002 and
the number). A sight-impaired contact (``visually_impaired``, or ``screen_reader``) reads
texts and emails with difficulty, so a phone call comes first. A contact with both is not
phoned: a call they cannot hear helps nobody, and Relay UK reaches a textphone or a braille
display (decision 0066).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final

from dispatcher.domain import CallOutcome, Need

#: Beside a contact who must not be phoned.
DO_NOT_PHONE: Final = "do not phone — text, email or Relay UK"
#: Beside a contact to phone before anything else.
PHONE_FIRST: Final = "phone first"


def phone_advice(needs: Collection[Need]) -> str:
    """What the office should know before phoning a contact with ``needs``: ``DO_NOT_PHONE``
    for a hearing-impaired contact, ``PHONE_FIRST`` for a sight-impaired one, else ``""``."""
    if Need.HEARING_IMPAIRED in needs:
        return DO_NOT_PHONE
    if Need.VISUALLY_IMPAIRED in needs or Need.SCREEN_READER in needs:
        return PHONE_FIRST
    return ""


def may_phone(needs: Collection[Need]) -> bool:
    """True unless the contact must not be offered as a call to make."""
    return phone_advice(needs) != DO_NOT_PHONE


def parse_needs(stored: str | None) -> frozenset[Need]:
    """The needs of a contact row (``;``-separated, as the roster import stores them); an
    unknown word is ignored rather than failing a report."""
    known = {need.value: need for need in Need}
    words = (word.strip().lower() for word in (stored or "").split(";"))
    return frozenset(known[word] for word in words if word in known)


def for_the_office(people: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Rows of ``store.contacts.describe_contacts`` made safe to phone from: the stored
    ``needs`` become ``phone_advice``; a contact who must not be phoned keeps an empty
    ``phone`` and their number moves to ``text_relay_number`` (to text, or to reach through
    Relay UK), so no list offers it as a call to make."""
    marked: list[dict[str, str]] = []
    for person in people:
        row = dict(person)
        advice = phone_advice(parse_needs(row.pop("needs", "")))
        row["phone_advice"] = advice
        row["text_relay_number"] = ""
        if advice == DO_NOT_PHONE:
            row["text_relay_number"], row["phone"] = row.get("phone", ""), ""
        marked.append(row)
    return marked


#: Call outcomes after which the family has the message: a person answered, or a message was
#: left on their voicemail (decision 0084). No answer and a wrong number leave them to phone.
TELLS_THE_FAMILY: Final = frozenset({CallOutcome.REACHED, CallOutcome.VOICEMAIL})


def told_by_phone(outcomes: Iterable[CallOutcome]) -> bool:
    """True when one of the calls logged for a family told them (``TELLS_THE_FAMILY``)."""
    return any(outcome in TELLS_THE_FAMILY for outcome in outcomes)
