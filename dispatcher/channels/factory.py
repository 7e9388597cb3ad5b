"""Which adapter sends each channel: the real provider where its credentials are set, the
outbox everywhere else.

SMS goes through Twilio when ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN`` are set, email
through SendGrid when ``SENDGRID_API_KEY`` is, push through FCM when
``FCM_SERVICE_ACCOUNT_FILE`` is; any channel without credentials keeps the outbox, so a
machine with none of them still runs the whole pipeline. A provider's
``*_RATE_PER_SECOND`` adds a rate limit shared through Redis by every worker process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import redis

from dispatcher.channels.base import ChannelAdapter
from dispatcher.channels.fcm_push import FcmPushAdapter
from dispatcher.channels.rate_limit import ProviderRateLimiter
from dispatcher.channels.registry import ChannelRegistry
from dispatcher.channels.retry import RetryPolicy
from dispatcher.channels.sendgrid_email import SendGridEmailAdapter
from dispatcher.channels.settings import ProviderSettings
from dispatcher.channels.twilio_sms import TwilioSmsAdapter
from dispatcher.domain import Channel


class _CategoryPolicy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def opt_out_allowed(self) -> bool: ...


def unsubscribable_categories(categories: Iterable[_CategoryPolicy]) -> frozenset[str]:
    """The names of the categories whose policy lets families opt out (they get a
    ``List-Unsubscribe`` header), e.g. ``unsubscribable_categories(policy.categories.values())``.
    """
    return frozenset(c.name for c in categories if c.opt_out_allowed)


def _limiter(
    redis_client: redis.Redis[Any] | None,
    provider: str,
    account_id: str,
    per_second: int | None,
    variable: str,
) -> ProviderRateLimiter | None:
    if per_second is None:
        return None
    if redis_client is None:
        raise ValueError(f"{variable}: a rate limit needs Redis to share it between workers")
    return ProviderRateLimiter(redis_client, provider, account_id, per_second)


def build_channel_registry(
    provider_settings: ProviderSettings,
    outbox: ChannelAdapter,
    redis_client: redis.Redis[Any] | None = None,
    unsubscribable_categories: frozenset[str] = frozenset(),
    retry: RetryPolicy | None = None,
) -> ChannelRegistry:
    """Adapters by channel: Twilio, SendGrid and FCM where ``provider_settings`` has their
    credentials, ``outbox`` for the rest.

    ``redis_client`` carries the per-account rate limits (required when a
    ``*_RATE_PER_SECOND`` is set); ``unsubscribable_categories`` are the categories whose
    emails get a ``List-Unsubscribe`` header; ``retry`` overrides the default retry policy.
    """
    adapters: dict[Channel, ChannelAdapter] = dict.fromkeys(Channel, outbox)
    settings = provider_settings
    if settings.twilio_configured and settings.twilio_account_sid:
        adapters[Channel.SMS] = TwilioSmsAdapter.from_settings(
            settings,
            limiter=_limiter(
                redis_client,
                "twilio",
                settings.twilio_account_sid,
                settings.twilio_rate_per_second,
                "TWILIO_RATE_PER_SECOND",
            ),
            retry=retry,
        )
    if settings.sendgrid_configured and settings.sendgrid_api_key is not None:
        adapters[Channel.EMAIL] = SendGridEmailAdapter.from_settings(
            settings,
            unsubscribable_categories=unsubscribable_categories,
            limiter=_limiter(
                redis_client,
                "sendgrid",
                settings.sendgrid_api_key.get_secret_value(),
                settings.sendgrid_rate_per_second,
                "SENDGRID_RATE_PER_SECOND",
            ),
            retry=retry,
        )
    if settings.fcm_configured:
        adapters[Channel.PUSH] = FcmPushAdapter.from_settings(
            settings,
            limiter=_limiter(
                redis_client,
                "fcm",
                settings.effective_fcm_project_id() or "",
                settings.fcm_rate_per_second,
                "FCM_RATE_PER_SECOND",
            ),
            retry=retry,
        )
    return ChannelRegistry(adapters)
