"""FCM HTTP v1 and the OAuth token endpoint through google-auth against the emulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession

from emulator import ProviderEmulator
from emulator.google_auth import LoopbackOnlyRequest
from tests.support.waiting import wait_until

from .conftest import FCM_SCOPE, authorized_session, credentials_from


def push(token: str = "device-token-1", **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "token": token,
        "notification": {"title": "Brockmoor Primary", "body": "School closed today."},
        "data": {"delivery_id": "7"},
    }
    message.update(extra)
    return {"message": message}


def fcm_error(response: requests.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    codes = [d["errorCode"] for d in error.get("details", []) if "errorCode" in d]
    return error["code"], error["status"], codes[0] if codes else None


def test_send_with_a_token_from_the_emulator(
    emulator: ProviderEmulator, fcm_session: AuthorizedSession, fcm_url: str
) -> None:
    response = fcm_session.post(fcm_url, json=push())

    assert response.status_code == 200
    name = response.json()["name"]
    assert re.fullmatch(rf"projects/{emulator.FCM_PROJECT_ID}/messages/0:\d+%[0-9a-f]{{16}}", name)
    token_request, send = emulator.requests
    assert (token_request.provider, token_request.status) == ("oauth", 200)
    assert token_request.form is not None
    assert token_request.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (send.provider, send.status) == ("fcm", 200)
    assert emulator.messages("fcm") == [send]
    credentials = fcm_session.credentials
    assert credentials.token.startswith("ya29.")
    lifetime = credentials.expiry - datetime.now(UTC).replace(tzinfo=None)
    assert 3500 < lifetime.total_seconds() <= 3600


def test_token_endpoint_refuses_bad_grants(emulator: ProviderEmulator) -> None:
    garbage = requests.post(
        f"{emulator.url}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"},
        timeout=5,
    )
    wrong_grant = requests.post(
        f"{emulator.url}/token", data={"grant_type": "client_credentials"}, timeout=5
    )

    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_grant")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )


def test_a_token_the_emulator_did_not_issue_is_refused(
    emulator: ProviderEmulator, fcm_url: str
) -> None:
    response = requests.post(
        fcm_url, json=push(), headers={"Authorization": "Bearer ya29.made-up"}, timeout=5
    )

    assert response.status_code == 401
    assert fcm_error(response) == (401, "UNAUTHENTICATED", None)
    assert emulator.messages("fcm") == []


def test_an_assertion_signed_by_another_key_is_refused(emulator: ProviderEmulator) -> None:
    info = emulator.fcm_service_account_info()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = credentials_from(info, scopes=[FCM_SCOPE])

    with pytest.raises(RefreshError, match="invalid_grant"):
        # google-auth leaves Credentials.refresh unannotated
        credentials.refresh(LoopbackOnlyRequest())  # type: ignore[no-untyped-call]


def test_a_token_without_scopes_is_refused(emulator: ProviderEmulator) -> None:
    credentials = credentials_from(emulator.fcm_service_account_info())

    with pytest.raises(RefreshError, match="invalid_scope"):
        # google-auth leaves Credentials.refresh unannotated
        credentials.refresh(LoopbackOnlyRequest())  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "body",
    [
        push(topic="closures"),
        {"message": {"notification": {"title": "T", "body": "B"}}},
        push(data={"delivery_id": 7}),
        push(colour="red"),
    ],
)
def test_invalid_messages_are_invalid_argument(
    fcm_session: AuthorizedSession, fcm_url: str, body: dict[str, Any]
) -> None:
    response = fcm_session.post(fcm_url, json=body)

    assert response.status_code == 400
    assert fcm_error(response)[:2] == (400, "INVALID_ARGUMENT")


def test_another_project_is_permission_denied(
    emulator: ProviderEmulator, fcm_session: AuthorizedSession
) -> None:
    response = fcm_session.post(
        f"{emulator.url}/v1/projects/someone-else/messages:send", json=push()
    )

    assert response.status_code == 403
    assert fcm_error(response)[1] == "PERMISSION_DENIED"


def test_validate_only_is_not_a_send(
    emulator: ProviderEmulator, fcm_session: AuthorizedSession, fcm_url: str
) -> None:
    response = fcm_session.post(fcm_url, json={**push(), "validate_only": True})

    assert response.status_code == 200
    assert response.json()["name"].endswith("/messages/fake_message_id")
    assert emulator.messages("fcm") == []


def test_google_auth_side_lookups_stay_on_this_machine(
    emulator: ProviderEmulator, fcm_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth asks iamcredentials.googleapis.com for a "regional access boundary" after a
    # refresh, in a background thread: always in older releases, only when this variable
    # says so in newer ones. It is set so that the lookup happens here whatever the release.
    monkeypatch.setenv(
        "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", "true"
    )
    credentials = credentials_from(emulator.fcm_service_account_info(), scopes=[FCM_SCOPE])
    guard = LoopbackOnlyRequest()
    session = authorized_session(credentials, guard)

    assert session.post(fcm_url, json=push()).status_code == 200
    refused = wait_until(
        lambda: guard.refused, 10, 0.01, what="google-auth's side lookup, answered locally"
    )

    # The guard answered it on the spot; nothing else was asked off this machine.
    assert set(refused) == {"iamcredentials.googleapis.com"}
