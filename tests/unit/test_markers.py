"""Every test carries the marker of its folder (``tests.support.markers``, applied by the root
conftest): a test in ``tests/integration/`` that lost its ``integration`` marker fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.markers import FOLDER_MARKERS, folder_marker

TESTS = Path(__file__).resolve().parents[1]


def test_the_folder_markers_are_declared(pytestconfig: pytest.Config) -> None:
    declared = {line.split(":")[0].strip() for line in pytestconfig.getini("markers")}
    assert set(FOLDER_MARKERS) <= declared


def test_folder_marker_is_the_first_folder_under_the_tests_root() -> None:
    assert folder_marker(TESTS / "integration" / "web" / "test_x.py", TESTS) == "integration"
    assert folder_marker(TESTS / "unit" / "test_x.py", TESTS) == "unit"
    assert folder_marker(TESTS / "e2e" / "test_x.py", TESTS) == "e2e"
    assert folder_marker(TESTS / "emulator" / "test_x.py", TESTS) == "emulator"
    assert folder_marker(TESTS / "support" / "test_x.py", TESTS) is None
    assert folder_marker(TESTS / "test_x.py", TESTS) is None
    assert folder_marker(Path("/elsewhere/integration/test_x.py"), TESTS) is None


def test_a_toy_suite_is_marked_by_folder(pytester: pytest.Pytester) -> None:
    """The same hook as the root conftest's, on a suite of one test per folder: each test
    asserts it carries its own folder's marker and no other."""
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n"
        + "".join(f"    {name}: x\n" for name in FOLDER_MARKERS)
    )
    pytester.makeconftest(
        "from pathlib import Path\n"
        "from tests.support.markers import mark_by_folder\n"
        "def pytest_collection_modifyitems(items):\n"
        "    mark_by_folder(items, Path(__file__).parent)\n"
    )
    check = (
        "FOLDERS = {folders!r}\n"
        "def test_marked(request):\n"
        "    carried = {{m.name for m in request.node.iter_markers()}} & set(FOLDERS)\n"
        "    assert carried == {expected!r}\n"
    )
    layout = {
        "unit/planning": {"unit"},
        "integration": {"integration"},
        "integration/web": {"integration"},
        "e2e": {"e2e"},
        "emulator": {"emulator"},
        "elsewhere": set(),
    }
    for folder, expected in layout.items():
        path = pytester.path / folder / "test_folder.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(check.format(folders=FOLDER_MARKERS, expected=expected))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--import-mode=importlib")
    result.assert_outcomes(passed=len(layout))
    selected = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--import-mode=importlib", "-m", "integration"
    )
    selected.assert_outcomes(passed=2, deselected=len(layout) - 2)


def test_every_collected_test_carries_its_folder_marker(request: pytest.FixtureRequest) -> None:
    """Over whatever this run collected (the whole suite under ``make test``): each test in a
    marker folder carries that folder's marker and no other folder's."""
    items = request.session.items
    assert request.node in items
    marked = [(item, folder_marker(item.path, TESTS)) for item in items]
    assert marked
    for item, expected in marked:
        carried = {m.name for m in item.iter_markers()} & set(FOLDER_MARKERS)
        assert carried == ({expected} if expected else set()), item.nodeid


#: Fixtures that reach a database, Redis, the emulator or the web app (tests/conftest.py and
#: the integration conftests): a test asking for one belongs in tests/integration/.
SERVICE_FIXTURES = frozenset(
    {"runtime", "env", "database_url", "redis_url", "broker", "clean_redis", "emulator"}
    | {"postgres_server", "sqlite_template", "postgres_template", "app", "client", "hooks"}
)


def test_no_unit_test_asks_for_a_service(request: pytest.FixtureRequest) -> None:
    units = [i for i in request.session.items if folder_marker(i.path, TESTS) == "unit"]
    assert request.node in units
    for item in units:
        assert isinstance(item, pytest.Function)
        assert not SERVICE_FIXTURES & set(item.fixturenames), item.nodeid
