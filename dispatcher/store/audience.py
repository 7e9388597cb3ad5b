"""Expanding an audience to contacts, streamed in batches ordered by contact id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from dispatcher.audience import AudienceSelector
from dispatcher.domain import Channel, ContactProfile, Need, StudentLink
from dispatcher.store.models import (
    Contact,
    Group,
    GroupMembership,
    SmsOptOut,
    Student,
    StudentContact,
)


@dataclass(frozen=True)
class AudienceContact:
    """A contact in the audience: its routing profile and its address book entries."""

    profile: ContactProfile
    phone_e164: str | None
    email: str | None
    push_token: str | None


def student_filter(school_id: int, selectors: tuple[AudienceSelector, ...]) -> ColumnElement[bool]:
    """SQL condition on ``Student`` matching any of ``selectors`` in the school."""
    parts: list[ColumnElement[bool]] = []
    for selector in selectors:
        if selector.kind == "school":
            parts.append(true())
        elif selector.kind == "year":
            parts.append(Student.year == int(selector.value))
        elif selector.kind == "class":
            parts.append(Student.class_name == selector.value)
        elif selector.kind == "student":
            parts.append(Student.external_id == selector.value)
        elif selector.kind == "group":
            members = (
                select(GroupMembership.student_id)
                .join(Group, Group.id == GroupMembership.group_id)
                .where(Group.school_id == school_id, Group.name == selector.value)
            )
            parts.append(Student.id.in_(members))
    return and_(Student.school_id == school_id, Student.active.is_(True), or_(false(), *parts))


def _split(value: str) -> list[str]:
    return [part for part in value.split(";") if part]


def iter_audience_batches(
    session: Session,
    school_id: int,
    selectors: tuple[AudienceSelector, ...],
    *,
    after_contact_id: int,
    batch_size: int,
    first_batch_size: int | None = None,
) -> Iterator[list[AudienceContact]]:
    """Yield the audience's contacts in batches of ``batch_size`` (the first of
    ``first_batch_size`` when given), by ascending contact id, starting after
    ``after_contact_id``. Each contact appears once, however many audience students it is
    linked to; only the links to audience students are included."""
    in_audience = student_filter(school_id, selectors)
    cursor = after_contact_id
    size = first_batch_size or batch_size
    while True:
        contact_ids = list(
            session.scalars(
                select(StudentContact.contact_id)
                .join(Student, Student.id == StudentContact.student_id)
                .where(in_audience, StudentContact.contact_id > cursor)
                .group_by(StudentContact.contact_id)
                .order_by(StudentContact.contact_id)
                .limit(size)
            )
        )
        if not contact_ids:
            return
        links: dict[int, list[StudentLink]] = defaultdict(list)
        for row in session.execute(
            select(
                StudentContact.contact_id,
                StudentContact.student_id,
                StudentContact.priority,
                StudentContact.parental_responsibility,
                StudentContact.no_contact,
            )
            .join(Student, Student.id == StudentContact.student_id)
            # The batch is exactly the audience's contacts in this id range; a range keeps the
            # statement the same for every batch and lets SQLite use the index.
            .where(
                in_audience,
                StudentContact.contact_id > cursor,
                StudentContact.contact_id <= contact_ids[-1],
            )
            .order_by(StudentContact.contact_id, StudentContact.student_id)
        ):
            links[row.contact_id].append(
                StudentLink(
                    row.student_id, row.priority, row.parental_responsibility, row.no_contact
                )
            )
        batch = load_audience_contacts(session, contact_ids, links)
        yield batch
        cursor = contact_ids[-1]
        size = batch_size


def sms_opted_out_numbers(session: Session, phones: Iterable[str | None]) -> set[str]:
    """Those of ``phones`` that texted STOP (and not START since): table ``sms_opt_outs``."""
    wanted = {p for p in phones if p}
    if not wanted:
        return set()
    return set(
        session.scalars(select(SmsOptOut.phone_e164).where(SmsOptOut.phone_e164.in_(wanted)))
    )


def load_audience_contacts(
    session: Session, contact_ids: list[int], links: Mapping[int, list[StudentLink]]
) -> list[AudienceContact]:
    """Routing profiles (with address book entries) of ``contact_ids``, in id order, each
    with its ``links``. A dead push token counts as none; a number that texted STOP is
    flagged ``sms_opted_out`` (routing honours it where the category allows opting out)."""
    rows = session.execute(
        select(
            Contact.id,
            Contact.phone_e164,
            Contact.phone_sms_capable,
            Contact.email,
            Contact.push_token,
            Contact.push_token_dead,
            Contact.preferred_channel,
            Contact.language,
            Contact.needs,
            Contact.opt_outs,
        )
        .where(Contact.id.in_(contact_ids))
        .order_by(Contact.id)
    ).all()
    opted_out = sms_opted_out_numbers(session, (row.phone_e164 for row in rows))
    batch: list[AudienceContact] = []
    for contact in rows:
        token = None if contact.push_token_dead else contact.push_token
        profile = ContactProfile(
            contact_id=contact.id,
            links=tuple(links.get(contact.id, ())),
            sms_number=contact.phone_e164 if contact.phone_sms_capable else None,
            has_phone=contact.phone_e164 is not None,
            email=contact.email,
            push_token=token,
            preferred_channel=Channel(contact.preferred_channel)
            if contact.preferred_channel
            else None,
            language=contact.language,
            needs=frozenset(Need(n) for n in _split(contact.needs)),
            opt_outs=frozenset(_split(contact.opt_outs)),
            sms_opted_out=contact.phone_e164 in opted_out,
        )
        batch.append(AudienceContact(profile, contact.phone_e164, contact.email, token))
    return batch
