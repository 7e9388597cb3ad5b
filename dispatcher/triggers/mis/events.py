"""The events a school's MIS may send, as pydantic models: what each carries, checked field by
field with the roster import's rules, and the JSON schema published in the API docs.

Event types:

- ``payment.due`` / ``payment.overdue``: a ``payment_request`` announcement to the student's
  contacts (audience ``student:<id>``; routing keeps it to contacts with parental
  responsibility);
- ``contact.updated``: a contact's mobile, email, preferred channel, language or needs change;
- ``student.left``: the student becomes inactive (no longer in any audience).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
)

from dispatcher.plain_text import plain_text_problem
from dispatcher.triggers.roster.parse import (
    normalise_email,
    normalise_language,
    normalise_phone,
    parse_channel,
    parse_needs,
)

PAYMENT_TYPES = ("payment.due", "payment.overdue")
EVENT_TYPES = (*PAYMENT_TYPES, "contact.updated", "student.left")


def _mis_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    problem = plain_text_problem(text, line_breaks=False)
    if problem is not None:
        raise ValueError(problem)
    return text


MisId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_mis_id)]


def _text(value: str) -> str:
    problem = plain_text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class EventEnvelope(BaseModel):
    """Every MIS event: an id, a type, when it happened, and the type's ``data``."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_mis_id)] = Field(
        description="The MIS's id for this event; a repeated id is acknowledged and ignored."
    )
    type: str = Field(min_length=1, max_length=64, description="One of: " + ", ".join(EVENT_TYPES))
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened in the MIS (ISO 8601 with offset)."
    )
    data: dict[str, Any] = Field(description="The event's fields (by type).")


class PaymentData(BaseModel):
    """``payment.due`` / ``payment.overdue``: a payment the family should make."""

    model_config = ConfigDict(extra="ignore")

    student_id: MisId = Field(description="The student's MIS id.", examples=["S104"])
    item: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_text)] = Field(
        description="What it is for.", examples=["Year 6 residential"]
    )
    amount_pence: int = Field(
        strict=True, ge=1, le=100_000_000, description="Amount in pence.", examples=[8500]
    )
    due_date: date = Field(description="Due date (YYYY-MM-DD).", examples=["2026-12-04"])
    payment_link: HttpUrl = Field(
        description="Where to pay (https).", examples=["https://pay.example/abc"]
    )

    @field_validator("payment_link")
    @classmethod
    def _https(cls, value: HttpUrl) -> HttpUrl:
        if value.scheme != "https":
            raise ValueError("must be an https:// link")
        if len(str(value)) > 500:
            raise ValueError("at most 500 characters")
        return value


def _mobile(value: str | None) -> str | None:
    return normalise_phone(value).e164 if value else None


def _email(value: str | None) -> str | None:
    return normalise_email(value) if value else None


def _language(value: str | None) -> str | None:
    return normalise_language(value) if value else None


def _preferred(value: str | None) -> str | None:
    channel = parse_channel(value.strip()) if value else None
    return channel.value if channel else None


def _need_list(value: list[str] | str | None) -> list[str]:
    text = value if isinstance(value, str) else ";".join(value or [])
    return sorted(need.value for need in parse_needs(text))


class ContactChanges(BaseModel):
    """The changed fields of a contact: only those given change; ``null`` or ``""`` clears
    one. Checked with the roster import's rules (UK or international mobile, email syntax,
    ``sms``/``email``/``push``, a BCP 47 language, known needs)."""

    model_config = ConfigDict(extra="forbid")

    mobile: Annotated[str | None, Field(max_length=40), AfterValidator(_mobile)] = Field(
        default=None,
        description="Mobile number, any UK or international format.",
        examples=["07700 900123"],
    )
    email: Annotated[str | None, Field(max_length=320), AfterValidator(_email)] = Field(
        default=None, description="Email address.", examples=["parent@example.com"]
    )
    preferred_channel: Annotated[str | None, Field(max_length=16), AfterValidator(_preferred)] = (
        Field(default=None, description="sms, email or push.", examples=["sms"])
    )
    language: Annotated[str | None, Field(max_length=35), AfterValidator(_language)] = Field(
        default=None, description="BCP 47 language tag.", examples=["pl"]
    )
    needs: Annotated[
        Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=20)]
        | Annotated[str, Field(max_length=300)]
        | None,
        AfterValidator(_need_list),
    ] = Field(
        default=None,
        description="The full list of needs (replaces the old one): no_sms, no_email, "
        "hearing_impaired, visually_impaired, large_print, easy_read, screen_reader.",
        examples=[["large_print"]],
    )


