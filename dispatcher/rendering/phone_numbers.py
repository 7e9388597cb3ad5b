"""Phone numbers as a person reads them: UK numbers in the national format they dial
(``01632 960108``, ``07700 900123``), others in the international format (``+33 1 23 45 67
89``). The store, the JSON report and the API keep E.164 (``+441632960108``): machines read
those (decision 0067)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

#: The country whose numbers are shown in national format.
HOME_COUNTRY_CODE = 44


def readable_phone(number: str | None) -> str:
    """``number`` (E.164) as a person in the UK dials it; ``""`` for none, and the text
    unchanged when it is not a number ``phonenumbers`` can read."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, "GB")
    except NumberParseException:
        return number
    style = (
        PhoneNumberFormat.NATIONAL
        if parsed.country_code == HOME_COUNTRY_CODE
        else PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)
