"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
