"""Fixtures for the adapter tests: one provider emulator per module, reset before each test,
and a guard that fails any test whose code tries to reach a host off this machine (the SDKs
must talk to the emulator only). The fast retry policy and the helpers that read recorded
requests are in ``tests.support.adapters``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import ProviderEmulator


@pytest.fixture(scope="module")
def running_emulator() -> Iterator[ProviderEmulator]:
    """One emulator for the test module."""
    with ProviderEmulator(latency=0.0) as emulator:
        yield emulator


@pytest.fixture
def emulator(running_emulator: ProviderEmulator) -> ProviderEmulator:
    """The module's emulator with no recorded requests and no failure rules."""
    running_emulator.latency = 0.0
    running_emulator.reset()
    return running_emulator


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", None, ""})


@pytest.fixture(autouse=True)
def only_local_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and remember) every name look-up of a host off this machine."""
    attempts: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOCAL_HOSTS and not str(name).startswith("127."):
            attempts.append(str(name))
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not reach {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"the code under test tried to reach {attempts}"
