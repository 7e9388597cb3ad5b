"""What providers tell us after a send: status callbacks and event batches.

- A ``ProviderStatus`` (``dispatcher.channels.reports``) is one report about one delivery in
  a provider's own words (Twilio's ``MessageStatus``, SendGrid's ``event``); the provider's
  ``ReportVocabulary`` says which of our states each word may move a delivery to.
- ``apply_statuses`` moves each delivery only forward along ``domain.ALLOWED_TRANSITIONS``
  (``dispatcher.store.deliveries.predecessors``), so the same report twice, or ``sent`` after
  ``delivered``, changes nothing. Every change is a delivery event carrying the time and the
  provider's code. A failure starts ``dispatcher.delivery.fallback.start_follow_ups``; the
  follow-ups are committed, then enqueued.
- A batch whose reports all name their delivery by id (SendGrid's) is applied in a few
  statements whatever its size (``_apply_batch``): the deliveries are read together, every
  report is applied in order in memory with the same rules as ``apply_status``, then the
  changed rows are written with one conditional UPDATE (executed for many rows) and the
  events with one INSERT. If any row changed under us meanwhile (a worker recording its
  send), the transaction is rolled back and the batch applied report by report instead.

Personal data (numbers, addresses) is stored, never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, cast

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from dispatcher.channels.registry import report_vocabulary
from dispatcher.channels.reports import ProviderStatus, ReportVocabulary
from dispatcher.delivery.fallback import start_follow_ups
from dispatcher.domain import DeliveryState, Urgency
from dispatcher.queue.names import DELIVER_ACTOR
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import move_delivery, predecessors
from dispatcher.store.models import (
    Announcement,
    Delivery,
    DeliveryEvent,
)

log = logging.getLogger("dispatcher.tracking")

_S = DeliveryState


FAILURE_STATES: Final = frozenset({_S.FAILED, _S.UNDELIVERED, _S.BOUNCED})


#: A provider's clock may be a little ahead of ours; beyond this a timestamp is not trusted.
CLOCK_SKEW: Final = timedelta(minutes=5)


def event_time(reported: datetime | None, received: datetime) -> datetime:
    """When a change happened: the provider's timestamp when it gave a believable one, else
    the time we received the report."""
    if reported is None or reported > received + CLOCK_SKEW:
        return received
    return reported


class Result(StrEnum):
    """What applying one report did."""

    MOVED = "moved"
    UNCHANGED = "unchanged"  # repeated, out of order, or a word that changes nothing
    UNKNOWN = "unknown"  # no such delivery (or not one this provider sent)


@dataclass
class Applied:
    """What a batch of reports did: per-result counts and the follow-ups created."""

    results: dict[str, int] = field(default_factory=dict)
    follow_ups: list[QueuedWork] = field(default_factory=list)

    def count(self, result: Result) -> None:
        """Count one report's result."""
        self.results[result.value] = self.results.get(result.value, 0) + 1


def _receipt_fields(
    vocabulary: ReportVocabulary, report: ProviderStatus, delivery: Delivery, at: datetime
) -> dict[str, Any]:
    """What a worker would have stored had it recorded the send before this report came."""
    fields: dict[str, Any] = {"sent_at": at, "provider": report.provider}
    if report.provider_message_id and not delivery.provider_message_id:
        message_id = vocabulary.stored_message_id(report.provider_message_id, delivery.id)
        fields["provider_message_id"] = message_id[:100]
    return fields


def apply_status(
    session: Session, report: ProviderStatus, received_at: datetime, runtime: Runtime | None
) -> tuple[Result, list[int]]:
    """Apply one report to its delivery; return the result and the follow-up deliveries
    created (fallback or escalation) when it was a failure. The caller commits."""
    vocabulary = report_vocabulary(report.provider)
    if vocabulary is None:
        return Result.UNKNOWN, []
    delivery = _find(session, vocabulary, report)
    if delivery is None:
        return Result.UNKNOWN, []
    targets = vocabulary.targets(report.status)
    if not targets:
        return Result.UNCHANGED, []
    at = event_time(report.reported_at, received_at)
    current = _state(session, delivery.id)
    for _ in range(3):  # the state may change under us (a worker recording its send)
        for target in targets:
            fields: dict[str, Any] = {}
            if current is _S.SENDING and target is not _S.FAILED:
                fields.update(_receipt_fields(vocabulary, report, delivery, at))
            if target is _S.DELIVERED:
                fields["delivered_at"] = at
            if target in FAILURE_STATES:
                fields["error_code"] = (report.code or report.status)[:32]
                fields["error_reason"] = vocabulary.describe(report)
            if move_delivery(
                session,
                delivery.id,
                target,
                now=at,
                code=(report.code or report.status)[:32],
                detail=vocabulary.describe(report),
                only_from=[current],
                **fields,
            ):
                log.info(
                    "delivery %s %s -> %s (%s %s)",
                    delivery.id,
                    current.value,
                    target.value,
                    report.provider,
                    report.status,
                )
                follow_ups: list[int] = []
                if target in FAILURE_STATES:
                    follow_ups = start_follow_ups(session, delivery, at, runtime=runtime)
                return Result.MOVED, follow_ups
        now_state = _state(session, delivery.id)
        if now_state is current:
            break
        current = now_state
    return Result.UNCHANGED, []


