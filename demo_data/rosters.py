"""Synthetic, realistic UK school rosters for demos, tests and benchmarks.

Everything is fictional: mobiles come from Ofcom's drama range (07700 900000-900999),
landlines from the geographic drama ranges (e.g. 0113 496 0xxx) and emails are at
example.com/.org/.net. Output depends only on the arguments: ``random.Random(seed)`` is the
only source of randomness and nothing iterates over a set, so hash seeds do not matter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from random import Random
from typing import Final

from dispatcher.domain import EMERGENCY_ONLY, FIRST_CONTACT, SECOND_CONTACT, Need
from dispatcher.reporting.csv_safe import SafeDictWriter
from dispatcher.triggers.roster.parse import LIST_SEPARATOR, ROSTER_COLUMNS

#: Opt-out categories the demo roster uses (both are categories in ``config/policy.toml``).
DEMO_OPT_OUT_CATEGORIES: Final[tuple[str, ...]] = ("newsletter", "survey")
#: Home languages other than English given to about one family in ten.
OTHER_LANGUAGES: Final[tuple[str, ...]] = ("pl", "ur", "pa", "ro", "ar", "so", "pt", "cy")
#: Largest roll generated as a primary school (years R-6); bigger rolls get years 7-13.
PRIMARY_MAX_STUDENTS: Final = 840
CLASS_SIZE: Final = 30

_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
_LANDLINE_AREAS = (
    "0113 496",
    "0114 496",
    "0116 496",
    "0117 496",
    "0118 496",
    "0121 496",
    "0131 496",
    "0141 496",
    "0151 496",
    "0161 496",
    "0191 498",
)
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_NEEDS_COMBINATIONS: tuple[tuple[Need, ...], ...] = (
    (Need.NO_SMS,),
    (Need.NO_EMAIL,),
    (Need.HEARING_IMPAIRED,),
    (Need.VISUALLY_IMPAIRED, Need.LARGE_PRINT),
    (Need.VISUALLY_IMPAIRED, Need.SCREEN_READER),
    (Need.LARGE_PRINT,),
    (Need.EASY_READ,),
    (Need.SCREEN_READER,),
    (Need.NO_SMS, Need.HEARING_IMPAIRED),
)
_PRIMARY_GROUPS = (
    ("choir", 0.08, 2),
    ("football", 0.12, 1),
    ("netball", 0.06, 3),
    ("breakfast-club", 0.10, 0),
    ("chess-club", 0.04, 2),
)
_SECONDARY_GROUPS = (
    ("choir", 0.05, 7),
    ("football", 0.10, 7),
    ("netball", 0.06, 7),
    ("orchestra", 0.04, 7),
    ("duke-of-edinburgh", 0.08, 9),
)

# Per home language: female first names | male first names | surnames.
_NAME_TABLE: Final = {
    "en": """
        Olivia Amelia Isla Ava Ivy Freya Lily Florence Mia Willow Rosie Sophia Isabella Grace
        Evie Poppy Ella Emily Sienna Ruby Charlotte Daisy Phoebe Harper Matilda Chloe Sarah Emma
        Rebecca Laura Rachel Hannah Gemma Kirsty Joanne Claire Nicola Lisa Michelle Priya
        Aaliyah Chantelle Mary-Ann Zoë Niamh Siobhan Chidinma Mei
      | Oliver Noah George Arthur Leo Muhammad Harry Oscar Archie Henry Theodore Jack Freddie
        Charlie Alfie Thomas Jacob Finley Isaac Teddy James Daniel Matthew David Christopher
        Mark Paul Andrew Richard Stephen Lee Craig Darren Jamal Aarav Kwame Tunde Connor Ciarán
        Ravi Wei
      | Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans
        Walker White Roberts Green Hall Wood Jackson Clarke Patel Hughes Edwards Turner Harris
        Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James
        Scott Phillips O'Brien O'Connor McDonald Murphy Rahman Okafor Mensah Chen Nguyen
        Smith-Jones Fraser Campbell Shah Adeyemi Okoro
    """,
    "pl": """
        Zofia Zuzanna Julia Lena Maja Hanna Anna Katarzyna Magdalena Agnieszka Joanna
        Małgorzata Ewa Justyna
      | Jakub Antoni Jan Szymon Filip Aleksander Piotr Tomasz Łukasz Marcin Paweł Krzysztof
        Michał Wojciech
      | Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański
        Woźniak Dąbrowski Mazur
    """,
    "ur": """
        Aisha Maryam Fatima Zara Inaaya Hafsa Nadia Samina Shazia Rubina Saima Ayesha
      | Muhammad Ayaan Ibrahim Zain Hamza Yusuf Imran Asif Tariq Bilal Adnan Faisal
      | Khan Hussain Ahmed Ali Iqbal Akhtar Mahmood Rashid Raza
    """,
    "pa": """
        Simran Jasleen Amrit Harleen Manpreet Gurpreet Navneet Rajwinder Kiran Jaspreet
      | Arjun Harjit Rajinder Navdeep Jaskaran Gurdeep Harpreet Sukhdev Ranjit Amandeep
      | Singh Sandhu Gill Sidhu Dhillon Bains Sahota Grewal Johal
    """,
    "ro": """
        Elena Ioana Maria Ana Bianca Andreea Cristina Daria Alexia
      | Andrei Alexandru Ionuț Mihai Gabriel Ștefan David Vlad Radu
      | Popescu Ionescu Popa Stan Dumitru Constantin Munteanu Stoica
    """,
    "ar": """
        Layla Noor Sara Amira Rania Huda Yasmin Mariam Salma
      | Omar Yusuf Ahmad Khalid Hassan Karim Tariq Sami Adam
      | Al-Sayed Haddad Mansour Nasser Saleh Abdullah Hamdan Darwish
    """,
    "so": """
        Hodan Ifrah Fadumo Sagal Yasmin Hibo Ayan Nimco Sahra
      | Abdi Mohamed Ayaan Hamza Liban Abdirahman Mahad Guled
      | Warsame Farah Osman Jama Hassan Abdi Ali Mohamud Egal
    """,
    "pt": """
        Beatriz Mariana Inês Ana Leonor Matilde Carolina Sofia
      | João Pedro Miguel Tiago Rafael Gonçalo Lucas Diogo
      | Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Sousa
    """,
    "cy": """
        Cerys Seren Ffion Megan Siân Elin Nia Mali Lowri Catrin
      | Rhys Dafydd Gethin Osian Iwan Emyr Gruffydd Owain Aled
      | Jones Davies Evans Williams Thomas Roberts Hughes Lloyd
    """,
}


def _split_names(table: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    female, male, surnames = (tuple(part.split()) for part in table.split("|"))
    return female, male, surnames


_NAMES: Final = {language: _split_names(table) for language, table in _NAME_TABLE.items()}


@dataclass(frozen=True)
class RosterSummary:
    """What a generated roster file holds: data rows, distinct ids and deliberately bad rows."""

    rows: int
    students: int
    contacts: int
    invalid_rows: int


@dataclass
class _Contact:
    first_name: str
    last_name: str
    relationship: str
    priority: int
    parental_responsibility: bool
    no_contact: bool = False
    mobile: str = ""
    email: str = ""
    preferred_channel: str = ""
    language: str = ""
    needs: str = ""
    opt_outs: str = ""
    push_token: str = ""
    pr_text: str = "Y"
    no_contact_text: str = "N"
    contact_id: str = ""


@dataclass
class _Student:
    first_name: str
    last_name: str
    year: int
    contacts: list[_Contact]
    groups: list[str] = field(default_factory=list)
    class_name: str = ""
    year_text: str = ""
    student_id: str = ""


def default_invalid_rows(students: int) -> int:
    """The number of deliberately invalid rows used when none is asked for."""
    return max(3, students // 200)


def school_prefix(school: str) -> str:
    """The id prefix for ``school``: its slug upper-cased, so it is unique within a trust."""
    slug = re.sub(r"[^a-z0-9]+", "-", school.strip().lower()).strip("-")
    if not slug:
        raise ValueError("school must contain at least one letter or digit")
    return slug.upper()


def generate_roster_rows(
    school: str, students: int, seed: int, invalid_rows: int | None = None
) -> Iterator[dict[str, str]]:
    """Roster rows (keys ``ROSTER_COLUMNS``, in order) for ``students`` fictional pupils.

    Same arguments, same rows. Rows are sorted by student id, then contact priority; every
    student has at least one contact. Exactly ``invalid_rows`` rows (default
    :func:`default_invalid_rows`, capped at the number of rows) each carry one deliberate
    error, cycling through: bad mobile, bad email, unknown channel, unknown need, missing
    student id, bad priority, bad year, bad language, missing contact surname. They are
    spread through the file and, where possible, on students who also have a valid row. All
    other rows are valid for ``parse_roster`` with :data:`DEMO_OPT_OUT_CATEGORIES` known.
    Raises ``ValueError`` (when called, not when iterated) for a negative count, a school
    name without letters or digits, or more invalid rows than rows.
    """
    rows, _ = _build_rows(school, students, seed, invalid_rows)
    return iter(rows)


def write_roster_csv(
    path: Path, school: str, students: int, seed: int, invalid_rows: int | None = None
) -> RosterSummary:
    """Write :func:`generate_roster_rows` output as a UTF-8 roster CSV at ``path``.

    Overwrites ``path``. The summary counts data rows, distinct non-empty student and contact
    ids in the file, and the deliberately invalid rows.
    """
    rows, invalid = _build_rows(school, students, seed, invalid_rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = SafeDictWriter(handle, fieldnames=ROSTER_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return RosterSummary(
        rows=len(rows),
        students=len({row["student_id"] for row in rows if row["student_id"]}),
        contacts=len({row["contact_id"] for row in rows if row["contact_id"]}),
        invalid_rows=invalid,
    )


def _build_rows(
    school: str, students: int, seed: int, invalid_rows: int | None
) -> tuple[list[dict[str, str]], int]:
    """The rows of the roster and how many of them were made invalid."""
    if students < 0:
        raise ValueError("students must not be negative")
    if invalid_rows is not None and invalid_rows < 0:
        raise ValueError("invalid_rows must not be negative")
    prefix = school_prefix(school)
    rng = Random(seed)
    roll = _Generator(rng, students).roll()
    _assign_ids(roll, prefix)
    rows = [_row(student, contact) for student in roll for contact in student.contacts]
    wanted = (
        min(default_invalid_rows(students), len(rows)) if invalid_rows is None else invalid_rows
    )
    if wanted > len(rows):
        raise ValueError("invalid_rows is larger than the number of rows")
    _corrupt(rng, rows, wanted)
    return rows, wanted


class _Generator:
    """Builds families (and so students and contacts) from one random stream."""

    def __init__(self, rng: Random, students: int) -> None:
        self.rng = rng
        self.students = students
        self.primary = students <= PRIMARY_MAX_STUDENTS
        self.years = tuple(range(0, 7)) if self.primary else tuple(range(7, 14))
        self.mobiles: list[int] = []
        self.languages: list[str] = []
        self.emails: set[str] = set()

    def roll(self) -> list[_Student]:
        """All students, in a shuffled order, with their classes and groups set."""
        roll: list[_Student] = []
        while len(roll) < self.students:
            roll.extend(self.family(self.students - len(roll)))
        self.rng.shuffle(roll)
        self.assign_classes(roll)
        for student in roll:
            student.groups = self.groups(student.year)
            student.year_text = _year_text(self.rng, student.year)
        return roll

    def family(self, room: int) -> list[_Student]:
        """One family: 1-3 children sharing the same contact objects."""
        rng = self.rng
        language = self.next_language() if rng.random() < 0.10 else "en"
        surname = rng.choice(_NAMES[language][2])
        children = min(room, rng.choices((1, 2, 3), weights=(70, 22, 8))[0])
        shape = rng.random()
        if shape < 0.15:
            contacts, surname = self.separated(language, surname)
        elif shape < 0.70:
            contacts = self.couple(language, surname)
        else:
            contacts = self.single(language, surname)
        if rng.random() < 0.20:
            female = rng.random() < 0.6
            contacts.append(
                self.contact(
                    language,
                    female,
                    rng.choice((surname, rng.choice(_NAMES[language][2]))),
                    "Grandmother" if female else "Grandfather",
                    EMERGENCY_ONLY,
                    parental_responsibility=False,
                )
            )
        years = self.sibling_years(children)
        return [self.student(language, surname, year, contacts) for year in years]

    def couple(self, language: str, surname: str) -> list[_Contact]:
        rng = self.rng
        same_sex = rng.random() < 0.03
        second_female = same_sex
        second_surname = surname if rng.random() < 0.75 else rng.choice(_NAMES[language][2])
        mother = self.contact(language, True, surname, "Mother", FIRST_CONTACT, True)
        other = self.contact(
            language,
            second_female,
            second_surname,
            "Mother" if second_female else "Father",
            SECOND_CONTACT,
            True,
        )
        if rng.random() < 0.3:
            mother.priority, other.priority = SECOND_CONTACT, FIRST_CONTACT
            return [other, mother]
        return [mother, other]

    def single(self, language: str, surname: str) -> list[_Contact]:
        rng = self.rng
        female = rng.random() < 0.8
        parent = self.contact(
            language, female, surname, "Mother" if female else "Father", FIRST_CONTACT, True
        )
        contacts = [parent]
        if rng.random() < 0.3:
            relative_female = rng.random() < 0.5
            relationship = rng.choice(
                ("Aunt", "Family friend") if relative_female else ("Uncle", "Family friend")
            )
            contacts.append(
                self.contact(
                    language,
                    relative_female,
                    rng.choice(_NAMES[language][2]),
                    relationship,
                    SECOND_CONTACT,
                    False,
                )
            )
        return contacts

    def separated(self, language: str, surname: str) -> tuple[list[_Contact], str]:
        """Two households; returns the contacts and the children's surname."""
        rng = self.rng
        other_surname = rng.choice(_NAMES[language][2])
        while other_surname == surname and len(_NAMES[language][2]) > 1:
            other_surname = rng.choice(_NAMES[language][2])
        mother_resident = rng.random() < 0.75
        resident = self.contact(
            language,
            mother_resident,
            other_surname if mother_resident else surname,
            "Mother" if mother_resident else "Father",
            FIRST_CONTACT,
            True,
        )
        away = self.contact(
            language,
            not mother_resident,
            surname if mother_resident else other_surname,
            "Father" if mother_resident else "Mother",
            FIRST_CONTACT if rng.random() < 0.6 else SECOND_CONTACT,
            True,
        )
        contacts = [resident, away]
        if rng.random() < 0.16:  # a court order: no contact with the non-resident parent
            away.no_contact, away.no_contact_text = True, "Y"
            away.priority = SECOND_CONTACT
        if rng.random() < 0.25:
            step_female = not mother_resident
            contacts.append(
                self.contact(
                    language,
                    step_female,
                    rng.choice(_NAMES[language][2]),
                    "Step-mother" if step_female else "Step-father",
                    SECOND_CONTACT,
                    False,
                )
            )
        return contacts, surname

    def contact(
        self,
        language: str,
        female: bool,
        surname: str,
        relationship: str,
        priority: int,
        parental_responsibility: bool,
    ) -> _Contact:
        """One adult with randomly present channels, needs, opt-outs and token."""
        rng = self.rng
        names = _NAMES[language if rng.random() < 0.9 else "en"]
        first = rng.choice(names[0] if female else names[1])
        last = _gendered(surname, language, female)
        contact = _Contact(
            first_name=first,
            last_name=last,
            relationship=relationship,
            priority=priority,
            parental_responsibility=parental_responsibility,
        )
        contact.pr_text = ("Y" if rng.random() < 0.8 else "") if parental_responsibility else "N"
        contact.no_contact_text = "N" if rng.random() < 0.8 else ""
        phone_kind = rng.random()
        if phone_kind < 0.03:
            contact.mobile = f"{rng.choice(_LANDLINE_AREAS)} 0{rng.randrange(1000):03d}"
        elif phone_kind >= 0.07:
            contact.mobile = self.next_mobile()
        if rng.random() >= 0.08:
            contact.email = self.email(first, last)
        if rng.random() < 0.25:
            length = rng.choice((64, 96, 152))
            contact.push_token = "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(length))
        contact.language = _language_text(rng, language)
        if rng.random() < 0.05:
            contact.needs = LIST_SEPARATOR.join(rng.choice(_NEEDS_COMBINATIONS))
        if rng.random() < 0.06:
            contact.opt_outs = rng.choices(
                ("newsletter", "survey", "newsletter;survey"), weights=(60, 25, 15)
            )[0]
        if rng.random() < 0.25:
            available = [
                name
                for name, present in (
                    ("sms", contact.mobile),
                    ("email", contact.email),
                    ("push", contact.push_token),
                )
                if present
            ]
            if available:
                contact.preferred_channel = rng.choice(available)
        return contact

    def student(self, language: str, surname: str, year: int, contacts: list[_Contact]) -> _Student:
        rng = self.rng
        female = rng.random() < 0.5
        names = _NAMES[language if rng.random() < 0.8 else "en"]
        first = rng.choice(names[0] if female else names[1])
        ordered = sorted(contacts, key=lambda contact: contact.priority)
        return _Student(first, _gendered(surname, language, female), year, ordered)

    def sibling_years(self, children: int) -> list[int]:
        rng = self.rng
        if children > 1 and rng.random() < 0.03:  # twins (and maybe an older sibling)
            year = rng.choice(self.years)
            return [year, year, *rng.sample(self.years, children - 2)]
        return rng.sample(self.years, children)

    def assign_classes(self, roll: Sequence[_Student]) -> None:
        for year in self.years:
            pupils = [student for student in roll if student.year == year]
            forms = max(1, ceil(len(pupils) / CLASS_SIZE))
            label = "R" if year == 0 else str(year)
            for index, student in enumerate(pupils):
                student.class_name = f"{label}{chr(ord('A') + index % forms)}"

    def groups(self, year: int) -> list[str]:
        rng = self.rng
        catalogue = _PRIMARY_GROUPS if self.primary else _SECONDARY_GROUPS
        groups = [
            name
            for name, share, from_year in catalogue
            if year >= from_year and rng.random() < share
        ]
        paris_years = (6,) if self.primary else (9, 10)
        if year in paris_years and rng.random() < 0.5:
            groups.insert(0, "trip-paris")
        return groups

    def next_language(self) -> str:
        """Deal home languages from a shuffled deck so even a small school gets a spread."""
        if not self.languages:
            self.languages = list(OTHER_LANGUAGES)
            self.rng.shuffle(self.languages)
        return self.languages.pop()

    def next_mobile(self) -> str:
        """A drama-range mobile, unique until all 1000 are used, written in varied styles."""
        if not self.mobiles:
            self.mobiles = list(range(1000))
            self.rng.shuffle(self.mobiles)
        last = f"{self.mobiles.pop():03d}"
        style = self.rng.choices(range(5), weights=(45, 20, 20, 10, 5))[0]
        return (
            f"07700 900{last}",
            f"+447700900{last}",
            f"07700900{last}",
            f"+44 7700 900{last}",
            f"07700 900 {last}",
        )[style]

    def email(self, first: str, last: str) -> str:
        rng = self.rng
        given, family = _ascii(first), _ascii(last)
        style = rng.randrange(4)
        if style == 0:
            local = f"{given}.{family}"
        elif style == 1:
            local = f"{given[:1]}{family}{rng.randrange(10, 100)}"
        elif style == 2:
            local = f"{family}.{given}"
        else:
            local = f"{given}{family}{rng.randrange(70, 100)}"
        domain = rng.choice(_EMAIL_DOMAINS)
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        if rng.random() < 0.05:  # typed with capitals; normalisation keeps the local part
            return candidate[:1].upper() + candidate[1:]
        return candidate


