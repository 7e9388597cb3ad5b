"""The send journal and the worker heartbeats, over a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.heartbeats import Heartbeats
from dispatcher.queue.journal import EntryKind, JournalEntry, SendJournal

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


def _journal(broker: RedisBroker) -> SendJournal:
    return SendJournal(lambda: broker.client)


def test_the_journal_keeps_each_deliverys_latest_entry_with_its_receipt(
    clean_redis: RedisBroker,
) -> None:
    journal = _journal(clean_redis)
    journal.write([JournalEntry(1, EntryKind.SENDING, "w1", "t1", NOW)])
    journal.write(
        [
            JournalEntry(1, EntryKind.SENT, "w1", "t1", NOW, "twilio", "SM123", 2),
            JournalEntry(2, EntryKind.UNSENT, "w1", "t1", NOW),
        ]
    )
    entries = journal.entries()
    assert set(entries) == {1, 2}
    assert entries[1].kind is EntryKind.SENT
    assert (entries[1].provider, entries[1].provider_message_id, entries[1].sms_segments) == (
        "twilio",
        "SM123",
        2,
    )
    assert entries[2].kind is EntryKind.UNSENT
    journal.forget([1])
    assert set(journal.entries()) == {2}


def test_an_entry_rewritten_meanwhile_is_not_forgotten(clean_redis: RedisBroker) -> None:
    journal = _journal(clean_redis)
    journal.write([JournalEntry(7, EntryKind.UNSENT, "w1", "old-claim", NOW)])
    read = journal.entries()[7]
    journal.write([JournalEntry(7, EntryKind.SENDING, "w2", "new-claim", NOW)])
    journal.forget_entries([read])
    assert journal.entries()[7].token == "new-claim"
    journal.forget_entries([journal.entries()[7]])
    assert journal.entries() == {}


def test_an_unreadable_entry_is_dropped_not_fatal(clean_redis: RedisBroker) -> None:
    clean_redis.client.hset("dispatcher:journal", "3", b"not json")
    assert _journal(clean_redis).entries() == {}
    assert clean_redis.client.hlen("dispatcher:journal") == 0


def _heartbeats(broker: RedisBroker, timeout: float) -> Heartbeats:
    return Heartbeats(lambda: broker.client, timeout)


def _beat_for(heartbeats: Heartbeats, worker: str, seconds: float, *others: Any) -> None:
    """Beat as ``worker`` (and each of ``others``) every 50 ms for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        heartbeats.beat(worker)
        for other in others:
            other.beat("living")
        time.sleep(0.05)


def test_a_silent_worker_is_dead_and_a_beating_one_is_not(clean_redis: RedisBroker) -> None:
    judge = _heartbeats(clean_redis, timeout=0.3)
    living = _heartbeats(clean_redis, timeout=0.3)
    silent = _heartbeats(clean_redis, timeout=0.3)
    silent.beat("silent")
    assert judge.dead(["silent", "living"]) == set()  # the judge has not beaten long enough
    _beat_for(judge, "judge", 0.45, living)
    assert judge.dead(["silent", "living", "never-seen"]) == {"silent", "never-seen"}
    statuses = {w.worker: w.status for w in judge.living()}
    assert statuses == {"judge": "working", "living": "working"}


def test_after_a_flushall_nobody_is_dead_until_the_living_could_beat_again(
    clean_redis: RedisBroker,
) -> None:
    judge = _heartbeats(clean_redis, timeout=0.3)
    _beat_for(judge, "judge", 0.45)
    clean_redis.client.flushdb()  # as a FLUSHALL does to this database
    judge.beat("judge")
    # Every heartbeat is gone, but the data is younger than the timeout: not evidence.
    assert judge.dead(["busy-worker"]) == set()
    _beat_for(judge, "judge", 0.35)
    assert judge.dead(["busy-worker"]) == {"busy-worker"}


def test_a_judge_whose_beats_stopped_judges_nobody(clean_redis: RedisBroker) -> None:
    judge = _heartbeats(clean_redis, timeout=0.3)
    _beat_for(judge, "judge", 0.45)
    time.sleep(0.3)  # the judge itself could not beat (Redis away, process stalled)
    assert judge.dead(["someone"]) == set()
