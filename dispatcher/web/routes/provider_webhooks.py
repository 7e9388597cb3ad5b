"""Provider webhooks: Twilio status callbacks and inbound texts, SendGrid event batches.

Every request is verified before anything is read into the database, by the provider's
module of ``dispatcher.channels`` (``twilio_webhooks``: the auth token and the public URL
Twilio called, ``DISPATCHER_PUBLIC_BASE_URL`` + path + query; ``sendgrid_webhooks``: the
Signed Event Webhook's public key in ``SENDGRID_WEBHOOK_PUBLIC_KEY``), which also reads the
request into reports. A missing or wrong signature is answered 401 and changes nothing; a
webhook whose secret is not configured is answered 503 naming the variable; a verified
request we cannot read (or a body that is not UTF-8) is answered 400 naming the field; a
database that cannot be reached is answered 503 with ``Retry-After`` (the provider tries
again). Every error is in the API's shape (``dispatcher.web.errors``).

Work that follows a failure (a fallback, an escalation) is committed first, then queued; if
Redis is unreachable at that moment the rows wait for the recovery sweep, which queues them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from dispatcher.channels import sendgrid_webhooks, twilio_webhooks
from dispatcher.channels.reports import WebhookError
from dispatcher.channels.settings import (
    PROVIDER_VARIABLE_PREFIXES,
    ProviderSettings,
    load_provider_settings,
)
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.settings import SettingsError
from dispatcher.tracking.inbound import record_inbound
from dispatcher.tracking.statuses import apply_statuses
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import UNREADABLE_BODY, ApiError

log = logging.getLogger("dispatcher.web.webhooks")

router = APIRouter(tags=["provider webhooks"])

TWILIO_STATUS_PATH = "/webhooks/twilio/status"
TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
SENDGRID_EVENTS_PATH = "/webhooks/sendgrid/events"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


_PROVIDER_PREFIXES = (*PROVIDER_VARIABLE_PREFIXES, "DISPATCHER_PUBLIC_BASE_URL")
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
        raise ApiError(503, "env", f"provider configuration: {exc}") from None
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
    400: {"description": "a body or field we cannot read (named); nothing changed"},
    401: {"description": "bad or missing signature; nothing changed"},
    503: {
        "description": "the webhook's secret is not configured, or the database is "
        "unavailable (with Retry-After); nothing changed"
    },
}

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ProvidersDep = Annotated[ProviderSettings, Depends(get_provider_settings)]
EnqueueDep = Annotated[Callable[[list[QueuedWork]], None], Depends(get_enqueue)]


def _not_configured(variable: str) -> ApiError:
    log.error("ALERT webhook refused: %s is not configured", variable)
    return ApiError(503, f"env.{variable}", "not configured, cannot verify the webhook")


def _unauthorized(header: str, what: str) -> ApiError:
    log.warning("webhook refused: %s %s", header, what)
    return ApiError(401, f"header.{header}", what)


async def _utf8_body(request: Request) -> str:
    """The request's body as text; 400 when it is not UTF-8."""
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, *UNREADABLE_BODY) from None


async def _verified_twilio_form(request: Request, providers: ProviderSettings) -> dict[str, str]:
    """The form parameters of a Twilio webhook whose signature is genuine; else 401/503."""
    if providers.twilio_auth_token is None:
        raise _not_configured("TWILIO_AUTH_TOKEN")
    if not providers.public_base_url:
        raise _not_configured("DISPATCHER_PUBLIC_BASE_URL")
    signature = request.headers.get(twilio_webhooks.SIGNATURE_HEADER)
    if not signature:
        raise _unauthorized(twilio_webhooks.SIGNATURE_HEADER, "missing")
    body = await _utf8_body(request)
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = providers.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    token = providers.twilio_auth_token.get_secret_value()
    if not twilio_webhooks.signature_valid(token, url, params, signature):
        raise _unauthorized(twilio_webhooks.SIGNATURE_HEADER, "does not match the request")
    return params


def _unreadable(error: WebhookError) -> ApiError:
    """400 naming the field: ``query.delivery_id`` (our StatusCallback URL's query), ``body``
    or ``body.<form field>``."""
    message = str(error).removeprefix(f"{error.field}: ")
    if error.field == "delivery_id":
        return ApiError(400, "query.delivery_id", message)
    return ApiError(400, "body" if error.field == "body" else f"body.{error.field}", message)


def _received_at() -> datetime:
    return datetime.now(UTC)


@router.post(
    TWILIO_STATUS_PATH,
    summary="Twilio message status callback",
    responses=REFUSALS,
)
async def twilio_status(
    request: Request, runtime: RuntimeDep, providers: ProvidersDep, enqueue: EnqueueDep
) -> JSONResponse:
    """Twilio's StatusCallback (``?delivery_id=`` as the Twilio adapter sets it): moves the
    delivery forward (sent, delivered, undelivered, failed); a failure starts the fallback."""
    params = await _verified_twilio_form(request, providers)
    try:
        report = twilio_webhooks.status_report(params, request.query_params.get("delivery_id"))
    except WebhookError as exc:
        raise _unreadable(exc) from None
    applied = await run_in_threadpool(apply_statuses, runtime, [report], _received_at(), enqueue)
    return JSONResponse(applied.results)


@router.post(
    TWILIO_INBOUND_PATH,
    summary="Twilio inbound SMS",
    responses=REFUSALS,
)
async def twilio_inbound(
    request: Request, runtime: RuntimeDep, providers: ProvidersDep
) -> Response:
    """A text a family sent to our number: STOP/UNSUBSCRIBE... records an SMS opt-out,
    START lifts it, anything else is stored as a reply. Answers empty TwiML (Twilio itself
    confirms STOP and START to the family)."""
    params = await _verified_twilio_form(request, providers)
    try:
        text = twilio_webhooks.inbound_text(params)
    except WebhookError as exc:
        raise _unreadable(exc) from None

    def store() -> None:
        with runtime.sessions() as session:
            record_inbound(session, text, _received_at())
            session.commit()

    await run_in_threadpool(store)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    SENDGRID_EVENTS_PATH,
    summary="SendGrid Event Webhook",
    responses=REFUSALS,
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
    signature = request.headers.get(sendgrid_webhooks.SIGNATURE_HEADER)
    timestamp = request.headers.get(sendgrid_webhooks.TIMESTAMP_HEADER)
    if not signature or not timestamp:
        header = sendgrid_webhooks.SIGNATURE_HEADER if not signature else None
        raise _unauthorized(header or sendgrid_webhooks.TIMESTAMP_HEADER, "missing")
    payload = await _utf8_body(request)
    if not sendgrid_webhooks.signature_valid(key, payload, signature, timestamp):
        raise _unauthorized(sendgrid_webhooks.SIGNATURE_HEADER, "does not match the request")
    try:
        reports, ignored = sendgrid_webhooks.event_reports(payload)
    except WebhookError as exc:
        raise _unreadable(exc) from None
    applied = await run_in_threadpool(apply_statuses, runtime, reports, _received_at(), enqueue)
    results = dict(applied.results)
    if ignored:
        results["ignored"] = ignored
    return JSONResponse(results)