def _gendered(surname: str, language: str, female: bool) -> str:
    """Polish -ski/-cki surnames take -ska/-cka for women and girls."""
    if language == "pl" and female and surname.endswith(("ski", "cki")):
        return surname[:-1] + "a"
    return surname


def _ascii(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum()) or "parent"


def _language_text(rng: Random, language: str) -> str:
    if language == "en":
        return "en" if rng.random() < 0.2 else ""
    if language == "pt" and rng.random() < 0.5:
        return "pt-BR"
    return language


def _assign_ids(roll: Sequence[_Student], prefix: str) -> None:
    next_contact = 1
    for number, student in enumerate(roll, start=1):
        student.student_id = f"{prefix}-S{number:05d}"
        for contact in student.contacts:
            if not contact.contact_id:
                contact.contact_id = f"{prefix}-C{next_contact:05d}"
                next_contact += 1


def _year_text(rng: Random, year: int) -> str:
    if year == 0:
        return "R" if rng.random() < 0.7 else "0"
    return str(year)


def _row(student: _Student, contact: _Contact) -> dict[str, str]:
    values = {
        "student_id": student.student_id,
        "student_first_name": student.first_name,
        "student_last_name": student.last_name,
        "year": student.year_text,
        "class": student.class_name,
        "groups": LIST_SEPARATOR.join(student.groups),
        "contact_id": contact.contact_id,
        "contact_first_name": contact.first_name,
        "contact_last_name": contact.last_name,
        "relationship": contact.relationship,
        "priority": str(contact.priority),
        "parental_responsibility": contact.pr_text,
        "no_contact": contact.no_contact_text,
        "mobile": contact.mobile,
        "email": contact.email,
        "preferred_channel": contact.preferred_channel,
        "language": contact.language,
        "needs": contact.needs,
        "opt_outs": contact.opt_outs,
        "push_token": contact.push_token,
    }
    return {column: values[column] for column in ROSTER_COLUMNS}


_CORRUPTIONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("mobile", ("07700 90012", "077009001234", "0770 0900", "+44 7700 9001")),
    ("email", ()),  # derived from the contact's own address
    ("preferred_channel", ("whatsapp", "letter", "phone", "text")),
    ("needs", ("deaf", "braille", "wheelchair")),
    ("student_id", ("",)),
    ("priority", ("4", "0", "first")),
    ("year", ("15", "Y7", "reception")),
    ("language", ("English", "Polish", "urdu")),
    ("contact_last_name", ("",)),
)


def _corrupt(rng: Random, rows: list[dict[str, str]], count: int) -> None:
    """Give ``count`` rows, spread through ``rows``, one deliberate error each."""
    if count == 0:
        return
    links: dict[str, int] = {}
    for row in rows:
        links[row["student_id"]] = links.get(row["student_id"], 0) + 1
    preferred = [links[row["student_id"]] > 1 for row in rows]
    chosen: list[int] = []
    taken: set[int] = set()
    for index in range(count):
        target = int((index + rng.uniform(0.2, 0.8)) * len(rows) / count)
        position = _nearest_free(target, preferred, taken)
        taken.add(position)
        chosen.append(position)
    for index, position in enumerate(chosen):
        column, values = _CORRUPTIONS[index % len(_CORRUPTIONS)]
        row = rows[position]
        if column == "email":
            row[column] = _bad_email(rng, row)
        else:
            row[column] = rng.choice(values)


def _nearest_free(target: int, preferred: Sequence[bool], taken: set[int]) -> int:
    size = len(preferred)
    for want_preferred in (True, False):
        for distance in range(size):
            for position in (target + distance, target - distance):
                if (
                    0 <= position < size
                    and position not in taken
                    and (preferred[position] or not want_preferred)
                ):
                    return position
    raise ValueError("no free row left to corrupt")


def _bad_email(rng: Random, row: dict[str, str]) -> str:
    address = row["email"] or (
        f"{_ascii(row['contact_first_name'])}.{_ascii(row['contact_last_name'])}@example.com"
    )
    local, _, domain = address.partition("@")
    return rng.choice(
        (
            f"{local}{domain}",  # the @ lost
            f"{local}@{domain.split('.')[0]}",  # no top-level domain
            f"{local} @{domain}",  # a space
            f"{local}@@{domain}",  # doubled @
        )
    )
