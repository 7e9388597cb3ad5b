"""Staff passwords: the rule a new one must meet, and Argon2 to keep and check them.

The rule is the NCSC's advice for a service with a lockout and a second factor: length
counts, composition rules do not. At least 12 characters, at most 256 (Argon2 takes any
length, but a megabyte "password" is a denial of service), not all one character, and not
one of the passwords every list of breached passwords starts with. Only an Argon2id hash
(``argon2-cffi``'s defaults, RFC 9106's second recommended set) is stored.
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256

#: Long enough to pass the length rule, and still the first guesses of every attacker.
_COMMON: Final = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "qwertyuiopas",
        "qwertyuiop12",
        "qwerty123456",
        "password1234",
        "password12345",
        "passwordpassword",
        "iloveyou1234",
        "welcome12345",
        "letmein12345",
        "abcdefghijkl",
        "abc123abc123",
        "changeme1234",
        "schoolschool",
    }
)

_hasher = PasswordHasher()
#: A hash of nothing anyone knows, checked when an email has no account, so that a wrong
#: email takes as long to refuse as a wrong password.
_DUMMY_HASH: Final = _hasher.hash("not a password: no account has it")


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, in words for the person choosing it, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters (three random words work well)"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if len(set(password)) == 1:
        return "must not be one character repeated"
    if password.lower() in _COMMON:
        return "is one of the most common passwords: choose another"
    return None


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (with its own salt and parameters) to store."""
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from. With no hash (no such
    account) a dummy hash is checked anyway, so that both take the same time, and False is
    returned."""
    try:
        matched = _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)