def _state(session: Session, delivery_id: int) -> DeliveryState:
    state = session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
    return DeliveryState(state or DeliveryState.PENDING.value)


def _find(
    session: Session, vocabulary: ReportVocabulary, report: ProviderStatus
) -> Delivery | None:
    delivery: Delivery | None = None
    if report.delivery_id is not None:
        delivery = session.get(Delivery, report.delivery_id)
    elif vocabulary.find_by_message_id and report.provider_message_id:
        delivery = session.scalar(
            select(Delivery).where(Delivery.provider_message_id == report.provider_message_id)
        )
    if delivery is None or delivery.channel != vocabulary.channel.value:
        return None
    if delivery.provider == report.provider and not vocabulary.same_message(
        delivery.provider_message_id, report.provider_message_id
    ):
        return None  # about an earlier attempt's message, not the one we recorded
    return delivery


#: How many ids one ``IN (...)`` list of the batch path carries (SQLite allows 32,766
#: parameters a statement).
READ_CHUNK: Final = 5000
_TRANSITIONS: Final = {target: predecessors(target) for target in DeliveryState}


class _Conflict(Exception):
    """A row of the batch changed between reading and writing it."""


@dataclass
class _Row:
    """What the batch path knows of one delivery, as the reports move it."""

    id: int
    channel: str
    provider: str | None
    provider_message_id: str | None
    loaded_state: DeliveryState
    state: DeliveryState
    fields: dict[str, Any] = field(default_factory=dict)


def _apply_in_memory(
    row: _Row, vocabulary: ReportVocabulary, report: ProviderStatus, received_at: datetime
) -> tuple[Result, dict[str, Any] | None]:
    """``apply_status`` for one report on ``row`` (changed in place): the result and, when it
    moved, the delivery event's values."""
    if row.channel != vocabulary.channel.value:
        return Result.UNKNOWN, None
    if row.provider == report.provider and not vocabulary.same_message(
        row.provider_message_id, report.provider_message_id
    ):
        return Result.UNKNOWN, None
    targets = vocabulary.targets(report.status)
    if not targets:
        return Result.UNCHANGED, None
    at = event_time(report.reported_at, received_at)
    current = row.state
    for target in targets:
        if current not in _TRANSITIONS[target]:
            continue
        fields: dict[str, Any] = {}
        if current is _S.SENDING and target is not _S.FAILED:
            fields["sent_at"] = at
            fields["provider"] = report.provider
            if report.provider_message_id and not row.provider_message_id:
                message_id = vocabulary.stored_message_id(report.provider_message_id, row.id)
                fields["provider_message_id"] = message_id[:100]
        if target is _S.DELIVERED:
            fields["delivered_at"] = at
        code = (report.code or report.status)[:32]
        detail = vocabulary.describe(report)
        if target in FAILURE_STATES:
            fields["error_code"] = code
            fields["error_reason"] = detail
        row.fields.update(fields, state=target.value, updated_at=at)
        row.state = target
        row.provider = fields.get("provider", row.provider)
        row.provider_message_id = fields.get("provider_message_id", row.provider_message_id)
        event = {
            "delivery_id": row.id,
            "at": at,
            "from_state": current.value,
            "to_state": target.value,
            "code": code,
            "detail": detail,
        }
        return Result.MOVED, event
    return Result.UNCHANGED, None


