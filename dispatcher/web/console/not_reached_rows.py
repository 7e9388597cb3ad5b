"""The families still to phone, as the office reads them: from the report's ``not_reached``
rows (one per contact the messages did not reach), one entry per family (the pupil) that
nobody has reached and nobody has told by phone, with each contact's relationship, the
number to ring in national format and as a ``tel:`` link (never for a contact who must not
be phoned), the needs in words, other numbers to try, the calls so far, and who the call
form may name. Also the CSV lines of that list. Pure functions (decision 0092)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatcher.domain import CallOutcome
from dispatcher.planning.phoning import DO_NOT_PHONE
from dispatcher.rendering.phone_numbers import readable_phone

#: Each call outcome in the office's words, in the order the form offers them.
OUTCOME_WORDS: dict[CallOutcome, str] = {
    CallOutcome.REACHED: "Reached: they have the news",
    CallOutcome.NO_ANSWER: "No answer",
    CallOutcome.VOICEMAIL: "Left a voicemail",
    CallOutcome.WRONG_NUMBER: "Wrong number",
}
#: The short form, in the list of calls so far.
OUTCOME_SHORT: dict[str, str] = {
    CallOutcome.REACHED.value: "reached",
    CallOutcome.NO_ANSWER.value: "no answer",
    CallOutcome.VOICEMAIL.value: "voicemail left",
    CallOutcome.WRONG_NUMBER.value: "wrong number",
}
#: The columns of the CSV of families to phone.
CSV_COLUMNS = (
    "student_id",
    "student_name",
    "contact_id",
    "contact_name",
    "relationship",
    "phone",
    "phone_advice",
    "text_relay_number",
    "reason",
    "other_numbers",
    "last_call",
)


@dataclass(frozen=True)
class Number:
    """A number the office may ring (``tel`` is E.164, ``shown`` as a person dials it)."""

    contact_id: str
    name: str
    tel: str
    shown: str
    advice: str


@dataclass(frozen=True)
class Person:
    """A contact of the family whom no message reached."""

    contact_id: str
    name: str
    relationship: str
    number: Number | None
    advice: str
    relay: str
    reason: str

    @property
    def do_not_phone(self) -> bool:
        """Whether this contact must not be phoned (hearing impaired)."""
        return self.advice == DO_NOT_PHONE


@dataclass(frozen=True)
class Call:
    """One call logged for the family, in words."""

    outcome: str
    contact_name: str
    called_by: str
    at: str
    note: str


@dataclass(frozen=True)
class Family:
    """One family still to phone."""

    key: str
    dom_id: str
    student_id: str
    student_name: str
    people: list[Person]
    others: list[Number]
    calls: list[Call]
    #: Who the call form may say was phoned: (contact MIS id, label).
    choices: list[tuple[str, str]] = field(default_factory=list)


def family_key(row: Mapping[str, Any]) -> str:
    """A family's key: its pupil's MIS id, or the contact's for a contact with no pupil."""
    return (
        f"student:{row['student_id']}" if row.get("student_id") else f"contact:{row['contact_id']}"
    )


def dom_id(key: str) -> str:
    """An id for the family's part of the page that stays the same from one refresh to the
    next and is a valid HTML id whatever the MIS ids contain."""
    return "family-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def reason_words(reason: str) -> str:
    """Why no message reached a contact, without the report's code in front
    ("no_channel: no mobile that takes texts" reads "No mobile that takes texts")."""
    code, sep, detail = reason.partition(": ")
    if sep and code.replace("_", "").isalpha() and code == code.lower() and " " not in code:
        reason = detail
    return reason[:1].upper() + reason[1:]


def _number(contact_id: str, name: str, e164: str, advice: str) -> Number | None:
    if not e164:
        return None
    return Number(contact_id, name, e164, readable_phone(e164), advice)


def _calls(rows: list[Mapping[str, Any]], who: Mapping[str, str]) -> list[Call]:
    return [
        Call(
            outcome=OUTCOME_SHORT.get(str(call["outcome"]), str(call["outcome"])),
            contact_name=str(call["contact_name"]),
            called_by=who.get(str(call["called_by"]), str(call["called_by"])),
            at=str(call.get("at_local") or call["at"]),
            note=str(call.get("note") or ""),
        )
        for call in rows
    ]


def families_to_phone(
    rows: Iterable[Mapping[str, Any]],
    relationships: Mapping[tuple[str, str], str],
    who: Mapping[str, str] | None = None,
) -> list[Family]:
    """The families of the report's ``not_reached`` ``rows`` that nobody has reached or
    told by phone, in the rows' order; ``relationships`` by (pupil, contact) MIS ids;
    ``who`` turns a caller's recorded name (``staff:7``) into words."""
    names = who or {}
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("family_reached"):
            continue
        grouped.setdefault(family_key(row), []).append(row)
    families: list[Family] = []
    for key, members in grouped.items():
        first = members[0]
        people = [
            Person(
                contact_id=str(m["contact_id"]),
                name=str(m["contact_name"]),
                relationship=relationships.get((str(m["student_id"]), str(m["contact_id"])), ""),
                number=_number(
                    str(m["contact_id"]),
                    str(m["contact_name"]),
                    str(m.get("phone") or ""),
                    str(m.get("phone_advice") or ""),
                ),
                advice=str(m.get("phone_advice") or ""),
                relay=readable_phone(str(m.get("text_relay_number") or "")),
                reason=reason_words(str(m.get("reason") or "")),
            )
            for m in members
        ]
        listed = {p.contact_id for p in people}
        others: dict[str, Number] = {}
        for m in members:
            for other in m.get("other_numbers") or []:
                if other["contact_id"] in listed or other["phone"] in others:
                    continue
                number = _number(
                    str(other["contact_id"]),
                    str(other["contact_name"]),
                    str(other["phone"]),
                    str(other.get("phone_advice") or ""),
                )
                if number is not None:
                    others[number.tel] = number
        choices = [
            (p.contact_id, f"{p.name}" + (" (through Relay UK)" if p.do_not_phone else ""))
            for p in people
        ]
        choices += [(n.contact_id, n.name) for n in others.values()]
        families.append(
            Family(
                key=key,
                dom_id=dom_id(key),
                student_id=str(first.get("student_id") or ""),
                student_name=str(first.get("student_name") or ""),
                people=people,
                others=list(others.values()),
                calls=_calls(list(first.get("calls") or []), names),
                choices=list(dict(choices).items()),
            )
        )
    return families


def _last_call(family: Family) -> str:
    if not family.calls:
        return ""
    call = family.calls[-1]
    note = f": {call.note}" if call.note else ""
    return f"{call.outcome} ({call.called_by}, {call.at}, to {call.contact_name}){note}"


def csv_lines(families: Iterable[Family]) -> list[dict[str, str]]:
    """The CSV lines of ``families`` (``CSV_COLUMNS``): one per contact not reached, numbers
    as people dial them; the caller writes them through ``reporting.csv_safe``."""
    lines: list[dict[str, str]] = []
    for family in families:
        others = "; ".join(
            n.shown + (f" ({n.advice})" if n.advice else "") + f" {n.name}" for n in family.others
        )
        for person in family.people:
            lines.append(
                {
                    "student_id": family.student_id,
                    "student_name": family.student_name,
                    "contact_id": person.contact_id,
                    "contact_name": person.name,
                    "relationship": person.relationship,
                    "phone": person.number.shown if person.number else "",
                    "phone_advice": person.advice,
                    "text_relay_number": person.relay,
                    "reason": person.reason,
                    "other_numbers": others,
                    "last_call": _last_call(family),
                }
            )
    return lines
