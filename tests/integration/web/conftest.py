"""Fixtures for the HTTP service: the FastAPI app over this test's runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dispatcher.runtime import Runtime
from tests.support.tracking import Webhooks, configure_webhooks


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    """The web app, answering with this test's runtime (database, Redis, config)."""
    from dispatcher.web.app import create_app

    return create_app(lambda: runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for the app (no server process)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hooks(
    runtime: Runtime, app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> Webhooks:
    """The provider webhooks configured with test secrets (``tests.support.tracking``)."""
    return configure_webhooks(app, client, monkeypatch)
