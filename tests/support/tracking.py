"""Helpers for the delivery-tracking tests: sending without workers, and posting webhooks
signed exactly as Twilio and SendGrid sign them (with their SDKs' algorithms)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from dispatcher.channels.base import OutgoingMessage, ProviderReceipt
from dispatcher.channels.registry import ChannelRegistry
from dispatcher.channels.reports import ProviderStatus
from dispatcher.delivery.deliver import deliver
from dispatcher.domain import Channel
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.models import Delivery, DeliveryEvent
from dispatcher.tracking.statuses import apply_statuses
from emulator.signing import EmulatorKeys

TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "tracking-test-twilio-token"
PUBLIC_BASE_URL = "http://testserver"
NEWSLETTER_VARS = {"title": "November news", "url": "https://demo-primary.example/news"}


class Webhooks:
    """Posts signed provider webhooks to a test client; collects what the app queues."""

    def __init__(self, client: Any, keys: EmulatorKeys) -> None:
        self.client = client
        self.keys = keys
        self.queued: list[QueuedWork] = []

    def twilio(
        self, path: str, params: dict[str, str], token: str = TWILIO_TOKEN, sign: bool = True
    ) -> Any:
        """POST a form to ``path`` (with its query) signed with ``token``."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            url = PUBLIC_BASE_URL + path
            headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, params)
        return self.client.post(path, content=urlencode(params), headers=headers)

    def status(
        self, delivery: Delivery, status: str, error_code: str | None = None, **kw: Any
    ) -> Any:
        """A Twilio status callback for ``delivery``, as its StatusCallback URL gives it."""
        params = {
            "AccountSid": TWILIO_SID,
            "MessageSid": delivery.provider_message_id or "SM" + "0" * 32,
            "MessageStatus": status,
            "To": "+447700900001",
            "From": "DemoPrim",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return self.twilio(f"/webhooks/twilio/status?delivery_id={delivery.id}", params, **kw)

    def inbound(self, from_phone: str, body: str, sid: str, **kw: Any) -> Any:
        """A Twilio inbound-SMS webhook."""
        params = {
            "AccountSid": TWILIO_SID,
            "MessageSid": sid,
            "From": from_phone,
            "To": "+447700900999",
            "Body": body,
        }
        return self.twilio("/webhooks/twilio/inbound", params, **kw)

    def sendgrid(self, events: list[dict[str, Any]], keys: EmulatorKeys | None = None) -> Any:
        """A SendGrid Event Webhook batch signed with ``keys`` (default: the configured ones)."""
        payload = json.dumps(events, separators=(",", ":"))
        timestamp = str(int(TUESDAY_10AM.timestamp()))
        signature = (keys or self.keys).sign_sendgrid_payload(timestamp, payload)
        return self.client.post(
            "/webhooks/sendgrid/events",
            content=payload,
            headers={
                "Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            },
        )


def configure_webhooks(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> Webhooks:
    """Webhook secrets configured (call after the runtime is built, so sending stays on the
    outbox), and the app's follow-up queueing captured instead of going to Redis."""
    from dispatcher.web.routes.provider_webhooks import get_enqueue

    keys = EmulatorKeys()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("DISPATCHER_PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", keys.sendgrid_public_key())
    hooks = Webhooks(client, keys)
    app.dependency_overrides[get_enqueue] = lambda: hooks.queued.extend
    return hooks


def send(runtime: Runtime, work: list[QueuedWork], moment: datetime = TUESDAY_10AM) -> None:
    """Deliver every queued item, and whatever follow-ups they queue, without workers."""
    pending = list(work)
    while pending:
        item = pending.pop(0)
        for delivery_id in item.object_ids:
            deliver(runtime, delivery_id, lambda: moment, pending.extend)


def deliveries(runtime: Runtime, announcement_id: int) -> list[Delivery]:
    """The announcement's deliveries, by id (detached snapshots)."""
    with runtime.sessions() as session:
        rows = list(
            session.scalars(
                select(Delivery)
                .where(Delivery.announcement_id == announcement_id)
                .order_by(Delivery.id)
            )
        )
        session.expunge_all()
        return rows


def one(rows: list[Delivery], **match: Any) -> Delivery:
    """The only delivery matching every ``field=value``."""
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(r.id, r.channel, r.kind, r.state) for r in rows])
    return found[0]


def events(runtime: Runtime, delivery_id: int) -> list[tuple[str, str, str | None]]:
    """A delivery's events: (from, to, code), in order."""
    with runtime.sessions() as session:
        return [
            (e.from_state, e.to_state, e.code)
            for e in session.scalars(
                select(DeliveryEvent)
                .where(DeliveryEvent.delivery_id == delivery_id)
                .order_by(DeliveryEvent.id)
            )
        ]


class RefusingAdapter:
    """A channel adapter that refuses the channels it is told to (as a provider refuses at
    send time) and accepts the rest, recording them like the outbox."""

    name = "refusing"

    def __init__(self, refusals: dict[Channel, Exception]) -> None:
        self.refusals = refusals
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Raise the channel's refusal, or accept."""
        refusal = self.refusals.get(message.channel)
        if refusal is not None:
            raise refusal
        self.sent.append(message)
        return ProviderReceipt(self.name, f"refusing-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Never known."""
        return None


def with_adapter(runtime: Runtime, adapter: Any) -> Runtime:
    """``runtime`` sending every channel through ``adapter``."""
    return dataclasses.replace(runtime, channels=ChannelRegistry(dict.fromkeys(Channel, adapter)))


def report_status(
    runtime: Runtime, delivery: Delivery, status: str, code: str | None = None
) -> list[QueuedWork]:
    """Apply a provider's report for ``delivery`` as its webhook would; return the queued
    follow-ups."""
    provider = "twilio" if delivery.channel == Channel.SMS.value else "sendgrid"
    queued: list[QueuedWork] = []
    apply_statuses(
        runtime,
        [ProviderStatus(provider, status, delivery.id, code=code)],
        TUESDAY_10AM,
        queued.extend,
    )
    return queued
