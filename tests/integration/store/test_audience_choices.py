"""The audience step's queries on SQLite and PostgreSQL: a school's years, classes and
groups with their active students, and students found by name."""

from __future__ import annotations

from dispatcher.runtime import Runtime
from dispatcher.store.audience_choices import (
    Choice,
    audience_choices,
    search_students,
    students_by_id,
)
from tests.support.factories import import_roster, row

ROSTER = [
    row(groups="choir;football"),
    row(
        student_id="S2",
        student_first_name="Jan",
        student_last_name="Kowalski",
        contact_id="C2",
        groups="choir",
    ),
    row(
        student_id="S3",
        student_first_name="Zara",
        student_last_name="Khan",
        year="0",
        **{"class": "RA"},
        contact_id="C3",
    ),
    row(
        student_id="S4",
        student_first_name="Adam",
        student_last_name="Khanna",
        year="5",
        **{"class": "5A"},
        contact_id="C4",
    ),
]


def test_years_classes_and_groups_with_their_students(runtime: Runtime) -> None:
    import_roster(runtime, ROSTER)
    import_roster(
        runtime,
        [row(student_id="T1", contact_id="T1", year="9", **{"class": "9X"})],
        school="westbourne",
    )
    with runtime.sessions() as session:
        choices = audience_choices(session, "demo")
        assert choices.years == [Choice("0", 1), Choice("5", 1), Choice("6", 2)]
        assert choices.classes == [Choice("5A", 1), Choice("6B", 2), Choice("RA", 1)]
        assert choices.groups == [Choice("choir", 2), Choice("football", 1)]
        nothing = audience_choices(session, "brockmoor")  # no roster yet
        assert (nothing.years, nothing.classes, nothing.groups) == ([], [], [])


def test_students_are_found_by_any_part_of_their_name(runtime: Runtime) -> None:
    import_roster(runtime, ROSTER)
    with runtime.sessions() as session:
        found = search_students(session, "demo", "  KHAN ")
        assert [(s.first_name, s.last_name) for s in found] == [
            ("Zara", "Khan"),
            ("Adam", "Khanna"),
        ]
        assert [s.external_id for s in search_students(session, "demo", "jan kow")] == ["S2"]
        assert search_students(session, "demo", "%") == search_students(session, "demo", "") == []
        assert search_students(session, "westbourne", "khan") == []
        assert [s.external_id for s in students_by_id(session, "demo", ["S3", "S1", "nobody"])] == [
            "S3",
            "S1",
        ]
