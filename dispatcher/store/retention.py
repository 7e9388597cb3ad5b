"""The records the retention run erases (decision 0078): which rows still hold personal data
from before a cut-off, counted or erased, one statement a kind. Only the words, numbers and
addresses go; every row, state, time and count stays, so reports keep their numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Announcement,
    AuditEntry,
    CallLog,
    Contact,
    Delivery,
    DeliveryEvent,
    InboundMessage,
    MessageText,
    MisEvent,
    OutboxMessage,
    SignOffRequest,
)

#: Keys of an audit entry's detail that may hold a number or an address.
ADDRESS_KEYS = frozenset(
    {"to", "to_address", "address", "phone", "phone_e164", "mobile", "email", "from_phone"}
)

#: What the erased rows are called in the run's counts.
KINDS = (
    "message_texts",
    "outbox_messages",
    "inbound_messages",
    "delivery_event_details",
    "delivery_error_reasons",
    "call_notes",
    "sign_off_reasons",
    "mis_event_payloads",
    "audit_details",
)


@dataclass(frozen=True)
class Scope:
    """Records from before ``cutoff``, of the schools ``school_ids`` (None: every school)."""

    cutoff: datetime
    school_ids: Sequence[int] | None = None


def _old_announcements(scope: Scope) -> Select[int]:
    query = select(Announcement.id).where(Announcement.created_at < scope.cutoff)
    if scope.school_ids is not None:
        query = query.where(Announcement.school_id.in_(list(scope.school_ids)))
    return query


def _old_deliveries(scope: Scope) -> Select[int]:
    return select(Delivery.id).where(Delivery.announcement_id.in_(_old_announcements(scope)))


def _of_schools(scope: Scope, school_column: Any) -> list[ColumnElement[bool]]:
    return [school_column.in_(list(scope.school_ids))] if scope.school_ids is not None else []


def _targets(scope: Scope, now: datetime) -> dict[str, tuple[Any, list[Any], dict[str, Any]]]:
    """Per kind: the table, the rows still holding personal data, and the values erasing
    them."""
    inbound_where: list[Any] = [
        InboundMessage.received_at < scope.cutoff,
        or_(InboundMessage.from_phone != "", InboundMessage.body != ""),
    ]
    if scope.school_ids is not None:
        inbound_where.append(
            InboundMessage.contact_id.in_(
                select(Contact.id).where(Contact.school_id.in_(list(scope.school_ids)))
            )
        )
    return {
        "message_texts": (
            MessageText,
            [
                MessageText.announcement_id.in_(_old_announcements(scope)),
                MessageText.erased_at.is_(None),
            ],
            {"subject": None, "body": None, "erased_at": now},
        ),
        "outbox_messages": (
            OutboxMessage,
            [
                OutboxMessage.announcement_id.in_(_old_announcements(scope)),
                or_(OutboxMessage.to_address != "", OutboxMessage.body != ""),
            ],
            {"to_address": "", "subject": None, "body": "", "html": None},
        ),
        "inbound_messages": (InboundMessage, inbound_where, {"from_phone": "", "body": ""}),
        "delivery_event_details": (
            DeliveryEvent,
            [
                DeliveryEvent.delivery_id.in_(_old_deliveries(scope)),
                DeliveryEvent.detail.is_not(None),
            ],
            {"detail": None},
        ),
        "delivery_error_reasons": (
            Delivery,
            [
                Delivery.announcement_id.in_(_old_announcements(scope)),
                Delivery.error_reason.is_not(None),
            ],
            {"error_reason": None},
        ),
        "call_notes": (
            CallLog,
            [CallLog.announcement_id.in_(_old_announcements(scope)), CallLog.note != ""],
            {"note": ""},
        ),
        "sign_off_reasons": (
            SignOffRequest,
            [
                SignOffRequest.requested_at < scope.cutoff,
                SignOffRequest.reason.is_not(None),
                *_of_schools(scope, SignOffRequest.school_id),
            ],
            {"reason": None},
        ),
    }


def _json_rows(session: Session, scope: Scope, model: Any) -> list[tuple[int, dict[str, Any]]]:
    """Rows of ``model`` (``MisEvent``, ``AuditEntry``) from before the cut-off whose JSON
    still holds personal data, with the JSON it keeps. Read in Python: the two databases
    query JSON differently, and these tables are small."""
    if model is MisEvent:
        query = select(MisEvent.id, MisEvent.payload).where(MisEvent.received_at < scope.cutoff)
        query = query.where(*_of_schools(scope, MisEvent.school_id))
        return [(i, {}) for i, payload in session.execute(query) if payload]
    query = select(AuditEntry.id, AuditEntry.detail).where(AuditEntry.at < scope.cutoff)
    query = query.where(*_of_schools(scope, AuditEntry.school_id))
    return [
        (i, {k: v for k, v in detail.items() if k not in ADDRESS_KEYS})
        for i, detail in session.execute(query)
        if isinstance(detail, dict) and ADDRESS_KEYS & detail.keys()
    ]


def erase_personal_data(
    session: Session, scope: Scope, now: datetime, *, dry_run: bool = False
) -> dict[str, int]:
    """Erase (``dry_run``: only count) the personal data of ``scope``'s records, by kind
    (``KINDS``): the stored texts' subjects and bodies (``erased_at`` set), the outbox's
    addresses and texts, inbound texts' numbers and words, delivery events' details and
    deliveries' error reasons (a provider's words may quote a number), sign-off
    rejections' reasons, MIS events' payloads
    and the audit log's address fields. Rows already erased are not counted again. The
    caller commits."""
    counts: dict[str, int] = {}
    for kind, (model, where, values) in _targets(scope, now).items():
        if dry_run:
            counts[kind] = int(
                session.scalar(select(func.count()).select_from(model).where(*where)) or 0
            )
            continue
        result = session.execute(
            update(model)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        counts[kind] = int(result.rowcount)  # type: ignore[attr-defined]
    for kind, model, column in (
        ("mis_event_payloads", MisEvent, "payload"),
        ("audit_details", AuditEntry, "detail"),
    ):
        rows = _json_rows(session, scope, model)
        counts[kind] = len(rows)
        if not dry_run:
            for row_id, kept in rows:
                session.execute(
                    update(model)
                    .where(model.id == row_id)
                    .values({column: kept})
                    .execution_options(synchronize_session=False)
                )
    return counts


def last_run(session: Session) -> datetime | None:
    """When the retention run last erased (its latest audit entry), or None."""
    return session.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.action == "retention.run")
    )
