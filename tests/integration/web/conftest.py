"""Fixtures for the HTTP service: the FastAPI app over this test's runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def app(runtime: Any) -> Any:
    """The web app, answering with this test's runtime (database, Redis, config)."""
    from dispatcher.web.app import create_app

    return create_app(lambda: runtime)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An HTTP client for the app (no server process)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hooks(runtime: Any, app: Any, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The provider webhooks configured with test secrets (``tests.support.tracking``)."""
    from tests.support.tracking import configure_webhooks

    return configure_webhooks(app, client, monkeypatch)
