"""Which way each channel of a school goes: through the provider its file names, into the
outbox, or held until this machine has the provider's credentials. Pure: it reads the
school's file and the provider settings, nothing else.

A school names its providers (``providers = { sms = "twilio", ... }``) or the outbox
(``providers = "outbox"``). A school that names a provider never falls back to the outbox
because credentials are missing: its messages on that channel are held (one ALERT, and
``dispatcher doctor`` and ``/readyz`` say why) and go once the credentials are set. Only a
school whose file asks for it (``missing_credentials = "outbox"``, the demo school) writes
to the outbox instead, and then every report says so in the words of ``OUTBOX_NOTE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dispatcher.channels.settings import ProviderSettings
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel

OUTBOX: Final = "outbox"
#: What reports and the CLI say of a message the outbox recorded.
OUTBOX_NOTE: Final = "written to the outbox — not sent to any family"
#: The real provider of each channel in this build.
PROVIDER_OF_CHANNEL: Final[Mapping[Channel, str]] = {
    Channel.SMS: "twilio",
    Channel.EMAIL: "sendgrid",
    Channel.PUSH: "fcm",
}
#: The variables a provider needs before it can send.
CREDENTIAL_VARIABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "sendgrid": ("SENDGRID_API_KEY",),
    "fcm": ("FCM_SERVICE_ACCOUNT_FILE",),
}
#: The failure code of a delivery held because its provider's credentials are missing.
MISSING_CREDENTIALS_CODE: Final = "credentials-missing"


class Route(StrEnum):
    """Where a school's messages on one channel go."""

    #: Sent through the provider the school names.
    PROVIDER = "provider"
    #: Recorded in the outbox only: no family receives them.
    OUTBOX = "outbox"
    #: Held: the school names a provider whose credentials this machine does not have.
    HELD = "held"


@dataclass(frozen=True)
class ChannelChoice:
    """How one school's messages on one channel go."""

    channel: Channel
    #: The provider the school names for the channel (``outbox`` when it names the outbox).
    provider: str
    route: Route
    #: The provider's credential variables that are not set (empty when it is configured).
    missing: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for an IT lead, e.g. ``sms: held: twilio needs TWILIO_ACCOUNT_SID, ...``."""
        if self.route is Route.PROVIDER:
            return f"{self.channel.value}: sent through {self.provider}"
        if self.route is Route.HELD:
            return (
                f"{self.channel.value}: held: the school names {self.provider}, whose "
                f"credentials are not set ({', '.join(self.missing)}); nothing is sent on "
                "this channel until they are"
            )
        why = (
            "the school's file chooses the outbox"
            if self.provider == OUTBOX
            else f"{self.provider} has no credentials here ({', '.join(self.missing)}) and "
            'the school\'s file says missing_credentials = "outbox"'
        )
        return f"{self.channel.value}: {OUTBOX_NOTE} ({why})"


def missing_credentials(provider: str, settings: ProviderSettings) -> tuple[str, ...]:
    """The credential variables of ``provider`` that ``settings`` lacks (empty: it can send)."""
    configured = {
        "twilio": settings.twilio_configured,
        "sendgrid": settings.sendgrid_configured,
        "fcm": settings.fcm_configured,
    }
    if configured.get(provider, False):
        return ()
    return CREDENTIAL_VARIABLES.get(provider, ())


def choose(school: SchoolConfig, channel: Channel, settings: ProviderSettings) -> ChannelChoice:
    """How ``school``'s messages on ``channel`` go with the credentials in ``settings``."""
    names = school.providers
    provider = names.named_for(channel)
    if provider == OUTBOX:
        return ChannelChoice(channel, OUTBOX, Route.OUTBOX)
    missing = missing_credentials(provider, settings)
    if not missing:
        return ChannelChoice(channel, provider, Route.PROVIDER)
    route = Route.OUTBOX if names.missing_credentials == OUTBOX else Route.HELD
    return ChannelChoice(channel, provider, route, missing)


def school_choices(school: SchoolConfig, settings: ProviderSettings) -> list[ChannelChoice]:
    """How each channel the school has enabled goes, in the school's order."""
    return [choose(school, channel, settings) for channel in school.channels_enabled]


def held_channels(
    schools: Iterable[SchoolConfig], settings: ProviderSettings
) -> dict[str, list[ChannelChoice]]:
    """The channels held for want of credentials, by school slug (schools with none left
    out)."""
    held: dict[str, list[ChannelChoice]] = {}
    for school in schools:
        choices = [c for c in school_choices(school, settings) if c.route is Route.HELD]
        if choices:
            held[school.slug] = choices
    return held
