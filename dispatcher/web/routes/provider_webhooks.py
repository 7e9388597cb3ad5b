"""Provider webhooks: Twilio status callbacks and inbound texts, SendGrid event batches.

Every request is verified before anything is read into the database: Twilio's
``X-Twilio-Signature`` with the ``twilio`` SDK's ``RequestValidator`` (the auth token, and the
public URL the provider called: ``DISPATCHER_PUBLIC_BASE_URL`` + path + query), SendGrid's
Signed Event Webhook with the ``sendgrid`` SDK's ``EventWebhook`` (ECDSA, the public key in
``SENDGRID_WEBHOOK_PUBLIC_KEY``). A missing or wrong signature is answered 401 and changes
nothing; a webhook whose secret is not configured is answered 503 naming the variable.

Work that follows a failure (a fallback, an escalation) is committed first, then queued; if
Redis is unreachable at that moment the rows wait for the recovery sweep, which queues them.
"""

from __future__ import annotations

import binascii
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from dispatcher.channels.settings import ProviderSettings, load_provider_settings
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.settings import SettingsError
from dispatcher.tracking.inbound import InboundText, record_inbound
from dispatcher.tracking.statuses import ProviderStatus, apply_statuses
from dispatcher.web.deps import get_runtime

log = logging.getLogger("dispatcher.web.webhooks")

router = APIRouter(tags=["provider webhooks"])

TWILIO_STATUS_PATH = "/webhooks/twilio/status"
TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
SENDGRID_EVENTS_PATH = "/webhooks/sendgrid/events"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


_PROVIDER_PREFIXES = ("TWILIO_", "SENDGRID_", "FCM_", "DISPATCHER_PUBLIC_BASE_URL")
_provider_settings: dict[tuple[tuple[str, str], ...], ProviderSettings] = {}
_provider_settings_lock = threading.Lock()


