"""A database that goes away answers 503 with ``Retry-After`` in the API's error shape, never
500: the REST API (so the office tries again) and the provider and MIS webhooks (so the
provider sends its callback again and nothing it told us is lost). Tested on a PostgreSQL
cluster of the test's own, stopped in the middle of the test and started again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dispatcher.triggers.mis.signing import sign
from tests.integration.web.test_api_announcements import token_for
from tests.integration.web.test_sendgrid_webhooks import event
from tests.integration.web.test_twilio_webhooks import _sent_payment_sms
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR
from tests.support.services import StoppablePostgres
from tests.support.tracking import configure_webhooks, deliveries

MIS_SECRET = "down-test-mis-secret"


@pytest.fixture
def cluster() -> Iterator[StoppablePostgres]:
    """A PostgreSQL server of this test's own, with a migrated ``dispatcher`` database."""
    from dispatcher.store.engine import upgrade_database

    server = StoppablePostgres()
    server.start()
    admin = create_engine(f"{server.url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE dispatcher"))
    admin.dispose()
    upgrade_database(f"{server.url}/dispatcher")
    yield server
    server.remove()


@pytest.fixture
def down_runtime(
    cluster: StoppablePostgres, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> Iterator[Any]:
    """The runtime over the test's own cluster."""
    from dispatcher.runtime import current_runtime, dispose_runtimes

    for key, value in {
        "DATABASE_URL": f"{cluster.url}/dispatcher",
        "REDIS_URL": redis_url,
        "DISPATCHER_DATA_DIR": str(tmp_path),
        "DISPATCHER_CONFIG_DIR": str(CONFIG_DIR),
        "DISPATCHER_TEMPLATES_DIR": str(TEMPLATES_DIR),
        "DISPATCHER_MIS_SECRET_DEMO": MIS_SECRET,
    }.items():
        monkeypatch.setenv(key, value)
    yield current_runtime()
    dispose_runtimes()


def _mis_post(client: TestClient) -> Any:
    body = json.dumps(
        {
            "id": "evt_down_1",
            "type": "student.left",
            "data": {"student_id": "S1", "left_on": "2026-12-18"},
        }
    ).encode()
    timestamp = str(int(datetime.now(UTC).timestamp()))
    return client.post(
        "/webhooks/mis/demo",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-MIS-Timestamp": timestamp,
            "X-MIS-Signature": sign(MIS_SECRET.encode(), timestamp, body),
        },
    )


def _is_503(response: Any) -> bool:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Retry-After"].isdigit()
    assert response.json() == {
        "detail": [
            {
                "field": "database",
                "message": "the database is unavailable; try again in a little while",
            }
        ]
    }
    return True


def test_every_route_answers_503_while_the_database_is_down_and_works_once_it_is_back(
    down_runtime: Any, cluster: StoppablePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher.web.app import create_app

    app = create_app(lambda: down_runtime)
    client = TestClient(app, raise_server_exceptions=False)
    hooks = configure_webhooks(app, client, monkeypatch)
    announcement_id, sms = _sent_payment_sms(down_runtime)
    email = event(sms, "delivered")  # any signed batch: it is refused before it is read
    authorization = {"Authorization": token_for(down_runtime, "admin")}
    closure = {
        "school": "demo",
        "category": "emergency_closure",
        "audience": ["school"],
        "variables": {"date": "Tuesday", "reason": "heavy snow"},
    }

    cluster.stop()

    assert _is_503(client.post("/api/announcements", json=closure, headers=authorization))
    assert _is_503(client.get("/api/announcements?school=demo", headers=authorization))
    assert _is_503(hooks.status(sms, "delivered"))
    assert _is_503(hooks.inbound("+447700900001", "STOP", "SM" + "e" * 32))
    assert _is_503(hooks.sendgrid([email]))
    assert _is_503(_mis_post(client))

    cluster.start()

    # the provider's retry is applied: nothing it told us while the database was down is lost
    retried = hooks.status(sms, "delivered")
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"moved": 1}
    assert [d.state for d in deliveries(down_runtime, announcement_id)] == ["delivered"]
    assert client.post("/api/announcements", json=closure, headers=authorization).status_code == 201
    assert _mis_post(client).status_code == 202
