"""Sending one notice to a senior (a text or an email saying a request waits for their
sign-off) through the channel adapters the deliveries use: the school's provider for the
channel (Twilio, SendGrid; the emulator in tests), or the outbox where the school's
messages go to the outbox.

A notice is not a family's delivery: it carries delivery id 0 (no delivery has it), so a
provider's status report about it matches no delivery and changes nothing. The outbox's
table holds family deliveries only, so where the outbox "sends" a notice it is written to
``$DISPATCHER_DATA_DIR/outbox/staff-notices.jsonl`` and its row here says ``outbox``.
Logs name the notice, the request and the account (``staff:<id>``), never an address."""

from __future__ import annotations

import fcntl
import json
import logging
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from dispatcher.access.roles import Role
from dispatcher.audience import parse_audience
from dispatcher.channels.base import (
    ChannelError,
    OutgoingMessage,
    ProviderReceipt,
    TransientFailure,
)
from dispatcher.domain import Channel, MessageFormat, Urgency
from dispatcher.rendering.sms import prepare_sms
from dispatcher.rendering.templates import RenderedMessage
from dispatcher.runtime import Runtime
from dispatcher.signoff.wording import Notice, sign_off_link, sign_off_notice
from dispatcher.store.models import StaffAccount, StaffNotification
from dispatcher.store.sign_offs import claim_notification, finish_notification, get_sign_off

log = logging.getLogger("dispatcher.signoff.notices")

#: The delivery id a notice carries to the adapters: no delivery has it.
NOTICE_DELIVERY_ID = 0
#: The outbox file of the notices, under the outbox folder.
OUTBOX_FILE = "staff-notices.jsonl"


class NoticeResult(StrEnum):
    """What became of one notice."""

    SENT = "sent"
    FAILED = "failed"
    #: The provider could not take it now: queued again, to be retried.
    RETRY = "retry"
    #: Not queued (already sent, or another worker has it): nothing done.
    SKIPPED = "skipped"


def rendered_notice(notice: Notice, channel: Channel) -> RenderedMessage:
    """The notice as a channel sends it: the measured text, or the email (plain text)."""
    if channel is Channel.SMS:
        sms = prepare_sms(notice.text)
        return RenderedMessage(
            category="sign_off",
            channel=channel,
            language="en",
            format=MessageFormat.STANDARD,
            subject=None,
            body=sms.text,
            html=None,
            title=None,
            sms=sms,
            direction="ltr",
        )
    return RenderedMessage(
        category="sign_off",
        channel=channel,
        language="en",
        format=MessageFormat.STANDARD,
        subject=notice.subject,
        body=notice.email_body,
        html=None,
        title=None,
        sms=None,
        direction="ltr",
    )


def _to_outbox(folder: Path, notification: StaffNotification, message: OutgoingMessage) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "staff_notice": notification.id,
        "sign_off_request": notification.sign_off_request_id,
        "account": f"staff:{notification.staff_account_id}",
        "school": message.school_slug,
        "channel": message.channel.value,
        "to": message.to,
        "subject": message.rendered.subject,
        "body": message.rendered.body,
    }
    with (folder / OUTBOX_FILE).open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return f"outbox-staff-{notification.id}"


def send_notice(runtime: Runtime, notification_id: int, now: datetime) -> NoticeResult:
    """Send the queued notice ``notification_id`` once and record what became of it."""
    with runtime.sessions() as session:
        notification = claim_notification(session, notification_id)
        if notification is None:
            return NoticeResult.SKIPPED
        account = session.get(StaffAccount, notification.staff_account_id)
        row = get_sign_off(session, notification.sign_off_request_id)
        assert row is not None and account is not None
        requester = session.get(StaffAccount, row.requested_by_id)
        assert requester is not None
        school = runtime.configuration.schools[row.school_slug]
        channel = Channel(notification.channel)
        to = account.phone if channel is Channel.SMS else account.email
        requester_role = Role(requester.role)
    label = f"staff notice {notification_id} (sign-off request {row.id}, staff:{account.id})"
    if not to:
        return _finish(runtime, notification_id, now, NoticeResult.FAILED, error="no address")
    notice = sign_off_notice(
        school.name,
        requester_role,
        row.category,
        parse_audience(list(row.request.get("audience", []))),
        sign_off_link(runtime.providers.public_base_url, row.id),
    )
    message = OutgoingMessage(
        delivery_id=NOTICE_DELIVERY_ID,
        announcement_id=0,
        school_slug=school.slug,
        category="sign_off",
        channel=channel,
        to=to,
        rendered=rendered_notice(notice, channel),
        sender_id=school.sender_id,
        from_email=school.from_email,
        reply_to=school.reply_to,
        urgency=Urgency.URGENT,
    )
    adapter = runtime.adapter_for(school, channel)
    try:
        if adapter is runtime.outbox:
            receipt = ProviderReceipt(
                "outbox", _to_outbox(runtime.settings.outbox_dir, notification, message)
            )
        else:
            receipt = adapter.send(message)
    except TransientFailure as exc:
        log.info("%s by %s not taken now (%s): retried", label, channel.value, exc.code)
        return _finish(runtime, notification_id, now, NoticeResult.RETRY, error=exc.code)
    except ChannelError as exc:
        log.warning("%s by %s failed: %s", label, channel.value, exc.code)
        return _finish(runtime, notification_id, now, NoticeResult.FAILED, error=exc.code)
    log.info("%s sent by %s through %s", label, channel.value, receipt.provider)
    return _finish(runtime, notification_id, now, NoticeResult.SENT, receipt=receipt)


def _finish(
    runtime: Runtime,
    notification_id: int,
    now: datetime,
    result: NoticeResult,
    receipt: ProviderReceipt | None = None,
    error: str | None = None,
) -> NoticeResult:
    state = {NoticeResult.SENT: "sent", NoticeResult.RETRY: "queued"}.get(result, "failed")
    with runtime.sessions() as session:
        finish_notification(
            session,
            notification_id,
            state,
            now,
            provider=receipt.provider if receipt else None,
            provider_message_id=receipt.provider_message_id if receipt else None,
            error=error,
        )
    return result
