"""Health, readiness and metrics of the web service."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dispatcher.queue.enqueue import enqueue
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import TUESDAY_10AM, send


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_for_environment() -> TestClient:
    from dispatcher.runtime import current_runtime
    from dispatcher.web.app import create_app

    runtime = current_runtime()
    return TestClient(create_app(lambda: runtime))


def test_healthz_and_readyz_answer_when_everything_is_up(
    client: TestClient, clean_redis: Any
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    providers = body.pop("providers")
    assert body == {
        "status": "ready",
        "database": "ok",
        "redis": "ok",
        "workers": {},
        "send_journal": 0,
    }
    # No provider credentials here: the seed schools' texts and emails are held, the demo's
    # written to the outbox; the web service still takes announcements.
    assert providers["status"] == "held"
    assert set(providers["held"]) == {
        "brockmoor",
        "sendat-a",
        "sendat-b",
        "three-dimensions",
        "trent-acres",
        "westbourne",
    }
    assert any("TWILIO_ACCOUNT_SID" in line for line in providers["held"]["brockmoor"])
    assert providers["outbox"]["demo"][0].startswith(
        "sms: written to the outbox — not sent to any family"
    )


def test_readyz_and_metrics_show_workers_waiting_for_the_database_and_the_journal(
    client: TestClient, runtime: Any, clean_redis: Any
) -> None:
    from dispatcher.queue.journal import EntryKind, JournalEntry

    runtime.heartbeats.beat("worker-a", "working")
    runtime.heartbeats.beat("worker-b", "waiting for the database")
    runtime.journal.write([JournalEntry(1, EntryKind.SENT, "worker-b", "t", TUESDAY_10AM)])
    body = client.get("/readyz").json()
    assert body["workers"] == {"working": 1, "waiting for the database": 1}
    assert body["send_journal"] == 1
    metrics = client.get("/metrics").text
    assert 'dispatcher_workers{status="waiting for the database"} 1.0' in metrics
    assert "dispatcher_send_journal_entries 1.0" in metrics


def test_readyz_fails_naming_redis_when_redis_is_down(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    with client_for_environment() as down:
        assert down.get("/healthz").status_code == 200  # the process itself is fine
        ready = down.get("/readyz")
        metrics = down.get("/metrics")
    assert ready.status_code == 503
    body = ready.json()
    assert (body["status"], body["database"]) == ("not ready", "ok")
    assert body["redis"].startswith("unreachable")
    assert str(port) not in ready.text  # says which, without the URL
    # metrics still answer, saying which source could not be read
    assert metrics.status_code == 200
    assert 'dispatcher_scrape_source_up{source="redis"} 0.0' in metrics.text
    assert 'dispatcher_scrape_source_up{source="database"} 1.0' in metrics.text


def test_readyz_fails_naming_the_database_when_it_is_down(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/none")
    with client_for_environment() as down:
        ready = down.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"].startswith("unreachable")
    assert ready.json()["redis"] == "ok"


def test_metrics_show_deliveries_latency_and_queue_depth(
    runtime: Any, client: TestClient, clean_redis: Any
) -> None:
    import_roster(runtime, [row(student_id=f"S{i}", contact_id=f"C{i}") for i in range(3)])
    sent = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, sent, now=TUESDAY_10AM))
    waiting = plan(runtime, create(runtime, now=TUESDAY_10AM), now=TUESDAY_10AM)
    enqueue(clean_redis, waiting)
    last_month = TUESDAY_10AM - timedelta(days=30)  # not counted: scrapes stay cheap
    plan(runtime, create(runtime, now=last_month), now=last_month)

    with pytest.MonkeyPatch.context() as patch:
        # latency covers deliveries sent in the last 15 minutes: scrape "at" the send time
        patch.setattr("dispatcher.web.routes.health.datetime", _Frozen)
        text = client.get("/metrics").text

    assert 'dispatcher_deliveries{channel="sms",state="sent"} 3.0' in text
    assert 'dispatcher_deliveries{channel="sms",state="pending"} 3.0' in text
    # one announcement has gone, one is still sending; last month's is not counted
    assert 'dispatcher_announcements{state="done"} 1.0' in text
    assert 'dispatcher_announcements{state="sending"} 1.0' in text
    assert 'dispatcher_announcements{state="cancelled"} 0.0' in text
    assert 'dispatcher_deliveries{channel="email",state="sent"} 3.0' in text
    assert 'dispatcher_provider_latency_seconds_count{channel="sms",provider="outbox"} 3.0' in text
    assert 'dispatcher_queue_depth{queue="deliver-urgent"} 2.0' in text  # the texts, the emails
    assert 'dispatcher_queue_depth{queue="deliver-bulk"} 0.0' in text


class _Frozen:
    @staticmethod
    def now(tz: Any = None) -> Any:
        return TUESDAY_10AM
