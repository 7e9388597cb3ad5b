"""Fuzzing the REST API and the MIS webhook from their OpenAPI document (schemathesis).

Every operation gets valid and invalid requests generated from the document, sent with a
real admin token (MIS events correctly signed, so the fuzzing reaches validation and storage).
No answer may be a 5xx; every answer must be one the document lists, in the documented shape;
every error body must name the field it is about.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dispatcher.access.tokens import create_token
from dispatcher.triggers.mis.signing import sign
from dispatcher.web.app import create_app
from tests.support.factories import import_roster, row

MIS_SECRET = "fuzz-secret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The document does not depend on the runtime, so the app is built once for collection and
# answers with each test's runtime (SQLite or PostgreSQL) through ``_bound``.
_bound: dict[str, Any] = {}
APP = create_app(lambda: _bound["runtime"])
MIS_CLIENT = TestClient(APP)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(
    path_regex=r"^/(api/announcements|webhooks/mis)"
)


@pytest.fixture(autouse=True)
def bound_runtime(runtime: Any, clean_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the app at this test's runtime, with a family on the roster and an MIS secret."""
    monkeypatch.setenv("DISPATCHER_MIS_SECRET_DEMO", MIS_SECRET)
    import_roster(runtime, [row()])
    _bound["runtime"] = runtime
    yield runtime
    _bound.clear()


@pytest.fixture
def admin(runtime: Any) -> str:
    with runtime.sessions() as session:
        _, secret = create_token(
            session, runtime.configuration, "fuzz-admin", "admin", None, datetime.now(UTC)
        )
    return f"Bearer {secret}"


def _signed_mis_call(case: Any) -> Any:
    """Send the generated event to a known school (most of the time), correctly signed."""
    if case.body is None or not isinstance(case.body, (dict, list, str, int, float, bool)):
        return None
    body = json.dumps(case.body).encode()
    school = "demo" if random.random() < 0.8 else case.path_parameters.get("school", "demo")
    timestamp = str(int(datetime.now(UTC).timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-MIS-Timestamp": timestamp,
        "X-MIS-Signature": sign(MIS_SECRET.encode(), timestamp, body),
    }
    return MIS_CLIENT.post(f"/webhooks/mis/{school}", content=body, headers=headers)


def _assert_error_names_a_field(response: Any) -> None:
    if response.status_code < 400:
        return
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, response.text
    for item in detail:
        assert isinstance(item["field"], str) and item["field"], response.text
        assert isinstance(item["message"], str) and item["message"], response.text


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_every_error_names_its_field(case: Any, admin: str) -> None:
    if case.path.startswith("/webhooks/mis/"):
        response = _signed_mis_call(case)
        if response is None:
            response = case.call()
        case.validate_response(response, checks=CHECKS)
        _assert_error_names_a_field(response)
        return
    response = case.call(headers={"Authorization": admin})
    case.validate_response(response, checks=CHECKS)
    _assert_error_names_a_field(response)
