"""Settling claims nobody is driving any more, from what is known rather than guessed.

- ``replay_journal``: the send journal's receipts go into the database (a worker recorded
  them there while the database was down), and the deliveries a worker gave back go to
  pending again and onto the queue. A send whose answer was lost (``unconfirmed``) waits
  ``DISPATCHER_UNCONFIRMED_WAIT_SECONDS`` for the provider's status callback to settle it;
  if none has, it is released marked ``possible_duplicate`` and sent again.
- ``release_dead_workers``: the ``sending`` deliveries of a worker process known dead (its
  heartbeat, ``dispatcher.queue.heartbeats``) are settled by the journal: a receipt makes
  them sent; a request in flight when it died releases them marked ``possible_duplicate``
  (the family may get it twice: the report lists them); no entry at all means the request
  never started, and they are released plainly. A living worker's claims are never touched.
- ``release_unowned``: deliveries claimed before claims named their worker (an upgrade)
  keep the old rule: released after ``DISPATCHER_SENDING_GRACE_SECONDS``.

All three are idempotent; every worker process runs them (``dispatcher.worker.sweep``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from dispatcher.domain import Channel, DeliveryState
from dispatcher.queue.journal import EntryKind, JournalEntry
from dispatcher.queue.names import deliver_batch_actor_of_queue
from dispatcher.queue.work import QueuedWork, delivery_work
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import (
    ClaimRelease,
    SentRecord,
    move_delivery,
    record_sent,
    release_claims,
    still_unconfirmed,
)
from dispatcher.store.models import Delivery

log = logging.getLogger("dispatcher.recovery")

Enqueue = Callable[[list[QueuedWork]], None]


@dataclass
class RecoveryReport:
    """What one pass settled."""

    recorded: int = 0
    released: int = 0
    possibly_twice: int = 0
    dead_workers: int = 0

    def __bool__(self) -> bool:
        return bool(self.recorded or self.released or self.possibly_twice or self.dead_workers)


_ROWS = select(Delivery.id, Delivery.channel, Delivery.queue).where(
    Delivery.id.in_(bindparam("ids", expanding=True))
)


def requeue_work(runtime: Runtime, rows: Sequence[tuple[int, str, str]]) -> list[QueuedWork]:
    """Queue messages for (id, channel, queue) rows, batched as planning batches them (so
    emails still share requests)."""
    by_queue: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for delivery_id, channel, queue in sorted(rows):
        by_queue[queue].append((delivery_id, channel))
    settings = runtime.settings
    work: list[QueuedWork] = []
    for queue, pairs in by_queue.items():
        work += delivery_work(
            deliver_batch_actor_of_queue(queue),
            pairs,
            settings.delivery_batch_size,
            settings.email_batch_size,
        )
    return work


def _receipt(entry: JournalEntry) -> SentRecord:
    return SentRecord(
        entry.delivery_id,
        entry.at,
        entry.provider or "unknown",
        entry.provider_message_id,
        entry.sms_segments,
    )


def _requeue_released(runtime: Runtime, released: list[int], enqueue: Enqueue) -> None:
    if not released:
        return
    with runtime.sessions() as session:
        rows = [tuple(r) for r in session.execute(_ROWS, {"ids": released})]
    enqueue(requeue_work(runtime, rows))  # type: ignore[arg-type]


def replay_journal(runtime: Runtime, enqueue: Enqueue, now: datetime) -> RecoveryReport:
    """Apply this process's journal entries that no thread of it is still driving (receipts
    the database did not take, claims given back) to the database, and drop them. Other
    workers' entries are theirs, or ``release_dead_workers``'s once they are dead."""
    report = RecoveryReport()
    entries = [
        e
        for e in runtime.journal.entries().values()
        if e.worker == runtime.worker_id
        and e.token not in runtime.active_claims
        and e.kind is not EntryKind.SENDING
    ]
    if not entries:
        return report
    receipts = [e for e in entries if e.kind is EntryKind.SENT]
    wait = timedelta(seconds=runtime.settings.unconfirmed_wait_seconds)
    unconfirmed = [e for e in entries if e.kind is EntryKind.UNCONFIRMED]
    with runtime.sessions() as session:
        record_sent(session, [_receipt(e) for e in receipts])
        waiting = still_unconfirmed(session, [(e.delivery_id, e.token) for e in unconfirmed])
        overdue = [e for e in unconfirmed if e.delivery_id in waiting and now - e.at >= wait]
        releases = [
            ClaimRelease(e.delivery_id, e.token, maybe_sent=e.kind is not EntryKind.UNSENT)
            for e in entries
            if e.kind in (EntryKind.UNSENT, EntryKind.UNKNOWN)
        ]
        releases += [ClaimRelease(e.delivery_id, e.token, maybe_sent=True) for e in overdue]
        released = release_claims(session, releases, now, "given_back", "given back by its worker")
        session.commit()
    waiting -= {e.delivery_id for e in overdue}
    runtime.journal.forget_entries(e for e in entries if e.delivery_id not in waiting)
    _requeue_released(runtime, released, enqueue)
    report.recorded = len(receipts)
    report.released = len(released)
    report.possibly_twice = sum(1 for r in releases if r.maybe_sent and r.delivery_id in released)
    if report:
        log.warning(
            "send journal replayed: %d sends recorded, %d deliveries released (%d possibly "
            "sent twice)",
            report.recorded,
            report.released,
            report.possibly_twice,
        )
    return report


_CLAIMERS = (
    select(Delivery.claimed_by)
    .where(Delivery.state == DeliveryState.SENDING.value, Delivery.claimed_by.is_not(None))
    .distinct()
)


def release_dead_workers(runtime: Runtime, enqueue: Enqueue, now: datetime) -> RecoveryReport:
    """Settle the ``sending`` deliveries of worker processes known dead (see the module
    docstring); never those of a living one."""
    report = RecoveryReport()
    with runtime.sessions() as session:
        claimers = {c for c in session.scalars(_CLAIMERS) if c}
    journal = runtime.journal.entries()
    writers = {e.worker for e in journal.values() if e.worker}
    dead = runtime.heartbeats.dead((claimers | writers) - {runtime.worker_id})
    if not dead:
        return report
    with runtime.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.claim_token).where(
                Delivery.state == DeliveryState.SENDING.value,
                Delivery.claimed_by.in_(sorted(dead)),
            )
        ).all()
        receipts: list[JournalEntry] = []
        releases: list[ClaimRelease] = []
        for row in rows:
            entry = journal.get(row.id)
            if entry is not None and entry.token != row.claim_token:
                entry = None  # an entry of an earlier claim
            if entry is not None and entry.kind is EntryKind.SENT:
                receipts.append(entry)
                continue
            outbox = runtime.outbox.find_sent(row.id)
            if outbox is not None:
                receipts.append(
                    JournalEntry(
                        row.id,
                        EntryKind.SENT,
                        "",
                        "",
                        now,
                        outbox.provider,
                        outbox.provider_message_id,
                    )
                )
                continue
            in_flight = entry is not None and entry.kind in (
                EntryKind.SENDING,
                EntryKind.UNKNOWN,
                EntryKind.UNCONFIRMED,
            )
            releases.append(ClaimRelease(row.id, row.claim_token, maybe_sent=in_flight))
        record_sent(session, [_receipt(e) for e in receipts])
        released = release_claims(
            session, releases, now, "worker_dead", "its worker stopped mid-send"
        )
        session.commit()
    settled = {e.delivery_id for e in receipts} | set(released)
    settled |= {i for i, e in journal.items() if e.worker in dead}
    runtime.journal.forget(sorted(settled))
    runtime.heartbeats.forget_dead(dead)
    _requeue_released(runtime, released, enqueue)
    report.dead_workers = len(dead)
    report.recorded = len(receipts)
    report.released = len(released)
    report.possibly_twice = sum(1 for r in releases if r.maybe_sent and r.delivery_id in released)
    if not rows:
        return report
    log.warning(
        "%d worker(s) stopped mid-send: %d of their sends recorded from the journal, %d "
        "deliveries released (%d possibly sent twice: their requests were in flight)",
        report.dead_workers,
        report.recorded,
        report.released,
        report.possibly_twice,
    )
    return report


def release_unowned(runtime: Runtime, enqueue: Enqueue, now: datetime) -> RecoveryReport:
    """Settle ``sending`` deliveries claimed without a worker's name (before the upgrade
    that added it) once ``DISPATCHER_SENDING_GRACE_SECONDS`` have passed: sent if the
    outbox or the provider knows it, else released as possibly sent twice."""
    report = RecoveryReport()
    grace = timedelta(seconds=runtime.settings.sending_grace_seconds)
    with runtime.sessions() as session:
        stale = session.execute(
            select(Delivery.id, Delivery.channel).where(
                Delivery.state == DeliveryState.SENDING.value,
                Delivery.claimed_by.is_(None),
                Delivery.claimed_at <= now - grace,
            )
        ).all()
        releases: list[ClaimRelease] = []
        for row in stale:
            receipt = runtime.outbox.find_sent(row.id) or runtime.channels.adapter_for(
                Channel(row.channel)
            ).find_sent(row.id)
            if receipt is None:
                releases.append(ClaimRelease(row.id, None, maybe_sent=True))
            elif move_delivery(
                session,
                row.id,
                DeliveryState.SENT,
                now=now,
                code="recovered",
                detail="sent before the worker stopped",
                provider=receipt.provider,
                provider_message_id=receipt.provider_message_id,
                sent_at=now,
            ):
                report.recorded += 1
        released = release_claims(
            session, releases, now, "released", "worker stopped mid-send; grace period over"
        )
        session.commit()
    _requeue_released(runtime, released, enqueue)
    report.released = report.possibly_twice = len(released)
    return report
