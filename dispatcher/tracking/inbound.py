"""Texts a family sends us: STOP and START keywords record or lift an SMS opt-out for the
number; any other text is kept as a reply against the latest delivery to that number.

Personal data (numbers, message bodies) is stored, never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.domain import Channel
from dispatcher.store.models import (
    Contact,
    Delivery,
    InboundMessage,
    SmsOptOut,
)

log = logging.getLogger("dispatcher.tracking")

#: Twilio's default opt-out and opt-in keywords (Advanced Opt-Out), matched on the whole
#: message, ignoring case, spaces and trailing punctuation.
#: https://help.twilio.com/articles/223134027
STOP_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_KEYWORDS: Final = frozenset({"START", "UNSTOP"})


#: Twilio also takes YES as opting back in; from a number that has not opted out it is a
#: reply (to a consent request, say) and is kept as one.
YES: Final = "YES"


class InboundKind(StrEnum):
    """What a text from a family is."""

    STOP = "stop"
    START = "start"
    REPLY = "reply"


def classify_inbound(body: str, opted_out: bool = False) -> InboundKind:
    """STOP / START when the whole text is one of Twilio's keywords (YES is START only from
    a number that has opted out), else a reply."""
    word = body.strip().rstrip(".!").strip().upper()
    if word in STOP_KEYWORDS:
        return InboundKind.STOP
    if word in START_KEYWORDS or (word == YES and opted_out):
        return InboundKind.START
    return InboundKind.REPLY


@dataclass(frozen=True)
class InboundText:
    """A text a family sent to our number (Twilio's inbound webhook fields)."""

    from_phone: str
    to_phone: str | None
    body: str
    provider_message_id: str | None


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
    kind = classify_inbound(text.body, opted_out=opt_out is not None)
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
