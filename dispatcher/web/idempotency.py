"""``Idempotency-Key`` for the REST API: a repeated request with the same key and body gets
the first answer again instead of a second announcement; the same key with another body is
refused. Keys are per token."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.store.models import IdempotencyRecord
from dispatcher.web.errors import ApiError
from dispatcher.web.schemas import AnnouncementDetails


def request_fingerprint(body: AnnouncementDetails) -> str:
    """SHA-256 of the request body in a canonical form: equal requests, equal fingerprints
    (``send_at`` compared as an instant, whatever offset it was written with)."""
    data = body.model_dump(mode="json", exclude={"send_at"})
    data["send_at"] = body.send_at.astimezone(UTC).isoformat() if body.send_at else None
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(record: IdempotencyRecord, fingerprint: str) -> JSONResponse:
    """The first answer again for a repeat of the request ``record`` answered; 409 when the
    key was used for a different request."""
    if record.request_hash != fingerprint:
        raise ApiError(
            409,
            "header.Idempotency-Key",
            "this key was already used for a different request; use a new key for a new "
            "announcement",
        )
    return JSONResponse(record.response, status_code=200)


def find_record(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    """The answer stored for ``key`` in ``scope`` (a token's id), if any."""
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )


def remember(
    session: Session,
    scope: str,
    key: str,
    fingerprint: str,
    announcement_id: int,
    response: dict[str, Any],
    now: datetime,
) -> None:
    """Store the answer to the request ``key`` names in ``scope``, in the caller's
    transaction (a concurrent request with the same key makes its commit fail)."""
    session.add(
        IdempotencyRecord(
            scope=scope,
            key=key,
            request_hash=fingerprint,
            announcement_id=announcement_id,
            status_code=201,
            response=response,
            created_at=now,
        )
    )


def earlier_answer(
    session: Session, scope: str, key: str | None, fingerprint: str
) -> JSONResponse | None:
    """The first answer again when ``key`` was used before in ``scope`` (409 when for a
    different request); None when there is no key or it is new."""
    if key is None:
        return None
    record = find_record(session, scope, key)
    return replay(record, fingerprint) if record is not None else None


def commit_remembering(
    session: Session,
    scope: str,
    key: str | None,
    fingerprint: str,
    announcement_id: int,
    response: dict[str, Any],
    now: datetime,
) -> JSONResponse | None:
    """Commit the caller's transaction with ``response`` remembered under ``key`` (when
    given). None when it committed; the winner's answer when a concurrent request with the
    same key committed first (this transaction is then rolled back: nothing of it is kept)."""
    if key is not None:
        remember(session, scope, key, fingerprint, announcement_id, response, now)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        record = find_record(session, scope, key) if key is not None else None
        if record is None:
            raise
        return replay(record, fingerprint)
    return None
