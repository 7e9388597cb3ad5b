"""Synthetic roster generation: deterministic, realistic and accepted by the parser. (That
it ignores ``PYTHONHASHSEED`` needs fresh interpreters: tests/integration/demo_data/.)"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from demo_data.rosters import (
    DEMO_OPT_OUT_CATEGORIES,
    OTHER_LANGUAGES,
    RosterSummary,
    default_invalid_rows,
    generate_roster_rows,
    school_prefix,
    write_roster_csv,
)
from dispatcher.domain import EMERGENCY_ONLY, FIRST_CONTACT, Need
from dispatcher.triggers.roster.parse import ROSTER_COLUMNS, RosterRow, RowError, parse_roster

CATEGORIES = frozenset({*DEMO_OPT_OUT_CATEGORIES, "emergency_closure"})


def parse_file(path: Path) -> tuple[list[RosterRow], list[RowError]]:
    with path.open(encoding="utf-8", newline="") as stream:
        results = list(parse_roster(stream, CATEGORIES))
    rows = [result for result in results if isinstance(result, RosterRow)]
    errors = [result for result in results if isinstance(result, RowError)]
    return rows, errors


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> tuple[RosterSummary, list[RosterRow]]:
    """A 600-pupil primary roster, parsed."""
    path = tmp_path_factory.mktemp("roster") / "oakfield.csv"
    summary = write_roster_csv(path, "oakfield-primary", 600, seed=2024)
    rows, errors = parse_file(path)
    assert len(errors) == summary.invalid_rows
    return summary, rows


def contacts_of(rows: list[RosterRow]) -> dict[str, RosterRow]:
    return {row.contact_id: row for row in rows}


# --- determinism and ids --------------------------------------------------------------------


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = list(generate_roster_rows("demo", 300, seed=7))
    assert len(first) > 300  # a row per link: most pupils have more than one contact
    assert first == list(generate_roster_rows("demo", 300, seed=7))
    assert first != list(generate_roster_rows("demo", 300, seed=8))
    assert all(list(row) == list(ROSTER_COLUMNS) for row in first)


def test_ids_are_prefixed_by_the_school_slug() -> None:
    assert school_prefix("demo") == "DEMO"
    assert school_prefix("Oakfield Primary") == "OAKFIELD-PRIMARY"
    rows = list(generate_roster_rows("demo", 20, seed=1, invalid_rows=0))
    assert rows[0]["student_id"] == "DEMO-S00001"
    assert rows[0]["contact_id"] == "DEMO-C00001"
    other = list(generate_roster_rows("demo-2", 20, seed=1, invalid_rows=0))
    ids = {row[key] for row in rows for key in ("student_id", "contact_id")}
    assert ids.isdisjoint(row[key] for row in other for key in ("student_id", "contact_id"))


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_roster_rows("demo", -1, seed=1)
    with pytest.raises(ValueError):
        generate_roster_rows("demo", 2, seed=1, invalid_rows=100)
    with pytest.raises(ValueError):
        generate_roster_rows("demo", 2, seed=1, invalid_rows=-1)
    with pytest.raises(ValueError):
        generate_roster_rows(" -- ", 2, seed=1)


# --- parses, with exactly the deliberate errors ---------------------------------------------


@pytest.mark.parametrize(("students", "seed"), [(1, 1), (5, 2), (150, 3), (420, 4), (1300, 5)])
def test_generated_file_parses_with_exactly_the_invalid_rows(
    tmp_path: Path, students: int, seed: int
) -> None:
    path = tmp_path / "roster.csv"
    summary = write_roster_csv(path, "demo", students, seed)
    rows, errors = parse_file(path)
    assert summary.invalid_rows == min(default_invalid_rows(students), summary.rows)
    assert len(errors) == summary.invalid_rows
    assert len({error.line for error in errors}) == summary.invalid_rows
    assert len(rows) == summary.rows - summary.invalid_rows
    # Line numbers are file lines: header is 1, rows are single-line.
    assert {row.line for row in rows} | {e.line for e in errors} == set(range(2, summary.rows + 2))
    if students >= 150:  # every student keeps a valid link
        assert len({row.student_id for row in rows}) == students == summary.students
    valid_contacts = len({row.contact_id for row in rows})
    assert summary.contacts - summary.invalid_rows <= valid_contacts <= summary.contacts


def test_default_invalid_rows_cover_every_kind_and_are_spread(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    summary = write_roster_csv(path, "big-school", 1000, seed=11)
    _, errors = parse_file(path)
    assert summary.invalid_rows == 5
    assert sorted(error.column for error in errors) == sorted(
        ["mobile", "email", "preferred_channel", "needs", "student_id"]
    )
    lines = sorted(error.line for error in errors)
    slice_size = summary.rows / 5
    for index, line in enumerate(lines):
        assert index * slice_size - slice_size / 2 <= line <= (index + 1) * slice_size + 2


@pytest.mark.parametrize("invalid", [0, 12])
def test_invalid_rows_can_be_chosen(tmp_path: Path, invalid: int) -> None:
    path = tmp_path / "roster.csv"
    summary = write_roster_csv(path, "demo", 200, seed=5, invalid_rows=invalid)
    _, errors = parse_file(path)
    assert summary.invalid_rows == invalid == len(errors)


def test_no_students_no_rows(tmp_path: Path) -> None:
    summary = write_roster_csv(tmp_path / "empty.csv", "demo", 0, seed=1)
    assert summary == RosterSummary(rows=0, students=0, contacts=0, invalid_rows=0)
    assert parse_file(tmp_path / "empty.csv") == ([], [])


# --- realistic content ----------------------------------------------------------------------


def test_primary_year_groups_and_classes(
    primary: tuple[RosterSummary, list[RosterRow]],
) -> None:
    _, rows = primary
    assert {row.year for row in rows} == set(range(0, 7))
    classes = {row.class_name for row in rows}
    assert {"RA", "3A", "3B", "6A"} <= classes
    for row in rows:
        assert row.class_name is not None
        assert row.class_name[:-1] == ("R" if row.year == 0 else str(row.year))


def test_large_roll_is_a_secondary_school() -> None:
    rows = list(generate_roster_rows("high", 1200, seed=3, invalid_rows=0))
    assert {row["year"] for row in rows} == {str(year) for year in range(7, 14)}


def test_siblings_share_the_same_contact_rows(
    primary: tuple[RosterSummary, list[RosterRow]],
) -> None:
    _, rows = primary
    by_contact: dict[str, list[RosterRow]] = defaultdict(list)
    for row in rows:
        by_contact[row.contact_id].append(row)
    shared = {cid: links for cid, links in by_contact.items() if len(links) >= 2}
    students = len({row.student_id for row in rows})
    assert len(shared) > students * 0.1
    for links in shared.values():
        assert len({link.student_id for link in links}) == len(links)
        contact_data = {
            (link.contact_last_name, link.phone, link.email, link.push_token, link.priority)
            for link in links
        }
        assert len(contact_data) == 1


def test_contact_channel_mix(primary: tuple[RosterSummary, list[RosterRow]]) -> None:
    _, rows = primary
    contacts = list(contacts_of(rows).values())
    count = len(contacts)
    assert count > 600  # the share bounds below hold for an empty roster too
    no_email = sum(contact.email is None for contact in contacts)
    no_phone = sum(contact.phone is None for contact in contacts)
    landline = [c.phone for c in contacts if c.phone is not None and not c.phone.sms_capable]
    tokens = [contact.push_token for contact in contacts if contact.push_token]
    assert 0.03 * count <= no_email <= 0.15 * count
    assert 0.01 * count <= no_phone <= 0.09 * count
    assert 0.005 * count <= len(landline) <= 0.07 * count
    assert all(phone.e164.startswith("+441") for phone in landline)
    assert 0.15 * count <= len(tokens) <= 0.35 * count
    assert all(len(token) >= 40 for token in tokens)
    mobiles = [c.phone for c in contacts if c.phone is not None and c.phone.sms_capable]
    assert len(mobiles) > 0.8 * count
    assert all(phone.e164.startswith("+447700900") for phone in mobiles)
    assert all(
        contact.email.rsplit("@", 1)[1] in {"example.com", "example.org", "example.net"}
        for contact in contacts
        if contact.email
    )


def test_mobiles_are_written_in_several_formats() -> None:
    mobiles = [row["mobile"] for row in generate_roster_rows("demo", 300, seed=9)]
    styles = {
        ("plus" if mobile.startswith("+") else "zero") + ("-spaced" if " " in mobile else "")
        for mobile in mobiles
        if "7700" in mobile
    }
    assert styles == {"plus", "plus-spaced", "zero", "zero-spaced"}


def test_home_languages_cover_a_broad_range(
    primary: tuple[RosterSummary, list[RosterRow]],
) -> None:
    _, rows = primary
    first_contacts = {row.student_id: row.language for row in rows if row.priority == FIRST_CONTACT}
    other = [lang for lang in first_contacts.values() if lang not in (None, "en")]
    assert 0.05 * len(first_contacts) <= len(other) <= 0.18 * len(first_contacts)
    assert {lang.split("-")[0] for lang in other} == set(OTHER_LANGUAGES)
    assert "pt-BR" in other or "pt" in other


def test_needs_opt_outs_and_no_contact(primary: tuple[RosterSummary, list[RosterRow]]) -> None:
    _, rows = primary
    contacts = list(contacts_of(rows).values())
    with_needs = [contact for contact in contacts if contact.needs]
    assert 0.02 * len(contacts) <= len(with_needs) <= 0.09 * len(contacts)
    assert len(set().union(*(contact.needs for contact in with_needs))) >= 5
    assert set().union(*(c.needs for c in with_needs)) <= set(Need)
    opt_outs = set().union(*(contact.opt_outs for contact in contacts))
    assert opt_outs == set(DEMO_OPT_OUT_CATEGORIES)
    barred = [row for row in rows if row.no_contact]
    assert 1 <= len(barred) <= 0.03 * len(rows)


def test_separated_parents_and_emergency_grandparents(
    primary: tuple[RosterSummary, list[RosterRow]],
) -> None:
    _, rows = primary
    by_student: dict[str, list[RosterRow]] = defaultdict(list)
    for row in rows:
        by_student[row.student_id].append(row)
    two_firsts = [
        links
        for links in by_student.values()
        if len([link for link in links if link.priority == FIRST_CONTACT]) == 2
    ]
    assert len(two_firsts) >= 0.03 * len(by_student)
    separated = [[link for link in links if link.priority == FIRST_CONTACT] for links in two_firsts]
    assert any(
        a.contact_last_name != b.contact_last_name
        and a.phone != b.phone
        and a.parental_responsibility
        and b.parental_responsibility
        for a, b in separated
    )
    grandparents = [row for row in rows if row.relationship.startswith("Grand")]
    assert len({row.student_id for row in grandparents}) >= 0.1 * len(by_student)
    assert all(
        row.priority == EMERGENCY_ONLY and not row.parental_responsibility for row in grandparents
    )
    sizes = Counter(len(links) for links in by_student.values())
    assert sizes[1] and sizes[2] and sizes[3]


def test_groups_and_preferred_channels(primary: tuple[RosterSummary, list[RosterRow]]) -> None:
    _, rows = primary
    groups = Counter(group for row in rows for group in row.groups)
    assert {"trip-paris", "choir", "football"} <= set(groups)
    assert all(row.year == 6 for row in rows if "trip-paris" in row.groups)
    assert any(row.preferred_channel is not None for row in rows)
    for row in rows:
        if row.preferred_channel is not None:
            available = {"sms": row.phone, "email": row.email, "push": row.push_token}
            assert available[row.preferred_channel.value]


def test_the_demo_roster_escapes_formulas_and_reads_back_as_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import demo_data.rosters as rosters
    import dispatcher.triggers.roster.parse as roster_parse
    from dispatcher.reporting.csv_safe import FORMULA_STARTS

    rows, invalid = rosters._build_rows("oakfield-primary", 3, 1, 0)
    rows[0] = {**rows[0], "student_first_name": "=1+1", "contact_last_name": "@SUM(1+1)"}
    monkeypatch.setattr(rosters, "_build_rows", lambda *args: (rows, invalid))
    path = tmp_path / "roster.csv"

    write_roster_csv(path, "oakfield-primary", 3, seed=1)

    text = path.read_text(encoding="utf-8")
    assert ",'=1+1," in text and ",'@SUM(1+1)," in text
    parsed, errors = parse_file(path)
    assert errors == []
    assert (parsed[0].student_first_name, parsed[0].contact_last_name) == ("=1+1", "@SUM(1+1)")
    # the parser undoes exactly what the writer does
    assert tuple(cell[1:] for cell in roster_parse._ESCAPED_FORMULA) == FORMULA_STARTS


def test_the_demo_roster_on_standard_output_escapes_formulas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    import demo_data.rosters as rosters
    from dispatcher.cli.main import app

    rows = list(generate_roster_rows("oakfield-primary", 2, 1, invalid_rows=0))
    rows[0] = {**rows[0], "contact_first_name": "+cmd|' /C calc'!A0"}
    monkeypatch.setattr(rosters, "generate_roster_rows", lambda *args: iter(rows))

    result = CliRunner().invoke(app, ["demo-data", "--school", "oakfield-primary"])

    assert result.exit_code == 0, result.output
    first = next(csv.DictReader(io.StringIO(result.output)))
    assert first["contact_first_name"] == "'+cmd|' /C calc'!A0"
