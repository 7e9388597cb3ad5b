"""Benchmark: one signed SendGrid Event Webhook batch of ``--events`` events (default
20,000), posted to the web app in one request, timed from the POST to its answer.

Printed figures, not a test. A fresh database (PostgreSQL on 127.0.0.1:5432 by default, or
``--database sqlite``) gets one announcement and ``--events / 2`` emails recorded ``sent``
by SendGrid; the batch carries ``processed`` and ``delivered`` for each (in that order), so
every email moves to ``delivered`` and gets one delivery event (``processed`` after ``sent``
changes nothing). The answer's counts and the rows are checked; exits with status 1 when the
median round takes 2 s or more (the target).

    .venv/bin/python bench/sendgrid_batch.py [--events 20000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    timings = [run(args.events, args.database) for _ in range(args.rounds)]
    median = sorted(timings)[len(timings) // 2]
    print(json.dumps({"events": args.events, "database": args.database, "seconds": timings}))
    if median >= TARGET_SECONDS:
        raise SystemExit(f"median {median} s: the target is under {TARGET_SECONDS} s")


def run(events: int, database: str) -> float:
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, func, insert, select, text

    from dispatcher.runtime import current_runtime, dispose_runtimes
    from dispatcher.store.engine import upgrade_database
    from dispatcher.store.models import Announcement, Contact, Delivery, DeliveryEvent
    from dispatcher.store.schools import ensure_school
    from dispatcher.web.app import create_app
    from emulator.signing import EmulatorKeys

    workdir = Path(tempfile.mkdtemp(prefix="bench-sendgrid-"))
    admin_url = "postgresql+psycopg://postgres@127.0.0.1:5432"
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        name = f"bench_sendgrid_{uuid.uuid4().hex[:8]}"
        admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{admin_url}/{name}"
    upgrade_database(url)
    keys = EmulatorKeys()
    os.environ.update(
        DATABASE_URL=url,
        DISPATCHER_DATA_DIR=str(workdir),
        DISPATCHER_CONFIG_DIR=str(ROOT / "config"),
        DISPATCHER_TEMPLATES_DIR=str(ROOT / "templates"),
        SENDGRID_WEBHOOK_PUBLIC_KEY=keys.sendgrid_public_key(),
    )
    runtime = current_runtime()
    emails = events // 2
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        school_id = ensure_school(session, runtime.configuration.school("demo")).id
        announcement_id = session.scalar(
            insert(Announcement)
            .values(
                school_id=school_id,
                category="newsletter",
                urgency="bulk",
                audience=["school"],
                variables={},
                requested_by="bench",
                state="done",
                created_at=now,
            )
            .returning(Announcement.id)
        )
        session.execute(
            insert(Contact),
            [
                {
                    "school_id": school_id,
                    "external_id": f"C{i}",
                    "first_name": "A",
                    "last_name": "B",
                    "email": f"p{i}@example.com",
                }
                for i in range(emails)
            ],
        )
        contact_ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        session.execute(
            insert(Delivery),
            [
                {
                    "announcement_id": announcement_id,
                    "contact_id": contact_id,
                    "channel": "email",
                    "kind": "primary",
                    "queue": "deliver-bulk",
                    "language": "en",
                    "format": "standard",
                    "state": "sent",
                    "provider": "sendgrid",
                    "provider_message_id": f"msg{contact_id}.{contact_id}",
                    "sent_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for contact_id in contact_ids
            ],
        )
        session.commit()
        delivery_ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    timestamp = int(now.timestamp())
    batch = [
        {
            "event": name,
            "delivery_id": str(delivery_id),
            "sg_message_id": f"msg{delivery_id}.filter",
            "timestamp": timestamp,
            "email": "p@example.com",
        }
        for delivery_id in delivery_ids
        for name in ("processed", "delivered")
    ]
    payload = json.dumps(batch, separators=(",", ":"))
    header_time = str(timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": keys.sign_sendgrid_payload(header_time, payload),
        "X-Twilio-Email-Event-Webhook-Timestamp": header_time,
    }
    client = TestClient(create_app(lambda: runtime))
    started = time.perf_counter()
    response = client.post("/webhooks/sendgrid/events", content=payload, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.json() == {"moved": emails, "unchanged": emails}, response.json()
    with runtime.sessions() as session:
        delivered = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")
        )
        moved = session.scalar(select(func.count()).select_from(DeliveryEvent))
    assert delivered == moved == emails, (delivered, moved)
    dispose_runtimes()
    if database == "postgresql":
        admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    return round(elapsed, 2)


if __name__ == "__main__":
    main()
