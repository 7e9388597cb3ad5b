"""Keeping the texts families were sent (decision 0077): each send record names its text,
stored once per announcement and content. The ids of texts already stored are remembered
per announcement and process (``AnnouncementFacts.text_ids``), so a closure to 3,000
families whose text greets no one stores one row per channel and language, with one INSERT
per distinct text per process and nothing more per delivery than the send record's UPDATE."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.rendering.templates import RenderedMessage
from dispatcher.store.deliveries import SentRecord
from dispatcher.store.message_texts import KeptText, TextKey, keep_texts


def kept_text(announcement_id: int, rendered: RenderedMessage) -> KeptText:
    """``rendered`` as the family reads it: an email's subject and plain text, a push's
    title and body, a text's body; with the hash of all of it and its channel, language and
    format."""
    subject = rendered.subject if rendered.subject is not None else rendered.title
    digest = hashlib.sha256()
    for part in (
        rendered.channel.value,
        rendered.language,
        rendered.format.value,
        subject or "",
        rendered.body,
    ):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return KeptText(
        announcement_id=announcement_id,
        channel=rendered.channel.value,
        language=rendered.language,
        format=rendered.format.value,
        subject=subject,
        body=rendered.body,
        content_hash=digest.hexdigest(),
    )


def with_text_ids(
    session: Session,
    known: dict[TextKey, int],
    records: Sequence[SentRecord],
    now: datetime,
) -> tuple[list[SentRecord], dict[TextKey, int]]:
    """``records`` with their ``message_text_id``: from ``known`` where the text is stored
    already, otherwise stored now (in the caller's transaction). Returns the records and the
    ids stored now, which the caller adds to ``known`` once it has committed (a rolled back
    text was never stored)."""
    missing = [r.text for r in records if r.text is not None and r.text.key not in known]
    stored = keep_texts(session, missing, now) if missing else {}
    return [
        replace(r, message_text_id=known.get(r.text.key) or stored.get(r.text.key))
        if r.text is not None
        else r
        for r in records
    ], stored
