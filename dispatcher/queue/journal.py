"""The send journal: what happened to each claimed delivery, kept in Redis until the
database has it.

A worker writes an entry per delivery of a claim at three moments (decision 0055):

- ``sending`` just before the provider is asked (the request is in flight);
- ``sent`` with the provider's receipt the moment it answers, before the worker moves on;
- ``unsent`` when the worker gives a claimed delivery back without asking the provider (the
  database went away mid-batch), or ``unknown`` when a request was interrupted and nobody can
  tell whether the provider took it;
- ``unconfirmed`` when the provider was asked, its answer was lost, and its status callback
  will say whether it took the message (the row waits in ``sending`` for it, decision 0056).

The entry is deleted once the database holds the outcome. While the database is down the
journal is the record: ``dispatcher.delivery.recovery`` replays it into the database when it
answers again, and consults it before releasing the claims of a worker that died.

One Redis hash, field = delivery id, value = a small JSON object. Entries name the claim's
token, so that a replay never touches a later claim of the same delivery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis

log = logging.getLogger("dispatcher.journal")

JOURNAL_KEY = "dispatcher:journal"

#: Delete the field only if it still holds the value read (a later claim may have written).
_FORGET_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class EntryKind(StrEnum):
    """What the journal knows of one claimed delivery."""

    SENDING = "sending"
    SENT = "sent"
    UNSENT = "unsent"
    UNKNOWN = "unknown"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class JournalEntry:
    """One delivery's entry: its kind, the claim it belongs to, and for ``sent`` the
    provider's receipt."""

    delivery_id: int
    kind: EntryKind
    worker: str
    token: str
    at: datetime
    provider: str | None = None
    provider_message_id: str | None = None
    sms_segments: int | None = None
    #: The stored value, compared when the entry is forgotten.
    raw: bytes = b""

    def encode(self) -> str:
        """The value stored in Redis."""
        return json.dumps(
            {
                "k": self.kind.value,
                "w": self.worker,
                "t": self.token,
                "at": self.at.isoformat(),
                "p": self.provider,
                "m": self.provider_message_id,
                "s": self.sms_segments,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, delivery_id: int, raw: bytes) -> JournalEntry:
        """The entry stored as ``raw`` for ``delivery_id``."""
        data = json.loads(raw)
        return cls(
            delivery_id=delivery_id,
            kind=EntryKind(data["k"]),
            worker=str(data["w"]),
            token=str(data["t"]),
            at=datetime.fromisoformat(data["at"]),
            provider=data.get("p"),
            provider_message_id=data.get("m"),
            sms_segments=data.get("s"),
            raw=raw,
        )


class JournalUnavailable(Exception):
    """Redis did not take or give the journal's entries."""


class SendJournal:
    """The journal in the Redis of ``client_factory`` (called once, on first use)."""

    def __init__(self, client_factory: Callable[[], redis.Redis[Any]]) -> None:
        self._client_factory = client_factory
        self._client: redis.Redis[Any] | None = None

    @property
    def client(self) -> redis.Redis[Any]:
        """The Redis client the journal writes with."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def write(self, entries: Sequence[JournalEntry]) -> None:
        """Store ``entries`` (one round trip), replacing each delivery's earlier entry.
        Raises ``JournalUnavailable`` when Redis does not answer."""
        if not entries:
            return
        try:
            self.client.hset(JOURNAL_KEY, mapping={str(e.delivery_id): e.encode() for e in entries})
        except redis.RedisError as exc:
            raise JournalUnavailable(type(exc).__name__) from exc

    def writer(self) -> JournalWriter:
        """A writer for one thread's claim: entries go out without waiting for Redis's
        answer (see ``JournalWriter``)."""
        return JournalWriter(self)

    def forget(self, delivery_ids: Iterable[int]) -> None:
        """Drop the entries of ``delivery_ids``: the database holds their outcome now. A
        failure is only logged (an entry left behind is replayed harmlessly later)."""
        fields = [str(i) for i in delivery_ids]
        if not fields:
            return
        try:
            self.client.hdel(JOURNAL_KEY, *fields)
        except redis.RedisError as exc:
            log.warning("send journal: could not drop %d entries (%s)", len(fields), exc)

    def forget_entries(self, entries: Iterable[JournalEntry]) -> None:
        """Drop each of ``entries`` only if it is still the delivery's entry (a later claim
        may have written a new one meanwhile)."""
        script = self.client.register_script(_FORGET_IF_UNCHANGED)
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for entry in entries:
            script(keys=[JOURNAL_KEY], args=[str(entry.delivery_id), entry.raw], client=pipe)
            count += 1
        if count:
            pipe.execute()

    def entries(self) -> dict[int, JournalEntry]:
        """Every entry, by delivery id. Raises ``JournalUnavailable``."""
        try:
            stored = self.client.hgetall(JOURNAL_KEY)
        except redis.RedisError as exc:
            raise JournalUnavailable(type(exc).__name__) from exc
        found: dict[int, JournalEntry] = {}
        for field, raw in stored.items():
            try:
                delivery_id = int(field)
                found[delivery_id] = JournalEntry.decode(delivery_id, raw)
            except (ValueError, KeyError, TypeError):
                log.warning("send journal: dropping an entry that cannot be read")
                self.client.hdel(JOURNAL_KEY, field)
        return found

    def size(self) -> int:
        """How many entries wait for the database."""
        return int(self.client.hlen(JOURNAL_KEY))


class JournalWriter:
    """Writes one claim's entries on a connection of its own, without waiting for each
    answer: an entry is on its way to Redis once ``send`` returns (the kernel delivers what
    was written to the socket even if this process dies the next instant), and ``confirm``
    reads every answer (before the database commit, and at the end of the claim).

    Waiting for each answer cost a quarter of a busy worker's time (a thread that waits on a
    socket waits again for the interpreter lock); this keeps the write and drops the wait.
    """

    def __init__(self, journal: SendJournal) -> None:
        self._journal = journal
        self._connection: Any = None
        self._unanswered = 0

    def send(self, entries: Sequence[JournalEntry]) -> None:
        """Write ``entries``; raises ``JournalUnavailable`` if they cannot be written."""
        if not entries:
            return
        try:
            if self._connection is None:
                self._connection = self._journal.client.connection_pool.get_connection()
            args: list[Any] = ["HSET", JOURNAL_KEY]
            for entry in entries:
                args += [str(entry.delivery_id), entry.encode()]
            self._connection.send_command(*args)
            self._unanswered += 1
        except (redis.RedisError, OSError) as exc:
            self._drop()
            raise JournalUnavailable(type(exc).__name__) from exc

    def confirm(self) -> None:
        """Read the answers to every entry written; raises ``JournalUnavailable`` if Redis
        did not take them all."""
        try:
            while self._unanswered:
                self._connection.read_response()
                self._unanswered -= 1
        except (redis.RedisError, OSError) as exc:
            self._drop()
            raise JournalUnavailable(type(exc).__name__) from exc

    def close(self) -> None:
        """Read what is left and give the connection back."""
        try:
            self.confirm()
        except JournalUnavailable:
            return
        if self._connection is not None:
            self._journal.client.connection_pool.release(self._connection)
            self._connection = None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._journal.client.connection_pool.release(self._connection)
        self._connection = None
        self._unanswered = 0
