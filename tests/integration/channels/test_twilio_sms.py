"""The Twilio SMS adapter, through the real ``twilio`` SDK against the provider emulator."""

from __future__ import annotations

import logging
import time

import pytest

from dispatcher.channels.base import (
    ConfigurationFailure,
    PermanentFailure,
    TransientFailure,
    UnsubscribedFailure,
)
from dispatcher.channels.retry import RetryPolicy
from dispatcher.channels.twilio_sms import TWILIO_ERRORS, TwilioSmsAdapter
from emulator import FailureRule, ProviderEmulator
from tests.support.adapters import FAST_RETRY, gaps
from tests.support.messages import SMS_TEXT, sms_message

PUBLIC = "https://dispatch.example.org"


def adapter(
    emulator: ProviderEmulator,
    *,
    auth_token: str = ProviderEmulator.TWILIO_AUTH_TOKEN,
    retry: RetryPolicy = FAST_RETRY,
    timeout: float = 5.0,
    messaging_service_sid: str | None = None,
    from_number: str | None = None,
) -> TwilioSmsAdapter:
    return TwilioSmsAdapter(
        ProviderEmulator.TWILIO_ACCOUNT_SID,
        auth_token,
        base_url=emulator.url,
        public_base_url=PUBLIC,
        retry=retry,
        timeout=timeout,
        messaging_service_sid=messaging_service_sid,
        from_number=from_number,
    )


def test_send_posts_to_from_body_and_status_callback(emulator: ProviderEmulator) -> None:
    receipt = adapter(emulator).send(sms_message(delivery_id=41, to="+447700900041"))
    assert receipt.provider == "twilio"
    assert receipt.provider_message_id.startswith("SM")
    [sent] = emulator.messages("twilio")
    assert sent.form is not None
    assert sent.form["To"] == "+447700900041"
    assert sent.form["From"] == "Brockmoor"
    assert sent.form["Body"] == SMS_TEXT
    assert sent.form["StatusCallback"] == f"{PUBLIC}/webhooks/twilio/status?delivery_id=41"
    assert "MessagingServiceSid" not in sent.form
    assert sent.headers["Authorization"].startswith("Basic")


def test_a_messaging_service_replaces_from(emulator: ProviderEmulator) -> None:
    service = "MG" + "1" * 32
    adapter(emulator, messaging_service_sid=service).send(sms_message())
    [sent] = emulator.messages("twilio")
    assert sent.form is not None
    assert sent.form["MessagingServiceSid"] == service
    assert "From" not in sent.form


def test_the_from_number_is_used_when_the_school_has_no_sender_id(
    emulator: ProviderEmulator,
) -> None:
    adapter(emulator, from_number="+447700900999").send(sms_message(sender_id=""))
    [sent] = emulator.messages("twilio")
    assert sent.form is not None and sent.form["From"] == "+447700900999"


def test_no_sender_at_all_is_a_configuration_failure(emulator: ProviderEmulator) -> None:
    with pytest.raises(ConfigurationFailure):
        adapter(emulator).send(sms_message(sender_id=""))
    assert emulator.requests == []


@pytest.mark.parametrize("code", [21211, 21408, 21610, 21612, 21614, 21617, 21635])
def test_permanent_codes_fail_at_once(emulator: ProviderEmulator, code: int) -> None:
    emulator.add_failure(FailureRule("twilio", code=code, to="+447700900013"))
    with pytest.raises(PermanentFailure) as caught:
        adapter(emulator).send(sms_message(to="+447700900013"))
    assert not isinstance(caught.value, ConfigurationFailure)
    assert caught.value.code == str(code)
    assert caught.value.reason.startswith(TWILIO_ERRORS[code].meaning)
    assert "+447700900013" not in str(caught.value)
    assert len(emulator.recorded("twilio")) == 1  # never retried
    # The one code that also says the family opted out is its own class, for the core.
    assert isinstance(caught.value, UnsubscribedFailure) is (code == 21610)


def test_only_the_failing_recipient_fails(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", to="+447700900013"))  # 21211 by default
    twilio = adapter(emulator)
    with pytest.raises(PermanentFailure):
        twilio.send(sms_message(delivery_id=1, to="+447700900013"))
    assert twilio.send(sms_message(delivery_id=2, to="+447700900014")).provider == "twilio"


def test_a_wrong_auth_token_is_a_configuration_failure(emulator: ProviderEmulator) -> None:
    with pytest.raises(ConfigurationFailure) as caught:
        adapter(emulator, auth_token="wrong-token").send(sms_message())
    assert caught.value.code == "20003"
    assert len(emulator.recorded("twilio")) == 1


@pytest.mark.parametrize("code", [21601, 21212])
def test_a_sender_that_is_not_ours_is_a_configuration_failure(
    emulator: ProviderEmulator, code: int
) -> None:
    emulator.add_failure(FailureRule("twilio", code=code))
    with pytest.raises(ConfigurationFailure):
        adapter(emulator).send(sms_message())


def test_429_is_retried_after_retry_after(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", status=429, count=1, retry_after=0.6))
    receipt = adapter(emulator).send(sms_message())
    assert receipt.provider_message_id.startswith("SM")
    tries = emulator.recorded("twilio")
    assert [r.status for r in tries] == [429, 201]
    assert gaps([r.at for r in tries])[0] >= 0.6


def test_5xx_is_retried(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", status=503, count=2))
    adapter(emulator).send(sms_message())
    assert [r.status for r in emulator.recorded("twilio")] == [503, 503, 201]


def test_5xx_that_outlasts_the_retries_is_transient(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", status=500))
    with pytest.raises(TransientFailure) as caught:
        adapter(emulator).send(sms_message())
    assert caught.value.code == "20500"
    assert len(emulator.recorded("twilio")) == FAST_RETRY.attempts


def test_a_timeout_is_transient_after_the_retries(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", timeout=True, hang_seconds=1.0))
    started = time.monotonic()
    with pytest.raises(TransientFailure) as caught:
        adapter(emulator, timeout=0.3).send(sms_message())
    assert caught.value.code == "timeout"
    assert len(emulator.recorded("twilio")) == FAST_RETRY.attempts
    assert time.monotonic() - started < 5


def test_a_provider_that_cannot_be_reached_is_transient() -> None:
    with ProviderEmulator() as gone:
        url = gone.url
    twilio = TwilioSmsAdapter(
        ProviderEmulator.TWILIO_ACCOUNT_SID, "token", base_url=url, retry=FAST_RETRY
    )
    with pytest.raises(TransientFailure) as caught:
        twilio.send(sms_message())
    assert caught.value.code == "connection_error"


def test_credentials_never_appear_in_logs_errors_or_reprs(
    emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "twilio-secret-auth-token-1234"
    twilio = adapter(emulator, auth_token=secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationFailure) as caught:
        twilio.send(sms_message())
    assert caplog.records  # the SDK and the alert did log
    assert secret not in caplog.text
    assert all(secret not in repr(vars(r)) for r in caplog.records)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert secret not in repr(twilio)
