"""The staff console's second factor: TOTP (RFC 6238, ``pyotp``), six digits every 30 s.

Required for the senior and admin roles (they may send urgent and whole-school
announcements, and manage accounts). A code is accepted for the step before and after the
current one (clock drift), and each step signs in once: the last step used is stored with
the account, so a code read over a shoulder cannot be replayed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pyotp
import segno

from dispatcher.access.roles import Role

#: The issuer an authenticator app shows beside the account.
ISSUER: Final = "School messages"
#: Steps either side of the current one that are accepted.
_DRIFT_STEPS: Final = 1


def second_factor_required(role: Role) -> bool:
    """Whether an account of ``role`` must sign in with a TOTP code too."""
    return role in (Role.SENIOR, Role.ADMIN)


def new_secret() -> str:
    """A new random base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI that an authenticator app reads (from the QR code or typed)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_code_svg(uri: str, title: str) -> str:
    """``uri`` as a QR code: an inline SVG element (no image request), titled ``title``."""
    svg: str = segno.make(uri, error="m").svg_inline(
        dark="#0b0c0c", light="#ffffff", title=title, border=4, omitsize=True
    )
    # An image to assistive technology, named by its <title>.
    return svg.replace("<svg ", '<svg role="img" ', 1)


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step whose code ``code`` is (at ``now``, give or take one step), or None
    when it is no such code or its step is not after ``last_step`` (already used)."""
    digits = "".join(code.split())
    if not (digits.isdigit() and len(digits) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), digits):
            return step
    return None
