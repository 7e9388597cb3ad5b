"""STAND-IN for helper A's preview (the lead keeps A's version at merge): what parents will
read for an announcement request, built for ``_preview.html``. Here only the rendered
messages (each language and channel), enough for the sign-off page to show and test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.rendering.templates import RenderedMessage
from dispatcher.runtime import Runtime
from dispatcher.triggers.announcements import AnnouncementRequest, validate_request


@dataclass(frozen=True)
class Preview:
    """The messages of a request as families will read them."""

    messages: list[RenderedMessage]


def build_preview(
    runtime: Runtime, session: Session, request: AnnouncementRequest, now: datetime
) -> Preview:
    """The preview of ``request`` (raises ``RequestError`` naming the field at fault)."""
    _, _, messages = validate_request(runtime, request)
    return Preview(messages=messages)
