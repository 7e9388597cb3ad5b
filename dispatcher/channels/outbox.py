"""The outbox channel: 'sends' by recording the message, for machines with no credentials.

Every message is stored in the ``outbox_messages`` table (one row per delivery, so a repeated
send returns the first receipt instead of a second message) and appended as one JSON object a
line to ``$DISPATCHER_DATA_DIR/outbox/announcement-<id>.jsonl``.
"""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.channels.base import OutgoingMessage, ProviderReceipt
from dispatcher.store.models import OutboxMessage


class OutboxAdapter:
    """Records messages in the database and in JSON-lines files; never fails to 'send'."""

    name = "outbox"

    def __init__(self, sessions: sessionmaker[Session], outbox_dir: Path) -> None:
        self._sessions = sessions
        self._outbox_dir = outbox_dir

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Record ``message``; sending the same delivery twice records it once."""
        rendered = message.rendered
        row = OutboxMessage(
            delivery_id=message.delivery_id,
            announcement_id=message.announcement_id,
            channel=message.channel.value,
            to_address=message.to,
            subject=rendered.subject or rendered.title,
            body=rendered.body,
            html=rendered.html,
            language=rendered.language,
            created_at=datetime.now(UTC),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                receipt = ProviderReceipt(self.name, f"outbox-{row.id}")
        except IntegrityError:
            existing = self.find_sent(message.delivery_id)
            if existing is None:
                raise
            return existing
        self._append_line(message, receipt)
        return receipt

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """The receipt of ``delivery_id`` if the outbox already holds it."""
        with self._sessions() as session:
            row_id = session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.delivery_id == delivery_id)
            )
        return None if row_id is None else ProviderReceipt(self.name, f"outbox-{row_id}")

    def _append_line(self, message: OutgoingMessage, receipt: ProviderReceipt) -> None:
        rendered = message.rendered
        record = {
            "delivery_id": message.delivery_id,
            "announcement_id": message.announcement_id,
            "school": message.school_slug,
            "category": message.category,
            "channel": message.channel.value,
            "to": message.to,
            "subject": rendered.subject or rendered.title,
            "body": rendered.body,
            "language": rendered.language,
            "format": rendered.format.value,
            "sms_encoding": rendered.sms.encoding if rendered.sms else None,
            "sms_segments": rendered.sms.segments if rendered.sms else None,
            "provider_message_id": receipt.provider_message_id,
            "at": datetime.now(UTC).isoformat(),
        }
        self._outbox_dir.mkdir(parents=True, exist_ok=True)
        path = self._outbox_dir / f"announcement-{message.announcement_id}.jsonl"
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
