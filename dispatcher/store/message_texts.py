"""The texts families were sent (``message_texts``): written once per announcement and
content, however many families read the same words (decision 0077)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dispatcher.store.models import MessageText

#: A text's key: its announcement and its content hash.
TextKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class KeptText:
    """One text as a family read it, with the hash that deduplicates it."""

    announcement_id: int
    channel: str
    language: str
    format: str
    subject: str | None
    body: str
    content_hash: str

    @property
    def key(self) -> TextKey:
        """The text's key: (announcement id, content hash)."""
        return (self.announcement_id, self.content_hash)


def keep_texts(session: Session, texts: Sequence[KeptText], now: datetime) -> dict[TextKey, int]:
    """Store those of ``texts`` not stored yet (one INSERT ... ON CONFLICT DO NOTHING for
    them all, so two workers storing the same text store it once) and return the id of each
    by its key. The caller commits."""
    unique = list({t.key: t for t in texts}.values())
    if not unique:
        return {}
    connection = session.connection()
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(MessageText).on_conflict_do_nothing(
        index_elements=["announcement_id", "content_hash"]
    )
    connection.execute(
        statement,
        [
            {
                "announcement_id": t.announcement_id,
                "channel": t.channel,
                "language": t.language,
                "format": t.format,
                "content_hash": t.content_hash,
                "subject": t.subject,
                "body": t.body,
                "created_at": now,
            }
            for t in unique
        ],
    )
    ids: dict[TextKey, int] = {}
    by_announcement: dict[int, list[str]] = {}
    for text in unique:
        by_announcement.setdefault(text.announcement_id, []).append(text.content_hash)
    for announcement_id, hashes in by_announcement.items():
        rows = connection.execute(
            select(MessageText.id, MessageText.content_hash).where(
                MessageText.announcement_id == announcement_id,
                MessageText.content_hash.in_(hashes),
            )
        )
        ids.update({(announcement_id, content_hash): i for i, content_hash in rows})
    return ids