def _apply_batch(
    session: Session,
    reports: list[ProviderStatus],
    received_at: datetime,
    runtime: Runtime,
) -> tuple[Applied, list[int]]:
    """Apply reports that all carry a delivery id, in a few statements; return what they did
    and the follow-ups created. Raises ``_Conflict`` (the caller rolls back) when a row
    changed between reading and writing it. The caller commits."""
    ids = sorted({r.delivery_id for r in reports if r.delivery_id is not None})
    rows: dict[int, _Row] = {}
    for start in range(0, len(ids), READ_CHUNK):
        chunk = ids[start : start + READ_CHUNK]
        for found in session.execute(
            select(
                Delivery.id,
                Delivery.channel,
                Delivery.provider,
                Delivery.provider_message_id,
                Delivery.state,
            ).where(Delivery.id.in_(chunk))
        ):
            state = DeliveryState(found.state)
            rows[found.id] = _Row(
                found.id, found.channel, found.provider, found.provider_message_id, state, state
            )
    applied = Applied()
    events: list[dict[str, Any]] = []
    failed: list[tuple[int, datetime]] = []
    for report in reports:
        vocabulary = report_vocabulary(report.provider)
        row = rows.get(report.delivery_id) if report.delivery_id is not None else None
        if vocabulary is None or row is None:
            applied.count(Result.UNKNOWN)
            continue
        result, event = _apply_in_memory(row, vocabulary, report, received_at)
        applied.count(result)
        if event is not None:
            events.append(event)
            if row.state in FAILURE_STATES:
                failed.append((row.id, event["at"]))
    _write_rows(session, [row for row in rows.values() if row.fields])
    if events:
        session.execute(insert(DeliveryEvent), events)
    created: list[int] = []
    for delivery_id, at in failed:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            created.extend(start_follow_ups(session, delivery, at, runtime=runtime))
    return applied, created


def _write_rows(session: Session, changed: list[_Row]) -> None:
    """One conditional UPDATE per set of changed columns, executed for all its rows; raises
    ``_Conflict`` when a row is no longer in the state it was read in."""
    by_columns: dict[tuple[str, ...], list[_Row]] = {}
    for row in changed:
        by_columns.setdefault(tuple(sorted(row.fields)), []).append(row)
    table = cast(Table, Delivery.__table__)
    for columns, group in by_columns.items():
        statement = (
            update(table)
            .where(
                and_(
                    table.c.id == bindparam("_id"),
                    table.c.state == bindparam("_from"),
                )
            )
            .values({name: bindparam(f"_v_{name}") for name in columns})
        )
        parameters = [
            {
                "_id": row.id,
                "_from": row.loaded_state.value,
                **{f"_v_{name}": row.fields[name] for name in columns},
            }
            for row in group
        ]
        result = session.connection().execute(statement, parameters)
        if result.rowcount != len(group):
            raise _Conflict(f"{len(group) - result.rowcount} deliveries changed meanwhile")


def apply_statuses(
    runtime: Runtime,
    reports: Iterable[ProviderStatus],
    received_at: datetime,
    enqueue: Callable[[list[QueuedWork]], None],
) -> Applied:
    """Apply a callback's or a batch's reports in one transaction, commit, then enqueue the
    follow-ups it created. Safe to repeat: a replayed batch changes nothing."""
    reports = list(reports)
    with runtime.sessions() as session:
        batched = None
        if len(reports) > 1 and all(r.delivery_id is not None for r in reports):
            try:
                batched = _apply_batch(session, reports, received_at, runtime)
            except _Conflict as exc:
                log.info("batch of %d reports applied one by one: %s", len(reports), exc)
                session.rollback()
        if batched is not None:
            applied, created = batched
        else:
            applied, created = Applied(), []
            for report in reports:
                result, follow_ups = apply_status(session, report, received_at, runtime)
                applied.count(result)
                created.extend(follow_ups)
        if created:
            urgencies = {
                row.id: row.urgency
                for row in session.execute(
                    select(Delivery.id, Announcement.urgency)
                    .join(Announcement, Announcement.id == Delivery.announcement_id)
                    .where(Delivery.id.in_(created))
                )
            }
            applied.follow_ups = [
                QueuedWork(DELIVER_ACTOR[Urgency(urgencies.get(d, Urgency.NORMAL.value))], d)
                for d in created
            ]
        session.commit()
    if applied.follow_ups:
        enqueue(applied.follow_ups)
        log.info("queued %d follow-up deliveries", len(applied.follow_ups))
    return applied
