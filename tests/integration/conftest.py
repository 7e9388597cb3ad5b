"""Fixtures shared by the integration tests: a Redis server of the clock tests' own
(``clock_broker``). The provider emulator (``emulator``) is in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.broker import build_broker
from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis


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
