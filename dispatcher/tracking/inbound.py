"""Texts a family sends us: a text its provider takes as opting out (STOP) or back in
(START) records or lifts an SMS opt-out for the number, as the provider itself now blocks or
sends again; any other text is kept as a reply against the latest delivery to that number.

Personal data (numbers, message bodies) is stored, never logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.channels.reports import InboundText, Keyword
from dispatcher.domain import Channel
from dispatcher.store.models import (
    Contact,
    Delivery,
    InboundMessage,
    SmsOptOut,
)

log = logging.getLogger("dispatcher.tracking")


class InboundKind(StrEnum):
    """What a text from a family is."""

    STOP = "stop"
    START = "start"
    REPLY = "reply"


def classify_inbound(keyword: Keyword, opted_out: bool = False) -> InboundKind:
    """STOP or START when the provider takes the text as opting out or back in (some words
    opt back in only a number that has opted out), else a reply."""
    if keyword is Keyword.STOP:
        return InboundKind.STOP
    if keyword is Keyword.START or (keyword is Keyword.START_IF_OPTED_OUT and opted_out):
        return InboundKind.START
    return InboundKind.REPLY


def record_inbound(
    session: Session, text: InboundText, received_at: datetime
) -> InboundKind | None:
    """Store an inbound text once (by its provider id) and apply it: STOP records an SMS
    opt-out for the number, START lifts it, anything else is a reply matched to the latest
    SMS delivery to that number. Returns its kind, or None when it was a repeat. The caller
    commits."""
    if text.provider_message_id is not None:
        seen = session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.provider_message_id == text.provider_message_id
            )
        )
        if seen is not None:
            return None
    opt_out = session.get(SmsOptOut, text.from_phone)
    kind = classify_inbound(text.keyword, opted_out=opt_out is not None)
    latest = session.execute(
        select(Delivery.id, Delivery.announcement_id, Delivery.contact_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Contact.phone_e164 == text.from_phone, Delivery.channel == Channel.SMS.value)
        .order_by(Delivery.sent_at.desc().nulls_last(), Delivery.id.desc())
        .limit(1)
    ).one_or_none()
    try:
        with session.begin_nested():
            session.add(
                InboundMessage(
                    received_at=received_at,
                    provider_message_id=text.provider_message_id,
                    from_phone=text.from_phone[:20],
                    to_phone=text.to_phone[:20] if text.to_phone else None,
                    body=text.body,
                    kind=kind.value,
                    delivery_id=latest.id if latest else None,
                    announcement_id=latest.announcement_id if latest else None,
                    contact_id=latest.contact_id if latest else None,
                )
            )
    except IntegrityError:  # the same message, recorded by a concurrent request
        return None
    if kind is InboundKind.STOP:
        if opt_out is None:
            session.add(
                SmsOptOut(
                    phone_e164=text.from_phone,
                    keyword=text.body.strip().upper()[:16],
                    opted_out_at=received_at,
                )
            )
    elif kind is InboundKind.START:
        session.execute(delete(SmsOptOut).where(SmsOptOut.phone_e164 == text.from_phone))
    log.info(
        "inbound %s%s",
        kind.value,
        f" for delivery {latest.id}" if latest else " (no delivery to that number)",
    )
    return kind
