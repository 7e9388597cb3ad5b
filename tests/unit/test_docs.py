"""The documentation's own checks: links stay inside the repository, the README stays short
and starts with the two commands that work on a fresh machine, and the architecture page
ends with the table that says where a change goes.

Each check is a function over a repository root, so the tests below also run it on a small
broken repository in a temporary folder, to show that it fails when it should.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Folders never searched for Markdown: the virtual environment, git, tool caches.
SKIPPED_DIRS = frozenset({".venv", ".git", "node_modules", "var"})

README_MAX_LINES = 300
README_COMMANDS_WITHIN = 30
CHANGE_TABLE_HEADING = "where does a change go"
#: The rows the architecture page's closing table must have (first column, lower case).
CHANGE_TABLE_ROWS = (
    "a new channel",
    "a new trigger",
    "a new category",
    "a new report column",
    "a new cli command",
)

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).*?\1", re.DOTALL)
#: ``[text](target)`` and ``![alt](target)``; the target ends at a space (a title) or ``)``.
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+[^)]*)?\)")
#: ``[label]: target`` reference definitions.
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files(root: Path) -> list[Path]:
    """Every ``*.md`` file under ``root``, outside hidden folders, ``.venv`` and ``var``."""
    found = []
    for path in sorted(root.rglob("*.md")):
        parts = path.relative_to(root).parts[:-1]
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in parts):
            continue
        found.append(path)
    return found


def link_targets(markdown: str) -> Iterator[str]:
    """The targets of the links in ``markdown``, leaving out code blocks and code spans."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    for pattern in (_INLINE_LINK, _REFERENCE):
        for match in pattern.finditer(prose):
            yield match.group(1)


def broken_links(root: Path) -> list[str]:
    """Relative links in the Markdown under ``root`` that do not resolve to a file or folder
    inside ``root``, as ``file: target (why)``. External links (``https:``, ``mailto:`` ...)
    and links to a heading of the same page (``#...``) are not checked."""
    root = root.resolve()
    problems = []
    for path in markdown_files(root):
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if "../shared" in text:
            problems.append(f"{name}: mentions ../shared, which is outside the repository")
        for target in link_targets(text):
            if not target or target.startswith("#") or _SCHEME.match(target):
                continue
            file_part = re.split(r"[#?]", target, maxsplit=1)[0]
            if not file_part:
                continue
            base = root if file_part.startswith("/") else path.parent
            resolved = (base / file_part.lstrip("/")).resolve()
            if not resolved.is_relative_to(root):
                problems.append(f"{name}: {target} (outside the repository)")
            elif not resolved.exists():
                problems.append(f"{name}: {target} (no such file or folder)")
    return problems


def readme_problems(root: Path) -> list[str]:
    """What is wrong with ``root``'s README: too long, or not opening with ``make demo`` and
    then ``make test``."""
    lines = (root / "README.md").read_text(encoding="utf-8").splitlines()
    problems = []
    if len(lines) > README_MAX_LINES:
        problems.append(f"README.md has {len(lines)} lines, more than {README_MAX_LINES}")
    opening = "\n".join(lines[:README_COMMANDS_WITHIN])
    demo, test = opening.find("make demo"), opening.find("make test")
    if demo < 0 or test < 0:
        problems.append(
            f"README.md's first {README_COMMANDS_WITHIN} lines must show `make demo` and "
            "`make test`"
        )
    elif demo > test:
        problems.append("README.md must show `make demo` before `make test`")
    if ".venv/bin/dispatcher" not in opening:
        problems.append(
            f"README.md's first {README_COMMANDS_WITHIN} lines must say how to run the CLI "
            "(`.venv/bin/dispatcher`)"
        )
    return problems


def closing_table_problems(root: Path) -> list[str]:
    """What is wrong with the end of ``root``'s docs/architecture.md: it must end with a
    section "Where does a change go" that is a table with the expected rows."""
    text = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    headings = [
        (match.start(), match.group(1).strip().lower())
        for match in re.finditer(r"^#{1,6}\s+(.+)$", text, re.MULTILINE)
    ]
    if not headings or headings[-1][1] != CHANGE_TABLE_HEADING:
        return ['docs/architecture.md must end with the section "Where does a change go"']
    section = text[headings[-1][0] :].splitlines()[1:]
    body = [line.strip() for line in section if line.strip()]
    if len(body) < 3 or not all(line.startswith("|") for line in body):
        return ['"Where does a change go" must be a table, and nothing after it']
    if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", body[1]):
        return ['"Where does a change go": the table has no header separator']
    first_cells = {row.strip("|").split("|")[0].strip().lower() for row in body[2:]}
    return [
        f'"Where does a change go" has no row "{row}"'
        for row in CHANGE_TABLE_ROWS
        if row not in first_cells
    ]


# --- the repository ---------------------------------------------------------------------------


def test_every_relative_link_resolves_inside_the_repository() -> None:
    assert markdown_files(ROOT), "no Markdown files found"
    problems = broken_links(ROOT)
    assert not problems, "\n".join(problems)


