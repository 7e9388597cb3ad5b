"""Each school's two-person sign-off settings (``[sign_off]`` in ``config/schools/<slug>.toml``):
which announcements need a second senior before they go, and whether the requester may send
alone after waiting (break-glass). Decision 0088."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from dispatcher.config.files import StrictModel


class SignOffRule(StrEnum):
    """Which announcements of a category need a second senior's approval."""

    #: None: the requester's own role decides, as for any send.
    NEVER = "never"
    #: Those to the whole school (the default for urgent categories).
    WHOLE_SCHOOL = "whole_school"
    #: Every announcement of the category, whatever its audience.
    ALWAYS = "always"


class SignOffConfig(StrictModel):
    """A school's sign-off settings; with none in its file, whole-school announcements of
    urgent categories need a second senior and break-glass is off."""

    urgent: SignOffRule = Field(
        default=SignOffRule.WHOLE_SCHOOL,
        description="The rule for every urgent category not named in categories.",
    )
    categories: dict[str, SignOffRule] = Field(
        default_factory=dict,
        description="The rule of a named category (urgent or not), over the urgent default.",
    )
    break_glass_after_minutes: int | None = Field(
        default=None,
        ge=0,
        le=24 * 60,
        description="Minutes after which a senior whose request nobody decided may send it "
        "alone (recorded loudly); absent: never.",
    )
