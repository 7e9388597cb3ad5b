"""The words of two-person sign-off, pure: what a request is in plain words, and the text
and email that tell a senior it waits for them. No personal data: a requester is named by
role, never by name or address."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher.access.roles import Role
from dispatcher.audience import AudienceSelector, is_whole_school

_ROLE_WORDS = {Role.OFFICE: "an office user", Role.SENIOR: "a senior", Role.ADMIN: "an admin"}


def category_words(category: str) -> str:
    """``emergency_closure`` as ``an emergency closure``."""
    words = category.replace("_", " ").strip()
    article = "an" if words[:1].lower() in "aeiou" else "a"
    return f"{article} {words}"


def _selector_words(selector: AudienceSelector) -> str:
    if selector.kind == "year":
        return {"0": "reception", "-1": "nursery"}.get(selector.value, f"year {selector.value}")
    if selector.kind == "student":
        return "a named pupil"
    return f"{selector.kind} {selector.value}"


def audience_words(selectors: Sequence[AudienceSelector]) -> str:
    """Who an announcement is for: ``the whole school``, or ``year 6 and class 5B``."""
    if is_whole_school(tuple(selectors)):
        return "the whole school"
    parts = [_selector_words(s) for s in selectors]
    named = sum(1 for s in selectors if s.kind == "student")
    if named > 1:
        parts = [p for p in parts if p != "a named pupil"] + [f"{named} named pupils"]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class Notice:
    """A notice to a senior: the text message, and the email's subject and body."""

    text: str
    subject: str
    email_body: str


def sign_off_notice(
    school_name: str,
    requester_role: Role,
    category: str,
    selectors: Sequence[AudienceSelector],
    link: str,
) -> Notice:
    """What tells a senior that a request waits for them: ``<school>: a senior asks you to
    approve an emergency closure to the whole school. Open <link>``. ``link`` is the
    request's console address (or, without a public address, where to find it)."""
    asks = (
        f"{_ROLE_WORDS[requester_role]} asks you to approve {category_words(category)} "
        f"to {audience_words(selectors)}"
    )
    text = f"{school_name}: {asks}. Open {link}"
    body = (
        f"{school_name}: {asks}.\n\n"
        "Nothing is sent to families until a second senior approves it. Open the request, "
        "check what parents will read, then approve it (with a code from your authenticator "
        f"app) or reject it with a reason:\n\n{link}\n\n"
        "If you were not expecting this, reject it and tell your school's admin."
    )
    return Notice(text=text, subject=f"Approval needed: {asks}", email_body=body)


def sign_off_link(public_base_url: str | None, request_id: int) -> str:
    """The request's console address, ``<base>/sign-off/<id>``; without a public address
    configured, where in the console to find it."""
    if public_base_url:
        return f"{public_base_url.rstrip('/')}/sign-off/{request_id}"
    return f"the console, Sign-off, request {request_id}"