def test_the_readme_is_short_and_starts_with_make_demo_and_make_test() -> None:
    problems = readme_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_the_architecture_ends_with_where_a_change_goes() -> None:
    problems = closing_table_problems(ROOT)
    assert not problems, "\n".join(problems)


# --- each check fails when it should ------------------------------------------------------------

GOOD_ARCHITECTURE = """# Architecture

See [the tests](../tests/) and [a heading](#where-does-a-change-go).

## Where does a change go

| change | where |
|---|---|
| A new channel | `dispatcher/channels/` |
| A new trigger | `dispatcher/triggers/` |
| A new category | `config/policy.toml` |
| A new report column | `dispatcher/reporting/reports.py` |
| A new CLI command | `dispatcher/cli/` |
"""

GOOD_README = (
    "# Title\n\n```sh\nmake demo\nmake test\n.venv/bin/dispatcher --help\n```\n\n"
    "See [docs](docs/architecture.md).\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository that passes every check."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "README.md").write_text(GOOD_README, encoding="utf-8")
    (tmp_path / "docs" / "architecture.md").write_text(GOOD_ARCHITECTURE, encoding="utf-8")
    return tmp_path


def test_the_checks_pass_on_a_good_repository(repo: Path) -> None:
    assert broken_links(repo) == []
    assert readme_problems(repo) == []
    assert closing_table_problems(repo) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[design](../shared/DESIGN.md)", "outside the repository"),
        ("[up](../../elsewhere.md)", "outside the repository"),
        ("[gone](docs/missing.md#part)", "no such file or folder"),
        ("![picture](docs/missing.png)", "no such file or folder"),
        ("[ref]: docs/missing.md", "no such file or folder"),
        ("[root](/nowhere/)", "no such file or folder"),
        ("The notes in `../shared/seeds/` matter.", "mentions ../shared"),
    ],
)
def test_a_bad_link_is_reported(repo: Path, markdown: str, expected: str) -> None:
    (repo / "page.md").write_text(f"# Page\n\n{markdown}\n", encoding="utf-8")
    problems = broken_links(repo)
    assert problems, "the bad link was not reported"
    assert any(expected in problem for problem in problems), problems


def test_links_in_code_and_external_links_are_not_checked(repo: Path) -> None:
    (repo / "docs" / "page.md").write_text(
        "[Twilio](https://www.twilio.com/docs)\n[mail](mailto:office@example.org)\n"
        "`[not a link](nowhere.md)`\n\n```md\n[nor this](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(repo) == []


def test_a_long_readme_is_reported(repo: Path) -> None:
    long_readme = GOOD_README + "line\n" * README_MAX_LINES
    (repo / "README.md").write_text(long_readme, encoding="utf-8")
    assert "more than 300" in readme_problems(repo)[0]


@pytest.mark.parametrize(
    "readme",
    [
        "# Title\n" + "text\n" * README_COMMANDS_WITHIN + "make demo\nmake test\n",
        "# Title\n\nmake test\nmake demo\n",
        "# Title\n\nmake demo only\n",
    ],
)
def test_a_readme_not_opening_with_the_two_commands_is_reported(repo: Path, readme: str) -> None:
    (repo / "README.md").write_text(readme, encoding="utf-8")
    assert readme_problems(repo) != []


def test_a_readme_not_saying_how_to_run_the_cli_is_reported(repo: Path) -> None:
    readme = GOOD_README.replace(".venv/bin/dispatcher --help\n", "")
    (repo / "README.md").write_text(readme, encoding="utf-8")
    assert readme_problems(repo) == [
        "README.md's first 30 lines must say how to run the CLI (`.venv/bin/dispatcher`)"
    ]


def test_the_package_metadata_names_its_licence_as_an_spdx_expression() -> None:
    # A table (`license = { text = ... }`) makes setuptools print a deprecation warning on
    # every install; an SPDX string needs setuptools 77 or later to build.
    import tomllib

    from packaging.licenses import canonicalize_license_expression

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    licence = project["project"]["license"]
    assert isinstance(licence, str)
    assert canonicalize_license_expression(licence) == licence
    assert "setuptools>=77" in project["build-system"]["requires"]


@pytest.mark.parametrize(
    "architecture",
    [
        GOOD_ARCHITECTURE + "\n## Afterwards\n\nMore text.\n",
        GOOD_ARCHITECTURE + "\nA paragraph after the table.\n",
        GOOD_ARCHITECTURE.replace("| A new trigger | `dispatcher/triggers/` |\n", ""),
        GOOD_ARCHITECTURE.replace("|---|---|\n", ""),
        "# Architecture\n\nNo table at all.\n",
    ],
)
def test_an_architecture_not_ending_with_the_table_is_reported(
    repo: Path, architecture: str
) -> None:
    (repo / "docs" / "architecture.md").write_text(architecture, encoding="utf-8")
    assert closing_table_problems(repo) != []