def get_provider_settings() -> ProviderSettings:
    """The provider variables of the environment, parsed once per distinct environment
    (503 naming the variable when one is bad)."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_PROVIDER_PREFIXES)))
    with _provider_settings_lock:
        cached = _provider_settings.get(key)
    if cached is not None:
        return cached
    try:
        settings = load_provider_settings()
    except SettingsError as exc:
        raise HTTPException(503, detail=f"provider configuration: {exc}") from None
    with _provider_settings_lock:
        _provider_settings[key] = settings
    return settings


def _enqueue_with_dramatiq(work: list[QueuedWork]) -> None:
    from dispatcher.queue.enqueue import enqueue
    from dispatcher.worker.actors import broker

    enqueue(broker, work)


def get_enqueue() -> Callable[[list[QueuedWork]], None]:
    """How follow-up deliveries are queued: the process's Dramatiq broker. A failure to
    queue is logged, not raised: the rows are committed and the recovery sweep queues them."""

    def enqueue_or_leave_to_sweep(work: list[QueuedWork]) -> None:
        try:
            _enqueue_with_dramatiq(work)
        except Exception:
            log.exception("could not queue %d follow-ups; the recovery sweep will", len(work))

    return enqueue_or_leave_to_sweep


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "bad or missing signature; nothing changed"},
    503: {"description": "the webhook's secret is not configured; nothing changed"},
}

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ProvidersDep = Annotated[ProviderSettings, Depends(get_provider_settings)]
EnqueueDep = Annotated[Callable[[list[QueuedWork]], None], Depends(get_enqueue)]


def _not_configured(variable: str) -> HTTPException:
    log.error("ALERT webhook refused: %s is not configured", variable)
    return HTTPException(503, detail=f"{variable}: not configured, cannot verify the webhook")


def _unauthorized(what: str) -> HTTPException:
    log.warning("webhook refused: %s", what)
    return HTTPException(401, detail=what)


async def _verified_twilio_form(request: Request, providers: ProviderSettings) -> dict[str, str]:
    """The form parameters of a Twilio webhook whose signature is genuine; else 401/503."""
    if providers.twilio_auth_token is None:
        raise _not_configured("TWILIO_AUTH_TOKEN")
    if not providers.public_base_url:
        raise _not_configured("DISPATCHER_PUBLIC_BASE_URL")
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise _unauthorized("X-Twilio-Signature: missing")
    body = (await request.body()).decode("utf-8", "replace")
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = providers.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    validator = RequestValidator(providers.twilio_auth_token.get_secret_value())
    if not validator.validate(url, params, signature):
        raise _unauthorized("X-Twilio-Signature: does not match the request")
    return params


def _received_at() -> datetime:
    return datetime.now(UTC)


@router.post(
    TWILIO_STATUS_PATH,
    summary="Twilio message status callback",
    responses={
        401: {"description": "bad or missing signature"},
        503: {"description": "not configured"},
    },
)
async def twilio_status(
    request: Request, runtime: RuntimeDep, providers: ProvidersDep, enqueue: EnqueueDep
) -> JSONResponse:
    """Twilio's StatusCallback (``?delivery_id=`` as the Twilio adapter sets it): moves the
    delivery forward (sent, delivered, undelivered, failed); a failure starts the fallback."""
    params = await _verified_twilio_form(request, providers)
    raw_id = request.query_params.get("delivery_id")
    delivery_id: int | None = None
    if raw_id is not None:
        if not raw_id.isdigit():
            raise HTTPException(400, detail="delivery_id: expected a delivery number")
        delivery_id = int(raw_id)
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not status:
        raise HTTPException(400, detail="MessageStatus: missing")
    report = ProviderStatus(
        provider="twilio",
        status=status,
        delivery_id=delivery_id,
        provider_message_id=params.get("MessageSid") or params.get("SmsSid"),
        code=params.get("ErrorCode") or None,
    )
    applied = await run_in_threadpool(apply_statuses, runtime, [report], _received_at(), enqueue)
    return JSONResponse(applied.results)


@router.post(
    TWILIO_INBOUND_PATH,
    summary="Twilio inbound SMS",
    responses={
        401: {"description": "bad or missing signature"},
        503: {"description": "not configured"},
    },
)
async def twilio_inbound(
    request: Request, runtime: RuntimeDep, providers: ProvidersDep
) -> Response:
    """A text a family sent to our number: STOP/UNSUBSCRIBE... records an SMS opt-out,
    START lifts it, anything else is stored as a reply. Answers empty TwiML (Twilio itself
    confirms STOP and START to the family)."""
    params = await _verified_twilio_form(request, providers)
    sender = params.get("From", "").strip()
    if not sender:
        raise HTTPException(400, detail="From: missing")
    text = InboundText(
        from_phone=sender,
        to_phone=params.get("To") or None,
        body=params.get("Body", ""),
        provider_message_id=params.get("MessageSid") or params.get("SmsSid") or None,
    )

    def store() -> None:
        with runtime.sessions() as session:
            record_inbound(session, text, _received_at())
            session.commit()

    await run_in_threadpool(store)
    return Response(EMPTY_TWIML, media_type="text/xml")


def _event_report(event: Any) -> ProviderStatus | None:
    """One SendGrid event as a report, or None when it names no delivery of ours."""
    if not isinstance(event, dict):
        return None
    name = event.get("event")
    raw_id = event.get("delivery_id")
    if not isinstance(name, str) or raw_id is None or not str(raw_id).isdigit():
        return None
    reported_at = None
    timestamp = event.get("timestamp")
    if isinstance(timestamp, int | float) and timestamp > 0:
        reported_at = datetime.fromtimestamp(timestamp, UTC)
    code: Any = None
    if name == "bounce":  # the SMTP status (e.g. 5.1.1), else bounce or blocked
        code = event.get("status") or event.get("type") or "bounce"
    elif name == "dropped":
        code = "dropped"
    reason = event.get("reason")
    return ProviderStatus(
        provider="sendgrid",
        status=name,
        delivery_id=int(str(raw_id)),
        provider_message_id=event.get("sg_message_id")
        if isinstance(event.get("sg_message_id"), str)
        else None,
        code=str(code) if code else None,
        reason=str(reason)[:200] if reason else None,
        reported_at=reported_at,
    )


@router.post(
    SENDGRID_EVENTS_PATH,
    summary="SendGrid Event Webhook",
    responses={
        401: {"description": "bad or missing signature"},
        503: {"description": "not configured"},
    },
)
async def sendgrid_events(
    request: Request, runtime: RuntimeDep, providers: ProvidersDep, enqueue: EnqueueDep
) -> JSONResponse:
    """A signed batch of SendGrid events, matched to deliveries by the ``delivery_id``
    custom arg: processed, delivered, open and click move forward; bounce and dropped fail
    the delivery and start the fallback. Events naming no delivery of ours are ignored."""
    key = providers.sendgrid_webhook_public_key
    if not key:
        raise _not_configured("SENDGRID_WEBHOOK_PUBLIC_KEY")
    signature = request.headers.get(EventWebhookHeader.SIGNATURE)
    timestamp = request.headers.get(EventWebhookHeader.TIMESTAMP)
    if not signature or not timestamp:
        raise _unauthorized(f"{EventWebhookHeader.SIGNATURE}: missing")
    payload = (await request.body()).decode("utf-8", "replace")
    try:
        genuine = EventWebhook(key).verify_signature(payload, signature, timestamp)
    except (ValueError, binascii.Error, InvalidSignature):
        genuine = False
    if not genuine:
        raise _unauthorized(f"{EventWebhookHeader.SIGNATURE}: does not match the request")
    try:
        events = json.loads(payload)
    except ValueError:
        raise HTTPException(400, detail="body: expected a JSON array of events") from None
    if not isinstance(events, list):
        raise HTTPException(400, detail="body: expected a JSON array of events")
    reports = [r for r in (_event_report(e) for e in events) if r is not None]
    applied = await run_in_threadpool(apply_statuses, runtime, reports, _received_at(), enqueue)
    results = dict(applied.results)
    if len(events) > len(reports):
        results["ignored"] = len(events) - len(reports)
    return JSONResponse(results)
