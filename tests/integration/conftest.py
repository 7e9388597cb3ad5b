"""Fixtures shared by the integration tests: the provider emulator for a whole dispatcher
(``emulator``) and a Redis server of the clock tests' own (``clock_broker``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.broker import build_broker
from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from emulator import ProviderEmulator
from emulator.cli import provider_environment


@pytest.fixture
def emulator(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path
) -> Iterator[ProviderEmulator]:
    """The provider emulator, with this test's environment pointing every adapter at it."""
    with ProviderEmulator() as running:
        for name, value in provider_environment(running, tmp_path / "fcm-account.json").items():
            monkeypatch.setenv(name, value)
        for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
            monkeypatch.delenv(variable, raising=False)
        yield running


@pytest.fixture(scope="session")
def private_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of these tests' own: other suites sharing the machine's Redis (and
    flushing it, or running workers on it) cannot touch the queues these tests count."""
    home = tmp_path_factory.mktemp("clock-redis")
    yield ensure_embedded_redis(home)
    stop_embedded_redis(home)


@pytest.fixture
def clock_broker(
    private_redis_url: str, broker: Any, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> RedisBroker:
    """An empty broker on the private Redis with the dispatcher's actors; the test's
    environment (and so any ``dispatcher`` process it starts) points at the same Redis."""
    private = build_broker(private_redis_url)
    for name in broker.get_declared_actors():
        private.declare_actor(broker.get_actor(name))
    private.client.flushdb()
    monkeypatch.setenv("REDIS_URL", private_redis_url)
    env["REDIS_URL"] = private_redis_url
    return private
