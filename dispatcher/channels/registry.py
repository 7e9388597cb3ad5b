"""Which adapter sends each channel for a school, and whose words a provider's reports are in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from dispatcher.channels.base import ChannelAdapter
from dispatcher.channels.reports import ReportVocabulary
from dispatcher.channels.sendgrid_webhooks import SENDGRID_REPORTS
from dispatcher.channels.twilio_webhooks import TWILIO_REPORTS
from dispatcher.domain import Channel


class _BuiltOnFirstUse(Mapping[Channel, ChannelAdapter]):
    """Adapters built by ``build`` the first time any is asked for, once per process."""

    def __init__(self, build: Callable[[], Mapping[Channel, ChannelAdapter]]) -> None:
        self._build = build
        self._adapters: Mapping[Channel, ChannelAdapter] | None = None
        self._lock = threading.Lock()

    def _built(self) -> Mapping[Channel, ChannelAdapter]:
        if self._adapters is None:
            with self._lock:
                if self._adapters is None:
                    self._adapters = self._build()
        return self._adapters

    def __getitem__(self, channel: Channel) -> ChannelAdapter:
        return self._built()[channel]

    def __iter__(self) -> Iterator[Channel]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


@dataclass(frozen=True)
class ChannelRegistry:
    """Adapters by channel; the outbox covers every channel when no provider is configured."""

    adapters: Mapping[Channel, ChannelAdapter]

    @classmethod
    def built_on_first_use(
        cls, build: Callable[[], Mapping[Channel, ChannelAdapter]]
    ) -> ChannelRegistry:
        """A registry whose adapters ``build`` makes when one is first needed: the provider
        SDKs take a while to import and set up, and most commands never send."""
        return cls(_BuiltOnFirstUse(build))

    def adapter_for(self, channel: Channel) -> ChannelAdapter:
        """The adapter that sends ``channel``."""
        return self.adapters[channel]

    def all_adapters(self) -> list[ChannelAdapter]:
        """Each distinct adapter once."""
        unique: dict[int, ChannelAdapter] = {}
        for adapter in self.adapters.values():
            unique[id(adapter)] = adapter
        return list(unique.values())


#: The providers that report what became of a message, by name.
REPORT_VOCABULARIES: Final[Mapping[str, ReportVocabulary]] = {
    vocabulary.provider: vocabulary for vocabulary in (TWILIO_REPORTS, SENDGRID_REPORTS)
}


def report_vocabulary(provider: str) -> ReportVocabulary | None:
    """How to read ``provider``'s reports, or None for a provider that sends none."""
    return REPORT_VOCABULARIES.get(provider)
