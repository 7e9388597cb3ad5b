"""Identifiers for emulated resources: random enough to be unique, cheap to make.

Not for secrets (access tokens use ``secrets``): a ``random.Random`` seeded once from the
operating system, because ``os.urandom`` per id cost tens of microseconds here.
"""

from __future__ import annotations

import random
import secrets
import string

_random = random.Random(secrets.randbits(128))
_URLSAFE = string.ascii_letters + string.digits + "-_"


def hex_id(digits: int = 32) -> str:
    """``digits`` lowercase hex digits."""
    return f"{_random.getrandbits(4 * digits):0{digits}x}"


def urlsafe_id(length: int = 22) -> str:
    """``length`` characters from the URL-safe base64 alphabet."""
    return "".join(_random.choices(_URLSAFE, k=length))
