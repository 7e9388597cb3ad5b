"""Outgoing messages for adapter tests, built directly (no database, no templates)."""

from __future__ import annotations

from dispatcher.channels.base import OutgoingMessage
from dispatcher.domain import Channel, MessageFormat
from dispatcher.rendering.sms import prepare_sms
from dispatcher.rendering.templates import RenderedMessage

SMS_TEXT = "Brockmoor Primary: the school is closed on Tuesday 24 November (heavy snow)."


def sms_message(
    delivery_id: int = 1,
    to: str = "+447700900001",
    text: str = SMS_TEXT,
    sender_id: str = "Brockmoor",
    category: str = "emergency_closure",
) -> OutgoingMessage:
    """An SMS delivery, rendered and measured as the pipeline would."""
    sms = prepare_sms(text)
    rendered = RenderedMessage(
        category=category,
        channel=Channel.SMS,
        language="en",
        format=MessageFormat.STANDARD,
        subject=None,
        body=sms.text,
        html=None,
        title=None,
        sms=sms,
        direction="ltr",
    )
    return _message(delivery_id, to, rendered, sender_id=sender_id)


def email_message(
    delivery_id: int = 1,
    to: str = "anne@example.com",
    subject: str = "School closed on Tuesday",
    body: str = "Dear Anne,\n\nThe school is closed on Tuesday 24 November.",
    html: str | None = "<h1>School closed</h1><p>The school is closed on Tuesday.</p>",
    category: str = "emergency_closure",
    announcement_id: int = 7,
    personal: tuple[str, ...] = (),
) -> OutgoingMessage:
    """An email delivery with text and HTML parts (``personal``: the family's own values
    in them)."""
    rendered = RenderedMessage(
        category=category,
        channel=Channel.EMAIL,
        language="en",
        format=MessageFormat.STANDARD,
        subject=subject,
        body=body,
        html=html,
        title=None,
        sms=None,
        direction="ltr",
    )
    return _message(delivery_id, to, rendered, announcement_id=announcement_id, personal=personal)


def push_message(
    delivery_id: int = 1,
    token: str = "fcm-token-0001",
    title: str = "School closed",
    body: str = "The school is closed on Tuesday 24 November (heavy snow).",
    category: str = "emergency_closure",
) -> OutgoingMessage:
    """A push delivery."""
    rendered = RenderedMessage(
        category=category,
        channel=Channel.PUSH,
        language="en",
        format=MessageFormat.STANDARD,
        subject=None,
        body=body,
        html=None,
        title=title,
        sms=None,
        direction="ltr",
    )
    return _message(delivery_id, token, rendered)


def _message(
    delivery_id: int,
    to: str,
    rendered: RenderedMessage,
    sender_id: str = "Brockmoor",
    announcement_id: int = 7,
    personal: tuple[str, ...] = (),
) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id=delivery_id,
        announcement_id=announcement_id,
        school_slug="brockmoor",
        category=rendered.category,
        channel=rendered.channel,
        to=to,
        rendered=rendered,
        sender_id=sender_id,
        from_email="office@brockmoor.example.org",
        reply_to="office@brockmoor.example.org",
        personal=personal,
    )
