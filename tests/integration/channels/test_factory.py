"""Building the channel registry from provider settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest
import redis

from dispatcher.channels.base import OutgoingMessage, ProviderReceipt
from dispatcher.channels.factory import build_channel_registry, unsubscribable_categories
from dispatcher.channels.fcm_push import FcmPushAdapter
from dispatcher.channels.rate_limit import ProviderRateLimiter
from dispatcher.channels.sendgrid_email import SendGridEmailAdapter
from dispatcher.channels.settings import ProviderSettings, load_provider_settings
from dispatcher.channels.twilio_sms import TwilioSmsAdapter
from dispatcher.config.policy import load_policy
from dispatcher.domain import Channel
from emulator import ProviderEmulator
from tests.support.messages import email_message, push_message, sms_message
from tests.support.paths import CONFIG_DIR

P = ParamSpec("P")
R = TypeVar("R")


class FakeOutbox:
    name = "outbox"

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        return ProviderReceipt(self.name, f"outbox-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        return None


def emulator_settings(
    emulator: ProviderEmulator, tmp_path: Path, **extra: object
) -> ProviderSettings:
    account_file = tmp_path / "service-account.json"
    account_file.write_text(json.dumps(emulator.fcm_service_account_info()))
    return load_provider_settings(
        twilio_account_sid=ProviderEmulator.TWILIO_ACCOUNT_SID,
        twilio_auth_token=ProviderEmulator.TWILIO_AUTH_TOKEN,
        twilio_base_url=emulator.url,
        sendgrid_api_key=ProviderEmulator.SENDGRID_API_KEY,
        sendgrid_base_url=emulator.url,
        fcm_service_account_file=account_file,
        fcm_base_url=emulator.url,
        public_base_url="https://dispatch.example.org",
        **extra,
    )


def test_no_credentials_means_the_outbox_everywhere() -> None:
    outbox = FakeOutbox()
    registry = build_channel_registry(ProviderSettings(), outbox)
    assert all(registry.adapter_for(channel) is outbox for channel in Channel)


def test_each_configured_provider_replaces_the_outbox_for_its_channel(
    emulator: ProviderEmulator, tmp_path: Path
) -> None:
    registry = build_channel_registry(
        emulator_settings(emulator, tmp_path),
        FakeOutbox(),
        unsubscribable_categories=frozenset({"newsletter"}),
    )
    sms = registry.adapter_for(Channel.SMS)
    email = registry.adapter_for(Channel.EMAIL)
    push = registry.adapter_for(Channel.PUSH)
    assert isinstance(sms, TwilioSmsAdapter)
    assert isinstance(email, SendGridEmailAdapter)
    assert isinstance(push, FcmPushAdapter)
    assert email.unsubscribable_categories == {"newsletter"}
    assert push.project_id == ProviderEmulator.FCM_PROJECT_ID
    assert sms.send(sms_message()).provider == "twilio"
    assert email.send(email_message()).provider == "sendgrid"
    assert push.send(push_message()).provider == "fcm"
    [text] = emulator.messages("twilio")
    assert text.form is not None and text.form["StatusCallback"].startswith(
        "https://dispatch.example.org/webhooks/twilio/status?delivery_id="
    )


def test_only_sendgrid_configured(emulator: ProviderEmulator) -> None:
    outbox = FakeOutbox()
    settings = load_provider_settings(sendgrid_api_key="SG.key", sendgrid_base_url=emulator.url)
    registry = build_channel_registry(settings, outbox)
    assert isinstance(registry.adapter_for(Channel.EMAIL), SendGridEmailAdapter)
    assert registry.adapter_for(Channel.SMS) is outbox
    assert registry.adapter_for(Channel.PUSH) is outbox
    assert len(registry.all_adapters()) == 2


def test_rates_become_shared_limiters(emulator: ProviderEmulator, tmp_path: Path) -> None:
    settings = emulator_settings(
        emulator, tmp_path, twilio_rate_per_second=20, sendgrid_rate_per_second=5
    )
    client = redis.Redis(host="127.0.0.1", port=1)  # never used: nothing is sent here
    registry = build_channel_registry(settings, FakeOutbox(), redis_client=client)
    sms = registry.adapter_for(Channel.SMS)
    email = registry.adapter_for(Channel.EMAIL)
    push = registry.adapter_for(Channel.PUSH)
    assert isinstance(sms, TwilioSmsAdapter) and isinstance(sms.limiter, ProviderRateLimiter)
    assert sms.limiter.per_second == 20
    assert isinstance(email, SendGridEmailAdapter) and isinstance(
        email.limiter, ProviderRateLimiter
    )
    assert ProviderEmulator.SENDGRID_API_KEY not in email.limiter.key
    assert isinstance(push, FcmPushAdapter) and push.limiter is None


def test_a_rate_without_redis_is_an_error(emulator: ProviderEmulator, tmp_path: Path) -> None:
    settings = emulator_settings(emulator, tmp_path, twilio_rate_per_second=20)
    with pytest.raises(ValueError, match="TWILIO_RATE_PER_SECOND"):
        build_channel_registry(settings, FakeOutbox())


def test_unsubscribable_categories_come_from_the_policy() -> None:
    policy = load_policy(CONFIG_DIR)
    assert unsubscribable_categories(policy.categories.values()) == {"newsletter", "survey"}


def test_a_runtime_sets_up_its_providers_only_when_a_message_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that never send (announce, report, roster import) do not wait for the
    provider SDKs; the first message gets the configured provider."""
    from dispatcher.runtime import build_runtime
    from dispatcher.settings import load_settings

    built: list[int] = []

    def counted(build: Callable[P, R]) -> Callable[P, R]:
        def counting_build(*args: P.args, **kwargs: P.kwargs) -> R:
            built.append(1)
            return build(*args, **kwargs)

        return counting_build

    monkeypatch.setattr(
        "dispatcher.channels.factory.build_channel_registry", counted(build_channel_registry)
    )
    monkeypatch.setenv("DISPATCHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DISPATCHER_CONFIG_DIR", str(CONFIG_DIR))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with ProviderEmulator() as emulator:
        runtime = build_runtime(load_settings(), emulator_settings(emulator, tmp_path))
        assert built == []
        adapter = runtime.channels.adapter_for(Channel.SMS)
        assert isinstance(adapter, TwilioSmsAdapter)
        assert runtime.channels.adapter_for(Channel.EMAIL) is not None
        assert built == [1]  # once, whatever is asked next
