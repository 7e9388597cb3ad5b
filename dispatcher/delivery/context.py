"""What every step of sending one batch of an announcement shares: the announcement's facts
(read once per process) and the batch's context (the runtime, the session, the clock, how to
queue follow-ups, and what the batch learnt of stopped channels)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.channels.base import ChannelAdapter
from dispatcher.channels.stops import ChannelStop
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.planning.school_days import SchoolDays, school_days_for
from dispatcher.queue.work import QueuedWork
from dispatcher.rendering.templates import RenderedMessage, school_context
from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement, School


@dataclass(frozen=True)
class AnnouncementFacts:
    """What delivering needs from an announcement; none of it changes once written."""

    id: int
    school_id: int
    school: SchoolConfig
    category: CategoryPolicy
    #: The days the school sends non-urgent messages on (bank and school holidays).
    school_days: SchoolDays
    #: The template context every message of the announcement shares: the request's
    #: variables and the school (each message adds its contact and students).
    shared_context: dict[str, Any]
    #: Messages rendered once for every family, by (channel, language, format): those
    #: whose templates read no family's names (a text that greets no one). None: the
    #: templates do read them, render for each family.
    same_for_all: dict[tuple[str, str, str], RenderedMessage | None] = field(default_factory=dict)
    #: The ``message_texts`` ids of this announcement's texts stored (and committed) by this
    #: process, by (announcement id, content hash).
    text_ids: dict[tuple[int, str], int] = field(default_factory=dict)


def announcement_facts(
    runtime: Runtime, session: Session, announcement_id: int
) -> AnnouncementFacts | None:
    """The announcement's facts, read once per process (``runtime.memo``); None when there
    is no such announcement."""
    key = ("announcement", announcement_id)
    facts: AnnouncementFacts | None = runtime.memo.get(key)
    if facts is not None:
        return facts
    row = session.execute(
        select(Announcement.school_id, Announcement.category, Announcement.variables, School.slug)
        .join(School, School.id == Announcement.school_id)
        .where(Announcement.id == announcement_id)
    ).one_or_none()
    if row is None:
        return None
    config = runtime.configuration
    school = config.school(row.slug)
    facts = AnnouncementFacts(
        id=announcement_id,
        school_id=row.school_id,
        school=school,
        category=config.policy.category(row.category),
        school_days=school_days_for(config, row.slug),
        shared_context={**row.variables, "school": school_context(school)},
    )
    runtime.memo[key] = facts
    return facts


@dataclass
class BatchContext:
    """One batch of an announcement's deliveries being sent (or one delivery): what each
    step of sending and recording it needs."""

    runtime: Runtime
    session: Session
    facts: AnnouncementFacts
    now: Callable[[], datetime]
    enqueue: Callable[[list[QueuedWork]], None]
    #: Providers asked about once in this batch: the stop of each stopped one, None for one
    #: that was not stopped (so Redis is asked once per batch and provider).
    known_stops: dict[str, ChannelStop | None] = field(default_factory=dict)

    def channel_stop(self, adapter: ChannelAdapter) -> ChannelStop | None:
        """``adapter``'s stop, if its provider refused our account lately (the outbox is
        never stopped)."""
        if adapter is self.runtime.outbox:
            return None
        if adapter.name not in self.known_stops:
            self.known_stops[adapter.name] = self.runtime.channel_stops.stopped(adapter.name)
        return self.known_stops[adapter.name]
