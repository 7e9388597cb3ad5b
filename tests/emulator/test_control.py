"""The control endpoints, over HTTP, as benchmark workers in other processes use them."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import ProviderEmulator

MOBILE = "+447700900123"


def test_failures_latency_stats_and_requests_over_http(
    emulator: ProviderEmulator, twilio_client: Client
) -> None:
    control = f"{emulator.url}/_emulator"

    added = requests.post(
        f"{control}/failures",
        json={"provider": "twilio", "status": 429, "retry_after": 1, "count": 1},
        timeout=5,
    )
    listed = requests.get(f"{control}/failures", timeout=5).json()
    try:
        twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi")
        raise AssertionError("the rule did not apply")
    except TwilioRestException as exc:
        assert exc.status == 429
    for _ in range(2):
        twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi")
    latency = requests.post(f"{control}/latency", json={"seconds": 0.05}, timeout=5)
    stats = requests.get(f"{control}/stats", timeout=5).json()
    recorded = requests.get(f"{control}/requests", params={"provider": "twilio"}, timeout=5)

    assert added.status_code == 201
    assert listed[0]["status"] == 429
    assert latency.json() == {"seconds": 0.05}
    assert emulator.latency == 0.05
    assert stats["counts"]["twilio"] == 2
    assert stats["requests"]["twilio"] == 3
    assert stats["duplicates"]["twilio"] == 1
    assert stats["max_per_second"]["twilio"] == 3
    assert stats["latency"] == 0.05
    assert [r["status"] for r in recorded.json()] == [429, 201, 201]
    assert recorded.json()[1]["form"]["To"] == MOBILE

    cleared = requests.delete(f"{control}/failures", timeout=5)
    assert cleared.status_code == 200
    assert emulator.failure_rules() == []
    requests.post(f"{control}/reset", timeout=5)
    assert emulator.requests == []


def test_bad_control_requests_are_400(emulator: ProviderEmulator) -> None:
    control = f"{emulator.url}/_emulator"

    unknown_field = requests.post(
        f"{control}/failures", json={"provider": "twilio", "colour": "red"}, timeout=5
    )
    bad_json = requests.post(f"{control}/failures", data=b"{", timeout=5)
    bad_latency = requests.post(f"{control}/latency", json={"seconds": "slow"}, timeout=5)
    nowhere = requests.get(f"{control}/nowhere", timeout=5)

    assert [unknown_field.status_code, bad_json.status_code, bad_latency.status_code] == [400] * 3
    assert "colour" in unknown_field.json()["error"]
    assert nowhere.status_code == 404
    assert emulator.requests == []
