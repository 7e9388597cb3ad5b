"""Changes to a ``ContactProfile`` (what routing knows of a contact), typed field by field,
for the tests that build contacts from a base one with ``dataclasses.replace``."""

from __future__ import annotations

from typing import TypedDict

from dispatcher.domain import Channel, Need, StudentLink


class ContactChanges(TypedDict, total=False):
    """Any fields of ``dispatcher.domain.ContactProfile``, with their types."""

    contact_id: int
    links: tuple[StudentLink, ...]
    sms_number: str | None
    has_phone: bool
    email: str | None
    push_token: str | None
    preferred_channel: Channel | None
    language: str | None
    needs: frozenset[Need]
    opt_outs: frozenset[str]
    sms_opted_out: bool
