"""The FCM push adapter, through google-auth and the FCM v1 API against the emulator."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from dispatcher.channels.base import (
    ConfigurationFailure,
    DeadTokenFailure,
    PermanentFailure,
    ProviderReceipt,
    TransientFailure,
)
from dispatcher.channels.fcm_push import FcmPushAdapter, classify_fcm_error
from dispatcher.channels.retry import RetryPolicy
from emulator import FailureRule, ProviderEmulator
from tests.support.adapters import FAST_RETRY, gaps, header
from tests.support.messages import push_message


def adapter(
    emulator: ProviderEmulator,
    *,
    info: dict[str, Any] | None = None,
    project_id: str | None = None,
    retry: RetryPolicy = FAST_RETRY,
    timeout: float = 5.0,
) -> FcmPushAdapter:
    return FcmPushAdapter(
        info or emulator.fcm_service_account_info(),
        project_id=project_id,
        base_url=emulator.url,
        retry=retry,
        timeout=timeout,
    )


def test_send_posts_token_notification_and_data(emulator: ProviderEmulator) -> None:
    message = push_message(delivery_id=41, token="token-41")
    receipt = adapter(emulator).send(message)
    assert receipt.provider == "fcm"
    assert receipt.provider_message_id.startswith(
        f"projects/{ProviderEmulator.FCM_PROJECT_ID}/messages/"
    )
    assert [r.provider for r in emulator.requests] == ["oauth", "fcm"]  # token, then send
    [sent] = emulator.messages("fcm")
    assert sent.path == f"/v1/projects/{ProviderEmulator.FCM_PROJECT_ID}/messages:send"
    assert sent.json == {
        "message": {
            "token": "token-41",
            "notification": {"title": message.rendered.title, "body": message.rendered.body},
            "data": {"delivery_id": "41", "announcement_id": "7", "category": "emergency_closure"},
            # One collapse key per delivery on every platform: sent again, shown once.
            "android": {"notification": {"tag": "delivery-41"}},
            "apns": {"headers": {"apns-collapse-id": "delivery-41"}},
            "webpush": {"headers": {"Topic": "delivery-41"}},
        }
    }
    assert (header(sent, "Authorization") or "").startswith("Bearer")


def test_the_access_token_is_reused(emulator: ProviderEmulator) -> None:
    fcm = adapter(emulator)
    for i in range(3):
        assert isinstance(fcm.send(push_message(delivery_id=i)), ProviderReceipt)
    assert [r.provider for r in emulator.requests].count("oauth") == 1


def test_an_expiring_access_token_is_refreshed_once_for_all_threads(
    emulator: ProviderEmulator,
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    fcm = adapter(emulator)
    fcm.send(push_message(delivery_id=1))
    first = fcm._credentials.token
    # The token is within google-auth's refresh margin of its expiry, as after 59 minutes.
    fcm._credentials.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=30)
    with ThreadPoolExecutor(8) as pool:
        receipts = list(pool.map(lambda i: fcm.send(push_message(delivery_id=i)), range(2, 18)))
    assert len(receipts) == 16
    assert all(isinstance(r, ProviderReceipt) for r in receipts)
    assert [r.provider for r in emulator.requests].count("oauth") == 2
    assert fcm._credentials.token != first


@pytest.mark.parametrize("code", ["UNREGISTERED", "INVALID_ARGUMENT"])
def test_a_dead_token_is_a_dead_token_failure(emulator: ProviderEmulator, code: str) -> None:
    emulator.add_failure(FailureRule("fcm", code=code, to="dead-token"))
    with pytest.raises(DeadTokenFailure) as caught:
        adapter(emulator).send(push_message(token="dead-token"))
    assert caught.value.code == code
    assert len(emulator.recorded("fcm")) == 1


def test_a_token_of_another_sender_is_permanent(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("fcm", code="SENDER_ID_MISMATCH"))
    with pytest.raises(PermanentFailure) as caught:
        adapter(emulator).send(push_message())
    assert type(caught.value) is PermanentFailure
    assert caught.value.code == "SENDER_ID_MISMATCH"


def test_an_invalid_message_is_permanent_but_the_token_lives() -> None:
    # FCM's documented example of a bad data value: INVALID_ARGUMENT with a BadRequest detail
    body = {
        "error": {
            "code": 400,
            "message": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "message.data[0].value", "description": "x"}],
                }
            ],
        }
    }
    failure = classify_fcm_error(400, body)
    assert type(failure) is PermanentFailure
    assert failure.code == "INVALID_ARGUMENT"


def test_fcms_invalid_token_example_is_a_dead_token() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "The registration token is not a valid FCM registration token",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "INVALID_ARGUMENT",
                }
            ],
        }
    }
    assert isinstance(classify_fcm_error(400, body), DeadTokenFailure)


@pytest.mark.parametrize(
    "rule",
    [
        FailureRule("fcm", status=401),
        FailureRule("fcm", code="THIRD_PARTY_AUTH_ERROR"),
    ],
)
def test_auth_errors_are_configuration_failures(
    emulator: ProviderEmulator, rule: FailureRule
) -> None:
    emulator.add_failure(rule)
    with pytest.raises(ConfigurationFailure):
        adapter(emulator).send(push_message())


def test_a_project_the_account_cannot_send_for_is_a_configuration_failure(
    emulator: ProviderEmulator,
) -> None:
    with pytest.raises(ConfigurationFailure) as caught:
        adapter(emulator, project_id="someone-elses-project").send(push_message())
    assert caught.value.code == "PERMISSION_DENIED"


def test_a_refused_service_account_is_a_configuration_failure(
    emulator: ProviderEmulator,
) -> None:
    info = emulator.fcm_service_account_info()
    info["client_email"] = "stranger@example.iam.gserviceaccount.com"
    with pytest.raises(ConfigurationFailure) as caught:
        adapter(emulator, info=info).send(push_message())
    assert caught.value.code == "token_refused"
    assert emulator.recorded("fcm") == []


def test_quota_exceeded_is_retried_after_retry_after(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("fcm", code="QUOTA_EXCEEDED", count=1, retry_after=0.6))
    adapter(emulator).send(push_message())
    tries = emulator.recorded("fcm")
    assert [r.status for r in tries] == [429, 200]
    assert gaps([r.at for r in tries])[0] >= 0.6


@pytest.mark.parametrize("code", ["UNAVAILABLE", "INTERNAL"])
def test_5xx_is_retried(emulator: ProviderEmulator, code: str) -> None:
    emulator.add_failure(FailureRule("fcm", code=code, count=2))
    adapter(emulator).send(push_message())
    assert [r.status for r in emulator.recorded("fcm")][-1] == 200
    assert len(emulator.recorded("fcm")) == 3


def test_5xx_that_outlasts_the_retries_is_transient(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("fcm", code="UNAVAILABLE"))
    with pytest.raises(TransientFailure) as caught:
        adapter(emulator).send(push_message())
    assert caught.value.code == "UNAVAILABLE"
    assert len(emulator.recorded("fcm")) == FAST_RETRY.attempts


def test_a_timeout_is_transient_after_the_retries(emulator: ProviderEmulator) -> None:
    fcm = adapter(emulator, timeout=0.3)
    fcm.send(push_message(delivery_id=1))  # get a token first
    emulator.reset()
    emulator.add_failure(FailureRule("fcm", timeout=True, hang_seconds=1.0))
    started = time.monotonic()
    with pytest.raises(TransientFailure) as caught:
        fcm.send(push_message(delivery_id=2))
    assert caught.value.code == "timeout"
    assert len(emulator.recorded("fcm")) == FAST_RETRY.attempts
    assert time.monotonic() - started < 5


def test_a_provider_that_cannot_be_reached_is_transient(emulator: ProviderEmulator) -> None:
    info = emulator.fcm_service_account_info()
    with ProviderEmulator() as gone:
        url = gone.url
    fcm = FcmPushAdapter({**info, "token_uri": f"{url}/token"}, base_url=url, retry=FAST_RETRY)
    with pytest.raises(TransientFailure) as caught:
        fcm.send(push_message())
    assert caught.value.code == "connection_error"


def test_credentials_never_appear_in_logs_errors_or_reprs(
    emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    google = logging.getLogger("google")  # configured, as an app that wants Google's logs does
    monkeypatch.setattr(google, "propagate", True)
    monkeypatch.setattr(google, "level", logging.DEBUG)
    info = emulator.fcm_service_account_info()
    private_key = info["private_key"]
    key_line = private_key.splitlines()[1]
    fcm = adapter(emulator)
    with caplog.at_level(logging.DEBUG):
        fcm.send(push_message(delivery_id=1))  # logs the token request and the send
        emulator.add_failure(FailureRule("fcm", status=401))
        with pytest.raises(ConfigurationFailure) as caught:
            fcm.send(push_message(delivery_id=2))
    access_token = fcm._credentials.token
    assert access_token
    assert any(r.name.startswith("google.auth") for r in caplog.records)
    everything = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert key_line not in everything and private_key not in everything
    assert access_token not in everything
    assert key_line not in str(caught.value) and caught.value.__cause__ is None
    assert key_line not in repr(fcm) and "PRIVATE" not in repr(fcm)
