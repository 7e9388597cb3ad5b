"""An announcement whose families no channel can reach: the office's call log starts here."""

from __future__ import annotations

from dispatcher.runtime import Runtime
from tests.support.factories import create, import_roster, plan, row


def two_families_nobody_can_message(runtime: Runtime) -> int:
    """Pupils SA and SB, each with one carer (A1, B1) who has only a landline and no email;
    an emergency closure planned for them. Returns its id."""
    import_roster(
        runtime,
        [
            row(student_id="SA", contact_id="A1", mobile="01632 960111", email=""),
            row(
                student_id="SB",
                student_first_name="Bea",
                contact_id="B1",
                contact_first_name="Ben",
                mobile="01632 960122",
                email="",
            ),
        ],
    )
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    return announcement_id
