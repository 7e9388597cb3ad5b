"""Which adapter sends each channel for a school."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channels.base import ChannelAdapter
from dispatcher.domain import Channel


@dataclass(frozen=True)
class ChannelRegistry:
    """Adapters by channel; the outbox covers every channel when no provider is configured."""

    adapters: Mapping[Channel, ChannelAdapter]

    def adapter_for(self, channel: Channel) -> ChannelAdapter:
        """The adapter that sends ``channel``."""
        return self.adapters[channel]

    def all_adapters(self) -> list[ChannelAdapter]:
        """Each distinct adapter once."""
        unique: dict[int, ChannelAdapter] = {}
        for adapter in self.adapters.values():
            unique[id(adapter)] = adapter
        return list(unique.values())
