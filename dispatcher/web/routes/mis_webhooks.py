"""Route: signed events from a school's MIS, stored before they are acknowledged.

``POST /webhooks/mis/{school}`` with ``X-MIS-Timestamp`` (unix seconds) and
``X-MIS-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>`` made with the school's
secret (``DISPATCHER_MIS_SECRET_<SLUG>``). Answers: 202 stored (processed by a worker), 200 a
repeated event id (ignored), 400 a body that is not UTF-8 or is nested too deep to read, 401
bad or stale signature (nothing stored), 404 unknown school, 422 an invalid payload or an
unknown type (naming the field), 503 the database is unavailable (the MIS sends it again).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from dispatcher.runtime import Runtime
from dispatcher.store.schools import ensure_school
from dispatcher.triggers.mis.events import PayloadError, event_json_schema, parse_event
from dispatcher.triggers.mis.processing import check_event, enqueue_events, find_event, store_event
from dispatcher.triggers.mis.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    school_secret,
    secret_variable,
    verify_signature,
)
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import UNREADABLE_BODY, ApiError, error_response, error_responses
from dispatcher.web.schemas import EventAccepted

log = logging.getLogger("dispatcher.web.mis")

router = APIRouter(tags=["mis webhooks"])


#: Bodies larger than this are refused before any work (an MIS event is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024


_EXAMPLES = {
    "payment.due": {
        "summary": "A payment is due",
        "value": {
            "id": "evt_000123",
            "type": "payment.due",
            "occurred_at": "2026-11-20T09:00:00Z",
            "data": {
                "student_id": "S104",
                "item": "Year 6 residential",
                "amount_pence": 8500,
                "due_date": "2026-12-04",
                "payment_link": "https://pay.example/residential/S104",
            },
        },
    },
    "contact.updated": {
        "summary": "A contact's details changed",
        "value": {
            "id": "evt_000124",
            "type": "contact.updated",
            "data": {
                "contact_id": "C220",
                "changes": {"mobile": "07700 900123", "language": "pl", "needs": ["large_print"]},
            },
        },
    },
    "student.left": {
        "summary": "A student left",
        "value": {
            "id": "evt_000125",
            "type": "student.left",
            "data": {"student_id": "S104", "left_on": "2026-12-18"},
        },
    },
}


@router.post(
    "/webhooks/mis/{school}",
    status_code=202,
    summary="Receive a signed event from the school's MIS",
    response_model=EventAccepted,
    responses={
        200: {"model": EventAccepted, "description": "A repeated event id: ignored."},
        202: {"model": EventAccepted, "description": "Stored; a worker will process it."},
        **error_responses(400, 401, 404, 422, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The event, signed (see the headers). Types: payment.due, "
            "payment.overdue, contact.updated, student.left.",
            "content": {"application/json": {"schema": event_json_schema(), "examples": _EXAMPLES}},
        }
    },
)
async def receive_mis_event(
    request: Request,
    school: Annotated[
        str, PathParam(max_length=64, description="The school's slug.", examples=["demo"])
    ],
    timestamp: Annotated[
        str | None,
        Header(
            alias=TIMESTAMP_HEADER,
            description="When the request was signed, in unix seconds; refused when more than "
            "5 minutes from our clock.",
            examples=["1795683600"],
        ),
    ] = None,
    signature: Annotated[
        str | None,
        Header(
            alias=SIGNATURE_HEADER,
            description="`sha256=` and the hex HMAC-SHA256, keyed with the school's secret, "
            "of the timestamp, a dot and the raw body.",
            examples=["sha256=3f1c...e9"],
        ),
    ] = None,
    runtime: Runtime = Depends(get_runtime),
) -> Any:
    """Check the signature, validate and store the event, acknowledge it."""
    body = await request.body()
    return await run_in_threadpool(
        handle_event, runtime, school, body, timestamp, signature, datetime.now(UTC)
    )


def handle_event(
    runtime: Runtime,
    school: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> JSONResponse:
    """Everything the webhook does after reading the body (runs in a worker thread)."""
    school_cfg = runtime.configuration.schools.get(school)
    if school_cfg is None:
        raise ApiError(404, "path.school", "unknown school")
    secret = school_secret(school)
    if secret is None:
        log.warning("MIS webhook for %s refused: %s is not set", school, secret_variable(school))
        raise ApiError(401, "path.school", "MIS webhooks are not set up for this school")
    try:
        verify_signature(secret, timestamp, signature, body, now)
    except SignatureError as exc:
        raise ApiError(401, exc.field, str(exc).removeprefix(f"{exc.field}: ")) from None
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(422, "body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, RecursionError):
        raise ApiError(400, *UNREADABLE_BODY) from None
    except ValueError:
        raise ApiError(422, "body", "not valid JSON") from None
    try:
        envelope, data = parse_event(payload)
    except PayloadError as exc:
        if exc.unknown_type:
            log.warning(
                "MIS webhook for %s: unknown event type %r rejected",
                school,
                str(payload.get("type"))[:64],
            )
        return error_response(422, exc.errors)
    with runtime.sessions() as session:
        school_id = ensure_school(session, school_cfg).id
        session.commit()
        if find_event(session, school_id, envelope.id) is not None:
            return _duplicate(envelope.id)
        try:
            check_event(runtime, school, envelope, data)
        except PayloadError as exc:
            return error_response(422, exc.errors)
        row_id = store_event(session, school_id, envelope, payload, now)
    if row_id is None:
        return _duplicate(envelope.id)
    try:
        from dispatcher.worker.actors import broker

        enqueue_events(broker, [row_id])
    except RedisError:
        log.warning("MIS event %d stored but not queued; the sweep will queue it", row_id)
    log.info("MIS event %d (%s) received for %s", row_id, envelope.type, school)
    return JSONResponse({"status": "accepted", "event_id": envelope.id}, status_code=202)


def _duplicate(event_id: str) -> JSONResponse:
    return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)