class ContactUpdatedData(BaseModel):
    """``contact.updated``: some of a contact's details changed in the MIS."""

    model_config = ConfigDict(extra="ignore")

    contact_id: MisId = Field(description="The contact's MIS id.", examples=["C220"])
    changes: ContactChanges = Field(description="The changed fields.")

    @field_validator("changes")
    @classmethod
    def _not_empty(cls, value: ContactChanges) -> ContactChanges:
        if not value.model_fields_set:
            raise ValueError(
                "give at least one of mobile, email, preferred_channel, language, needs"
            )
        return value


class StudentLeftData(BaseModel):
    """``student.left``: the student left the school."""

    model_config = ConfigDict(extra="ignore")

    student_id: MisId = Field(description="The student's MIS id.", examples=["S104"])
    left_on: date | None = Field(default=None, description="Last day (YYYY-MM-DD).")


EventData = PaymentData | ContactUpdatedData | StudentLeftData
_DATA_MODELS: dict[str, type[BaseModel]] = {
    "payment.due": PaymentData,
    "payment.overdue": PaymentData,
    "contact.updated": ContactUpdatedData,
    "student.left": StudentLeftData,
}


class PayloadError(ValueError):
    """A payload is not a valid event; ``errors`` are ``(field path, message)`` pairs, with
    paths like ``body.data.amount_pence``. Messages never repeat personal data."""

    def __init__(self, errors: list[tuple[str, str]], unknown_type: bool = False) -> None:
        self.errors = errors
        self.unknown_type = unknown_type
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


def _errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    return [
        (
            ".".join([prefix, *(str(part) for part in e["loc"])]),
            str(e["msg"]).removeprefix("Value error, "),
        )
        for e in exc.errors()
    ]


def parse_event(payload: Any) -> tuple[EventEnvelope, EventData]:
    """Validate a decoded JSON payload; raise ``PayloadError`` naming each bad field."""
    if not isinstance(payload, dict):
        raise PayloadError([("body", "must be a JSON object with id, type and data")])
    try:
        envelope = EventEnvelope.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(_errors(exc, "body")) from None
    model = _DATA_MODELS.get(envelope.type)
    if model is None:
        raise PayloadError(
            [("body.type", "unknown event type; expected one of " + ", ".join(EVENT_TYPES))],
            unknown_type=True,
        )
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PayloadError(_errors(exc, "body.data")) from None
    assert isinstance(data, PaymentData | ContactUpdatedData | StudentLeftData)
    return envelope, data


def event_json_schema() -> dict[str, Any]:
    """The JSON schema of an event body for the OpenAPI document: one branch per type,
    with every ``$ref`` resolved inline."""
    branches = []
    for event_type, model in _DATA_MODELS.items():
        envelope = EventEnvelope.model_json_schema()
        envelope["properties"]["type"] = {
            "type": "string",
            "const": event_type,
            "description": f"`{event_type}`",
        }
        envelope["properties"]["data"] = _inline(model.model_json_schema())
        envelope["title"] = f"{event_type} event"
        branches.append(_inline(envelope))
    return {"oneOf": branches, "description": "An MIS event (by `type`)."}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = resolve(dict(defs[ref.removeprefix("#/$defs/")]))
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return {**target, **resolve(extra)}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
