"""What the IT lead sees and does about providers that refused our account: which channels
are stopped and how many deliveries wait for each (``dispatcher channels status``), and lifting
a stop once the credentials are fixed, re-queueing at once every delivery that waits for it
(``dispatcher channels resume``). The stop itself is ``channels.stops``; deliveries meet it in
``dispatcher.delivering``."""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from dispatcher.channels.selection import held_channels, missing_credentials
from dispatcher.channels.stops import ChannelStop
from dispatcher.domain import Channel, DeliveryState
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.names import deliver_actor_of_queue
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import WAITING_DETAIL
from dispatcher.store.models import Delivery, DeliveryEvent


class UnknownProvider(ValueError):
    """The provider named is not one this deployment sends through."""


@dataclass(frozen=True)
class ChannelStatus:
    """One channel: the provider sending it, its stop if stopped, the deliveries waiting."""

    channel: Channel
    provider: str
    stop: ChannelStop | None
    waiting: int
    #: The provider's credential variables not set here (its deliveries are held).
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResumeReport:
    """What ``resume_provider`` did."""

    provider: str
    was_stopped: bool
    requeued: int


def provider_channels(runtime: Runtime) -> dict[str, list[Channel]]:
    """The channels each provider sends here: the configured ones, and those that a school
    names without their credentials being set (their deliveries are held). The outbox is
    no provider."""
    served: dict[str, list[Channel]] = {}
    for channel in Channel:
        adapter = runtime.channels.adapter_for(channel)
        if adapter is not runtime.outbox:
            served.setdefault(adapter.name, []).append(channel)
    schools = runtime.configuration.schools.values()
    for choices in held_channels(schools, runtime.providers).values():
        for choice in choices:
            channels = served.setdefault(choice.provider, [])
            if choice.channel not in channels:
                channels.append(choice.channel)
    return served


def channels_of(runtime: Runtime, provider: str) -> list[Channel]:
    """The channels ``provider`` sends here; raises ``UnknownProvider`` when it sends none."""
    served = provider_channels(runtime)
    if provider not in served:
        known = ", ".join(sorted(served)) or "none: every channel goes to the outbox"
        raise UnknownProvider(f"{provider!r} sends no channel here (providers: {known})")
    return served[provider]


def _waiting(channels: list[Channel]) -> tuple[ColumnElement[bool], ...]:
    """Pending deliveries on ``channels`` that were sent back to wait for a stopped provider."""
    sent_back = exists().where(
        DeliveryEvent.delivery_id == Delivery.id,
        DeliveryEvent.to_state == DeliveryState.PENDING.value,
        DeliveryEvent.detail.like(f"{WAITING_DETAIL}:%"),
    )
    return (
        Delivery.state == DeliveryState.PENDING.value,
        Delivery.channel.in_([c.value for c in channels]),
        sent_back,
    )


def waiting_count(session: Session, channels: list[Channel]) -> int:
    """How many deliveries on ``channels`` wait for their provider to be resumed."""
    return (
        session.scalar(select(func.count()).select_from(Delivery).where(*_waiting(channels))) or 0
    )


def waiting_on_stopped_providers(runtime: Runtime, session: Session) -> int:
    """How many deliveries wait for a provider that is stopped now."""
    stopped = [
        channel
        for provider, channels in provider_channels(runtime).items()
        if runtime.channel_stops.stopped(provider) is not None
        for channel in channels
    ]
    return waiting_count(session, stopped) if stopped else 0


def channel_statuses(runtime: Runtime) -> list[ChannelStatus]:
    """Every channel sent through a provider (or held for one whose credentials are
    missing), with its stop and its waiting deliveries."""
    statuses = []
    with runtime.sessions() as session:
        for provider, channels in provider_channels(runtime).items():
            stop = runtime.channel_stops.stopped(provider)
            missing = missing_credentials(provider, runtime.providers)
            for channel in channels:
                waiting = waiting_count(session, [channel])
                statuses.append(ChannelStatus(channel, provider, stop, waiting, missing))
    return statuses


def resume_provider(runtime: Runtime, broker: RedisBroker, provider: str) -> ResumeReport:
    """Lift ``provider``'s stop and queue every delivery waiting for it now (a delivery
    queued twice is still sent once: only one claim succeeds). Raises ``UnknownProvider``
    when the deployment sends nothing through ``provider``."""
    channels = channels_of(runtime, provider)
    was_stopped = runtime.channel_stops.resume(provider)
    with runtime.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.queue).where(*_waiting(channels)).order_by(Delivery.id)
        ).all()
    enqueue(
        broker,
        [QueuedWork(deliver_actor_of_queue(r.queue), r.id) for r in rows],
    )
    return ResumeReport(provider, was_stopped, len(rows))
