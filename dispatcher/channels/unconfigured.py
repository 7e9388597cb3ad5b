"""The stand-in for a provider a school names but whose credentials this machine lacks.

It sends nothing: every message is refused as a ``ConfigurationFailure`` naming the missing
variables, so the delivery takes the path of a refused account (decision 0012): the channel
stops for every worker with one ALERT, the deliveries wait (``pending``, no attempt counted)
and go once the credentials are set and the workers restarted. Never the outbox: a school
that names a provider is never told a message went when it did not.
"""

from __future__ import annotations

from dispatcher.channels.base import ConfigurationFailure, OutgoingMessage, ProviderReceipt
from dispatcher.channels.selection import MISSING_CREDENTIALS_CODE


class MissingCredentialsAdapter:
    """Refuses every message for ``provider``, whose ``variables`` are not set."""

    def __init__(self, provider: str, variables: tuple[str, ...]) -> None:
        self.name = provider
        self.variables = variables

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Never sends: raises ``ConfigurationFailure`` naming the missing variables."""
        raise ConfigurationFailure(
            MISSING_CREDENTIALS_CODE,
            f"{', '.join(self.variables)} not set on this worker: set them and restart the workers",
        )

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Nothing was ever sent through it."""
        return None
