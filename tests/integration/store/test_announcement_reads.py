"""What the announcement pages read besides the report, on both databases: deliveries by
state, one kept text per channel, language and format, relationships, replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dispatcher.runtime import Runtime
from dispatcher.store.announcement_reads import (
    relationships,
    replies_of,
    sample_texts,
    state_counts,
)
from dispatcher.store.message_texts import KeptText, keep_texts
from dispatcher.store.models import Delivery, InboundMessage, School
from tests.support.factories import create, import_roster, many_families, plan, row

NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)


def test_states_texts_relationships_and_replies(runtime: Runtime) -> None:
    import_roster(
        runtime,
        [
            *many_families(2),
            row(student_id="S0", contact_id="G1", relationship="grandfather", mobile=""),
        ],
    )
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    with runtime.sessions() as db:
        states = state_counts(db, announcement_id)
        assert set(states) == {"pending"} and states["pending"] > 0
        assert state_counts(db, announcement_id + 1) == {}

        texts = [
            KeptText(announcement_id, "sms", "en", "standard", None, f"Closed, {name}", f"h{n}")
            for n, name in enumerate(["Ada", "Bob"])
        ]
        texts.append(KeptText(announcement_id, "email", "pl", "standard", "Zamknięte", "…", "h9"))
        keep_texts(db, texts, NOW)
        db.commit()
        samples = sample_texts(db, announcement_id)
        assert [(t.channel, t.language, t.body) for t in samples] == [
            ("email", "pl", "…"),
            ("sms", "en", "Closed, Ada"),
        ]

        school_id = db.scalar(select(School.id).where(School.slug == "demo"))
        assert school_id is not None
        links = relationships(db, school_id, {"S0", "S1"})
        assert links[("S0", "G1")] == "grandfather"
        assert links[("S0", "C0")] == "mother"
        assert ("S1", "C0") not in links
        assert relationships(db, school_id, set()) == {}

        delivery = db.scalars(
            select(Delivery).where(Delivery.announcement_id == announcement_id)
        ).first()
        assert delivery is not None
        for n, (kind, body) in enumerate([("stop", "STOP"), ("reply", "Thanks")]):
            db.add(
                InboundMessage(
                    received_at=NOW + timedelta(minutes=n),
                    from_phone="+447700900000",
                    body=body,
                    kind=kind,
                    announcement_id=announcement_id,
                    contact_id=delivery.contact_id if kind == "reply" else None,
                )
            )
        db.commit()
        replies = replies_of(db, announcement_id)
        assert [(r.kind, r.contact_name, r.body) for r in replies] == [
            ("stop", "", "STOP"),
            ("reply", "Anne Lovelace", "Thanks"),
        ]
