"""A claim's sends on their way to the database, never forgotten on the way.

``ClaimLog`` writes each step of a claim to the send journal (``dispatcher.queue.journal``)
as it happens: ``sending`` before a provider is asked, ``sent`` with the receipt the moment it
answers (written without waiting for Redis's answer, which is read before the next commit).
Receipts are recorded in the database ``RECORD_EVERY`` per commit and dropped from the journal
once committed. When the database does not answer, the breaker opens, the receipts stay in
the journal (replayed by ``dispatcher.delivery.recovery``), and the claimed deliveries not yet
sent are given back (``unsent``) instead of being sent.

If Redis does not take an entry, the send it was for is recorded in the database at once
rather than batched: either store holds every receipt before the worker moves on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime

from dispatcher.channels.base import ProviderReceipt
from dispatcher.delivery.context import BatchContext
from dispatcher.delivery.messages import PreparedDelivery
from dispatcher.delivery.record import sent_record
from dispatcher.delivery.texts import with_text_ids
from dispatcher.queue.journal import EntryKind, JournalEntry, JournalUnavailable
from dispatcher.store.availability import is_connection_error
from dispatcher.store.deliveries import (
    Claim,
    SentRecord,
    mark_possible_duplicates,
    record_sent,
)

log = logging.getLogger("dispatcher.deliver")

#: Sends recorded per commit in a batch (the journal holds them meanwhile).
RECORD_EVERY = 25
#: How long to wait between tries when neither Redis nor the database takes a receipt.
BOTH_DOWN_RETRY_SECONDS = 0.5


class ClaimLog:
    """The journal and database record of one claim's sends (one batch, one thread)."""

    def __init__(self, ctx: BatchContext, claim: Claim) -> None:
        self.ctx = ctx
        self.claim = claim
        self._unrecorded: list[SentRecord] = []
        self._journal_failed = False
        #: Sent deliveries one of whose requests lost its answer: possibly sent twice.
        self._doubtful: set[int] = set()
        #: Receipts not yet journaled (written with the next entry, or before a commit).
        self._receipts: list[JournalEntry] = []
        self._writer = ctx.runtime.journal.writer()

    def _entry(self, delivery_id: int, kind: EntryKind, moment: datetime) -> JournalEntry:
        return JournalEntry(delivery_id, kind, self.claim.worker, self.claim.token, moment)

    def _write(self, entries: list[JournalEntry], *, wait: bool = False) -> bool:
        """Write ``entries`` (``wait``: and every entry before them, answered); False when
        Redis did not take them."""
        try:
            if wait:
                self._writer.confirm()
                self.ctx.runtime.journal.write(entries)
            else:
                self._writer.send(entries)
        except JournalUnavailable as exc:
            if not self._journal_failed:
                log.warning("send journal unavailable (%s): recording each send at once", exc)
            self._journal_failed = True
            return False
        self._journal_failed = False
        return True

    def sending(self, delivery_ids: Iterable[int]) -> None:
        """The provider is about to be asked for ``delivery_ids`` (in one request): journal
        that, with the receipts of the sends before it (one round trip for both)."""
        moment = self.ctx.now()
        self._write_with_receipts([self._entry(i, EntryKind.SENDING, moment) for i in delivery_ids])

    def sent(self, items: list[tuple[PreparedDelivery, ProviderReceipt]]) -> None:
        """The provider took these: their receipts are on their way to the journal before
        this returns (the answer is read later) and recorded in the database every
        ``RECORD_EVERY``. Were they kept for the next request's entry, a process killed while
        preparing that request would lose the receipts of the one before it too."""
        moment = self.ctx.now()
        records = [sent_record(item, receipt, moment) for item, receipt in items]
        self._receipts.extend(
            JournalEntry(
                r.delivery_id,
                EntryKind.SENT,
                self.claim.worker,
                self.claim.token,
                moment,
                r.provider,
                r.provider_message_id,
                r.sms_segments,
            )
            for r in records
        )
        self._unrecorded.extend(records)
        self._write_with_receipts([])
        if len(self._unrecorded) >= RECORD_EVERY:
            self.flush()

    def keep(self) -> None:
        """Make sure the journal holds every receipt not in the database (the database
        cannot take them now)."""
        receipts, self._receipts = self._receipts, []
        if not self._write(receipts, wait=True):
            self._record_until_kept([*receipts, *self._journaled_unconfirmed()])

    def close(self) -> None:
        """The claim is done: read the journal's last answers, give its connection back."""
        self._writer.close()

    def _journaled_unconfirmed(self) -> list[JournalEntry]:
        """The receipts of records not yet in the database, as journal entries."""
        return [
            JournalEntry(
                r.delivery_id,
                EntryKind.SENT,
                self.claim.worker,
                self.claim.token,
                r.at,
                r.provider,
                r.provider_message_id,
                r.sms_segments,
            )
            for r in self._unrecorded
        ]

    def _write_with_receipts(self, entries: list[JournalEntry]) -> None:
        """Journal the receipts not yet journaled together with ``entries``; if Redis does
        not take them, the receipts are recorded in the database before anything else."""
        receipts, self._receipts = self._receipts, []
        if self._write([*receipts, *entries]) or not receipts:
            return
        self._record_until_kept(receipts)

    def doubt(self, delivery_ids: Iterable[int]) -> None:
        """A request for these lost its answer and was tried again (or will be): mark them
        possibly sent twice, with their receipts, or now if they failed."""
        self._doubtful.update(delivery_ids)

    def given_back(self, delivery_ids: Iterable[int]) -> list[int]:
        """Claimed deliveries this claim will not send (the database went away): the
        journal's replay puts them back to pending. Returns them."""
        ids = list(delivery_ids)
        if ids:
            self._write_with_receipts(
                [self._entry(i, EntryKind.UNSENT, self.ctx.now()) for i in ids]
            )
        return ids

    def unconfirmed(self, delivery_ids: Iterable[int]) -> None:
        """Requests for ``delivery_ids`` lost their answers and the provider's callback will
        say whether it took them: they stay claimed, journaled as waiting for that word (the
        replay sends them again, flagged, if it never comes)."""
        ids = list(delivery_ids)
        if ids:
            self._write_with_receipts(
                [self._entry(i, EntryKind.UNCONFIRMED, self.ctx.now()) for i in ids]
            )

    def interrupted(self, delivery_ids: Iterable[int]) -> None:
        """A request for ``delivery_ids`` was cut short: whether the provider took it cannot
        be known (the replay releases them as possibly sent twice)."""
        ids = list(delivery_ids)
        if ids:
            self._write_with_receipts(
                [self._entry(i, EntryKind.UNKNOWN, self.ctx.now()) for i in ids]
            )

    def flush(self) -> bool:
        """Record the receipts not yet in the database and drop them from the journal;
        False (the breaker open, the receipts kept in the journal) when the database does not
        answer."""
        if not self._unrecorded:
            return True
        # Journaled (and answered) first, in case the commit fails.
        receipts, self._receipts = self._receipts, []
        journaled = self._write(receipts, wait=True)
        session = self.ctx.session
        text_ids = self.ctx.facts.text_ids
        try:
            records, stored = with_text_ids(session, text_ids, self._unrecorded, self.ctx.now())
            record_sent(session, records)
            doubtful = self._doubtful & {r.delivery_id for r in self._unrecorded}
            mark_possible_duplicates(session, doubtful)
            session.commit()
            text_ids.update(stored)
            self._doubtful -= doubtful
        except Exception as exc:
            session.rollback()
            if not is_connection_error(exc):
                raise
            self.ctx.runtime.database.trip(exc)
            if journaled:  # else the caller keeps them until one store takes them
                log.warning(
                    "%d sends kept in the send journal until the database answers",
                    len(self._unrecorded),
                )
                self._unrecorded.clear()
            return False
        self.ctx.runtime.journal.forget(r.delivery_id for r in self._unrecorded)
        self._unrecorded.clear()
        return True

    def _record_until_kept(self, entries: list[JournalEntry]) -> None:
        """Neither wait for a batch nor move on until Redis or the database holds the
        receipts of ``entries``."""
        while True:
            if not self.ctx.runtime.database.is_open and self.flush():
                return
            if self._write(entries, wait=True):
                self._unrecorded.clear()
                return
            log.error("neither the database nor Redis takes a receipt; retrying")
            time.sleep(BOTH_DOWN_RETRY_SECONDS)
