"""The layout by stage holds: the rules a newcomer relies on when deciding where a change goes
(docs/architecture.md) are checked, so a change that breaks one fails here, not in review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The only modules directly under dispatcher/: vocabulary and services every stage shares.
SHARED_MODULES = {
    "__init__",
    "__main__",
    "audience",
    "domain",
    "plain_text",
    "retries",
    "runtime",
    "settings",
    "stopping",
}
STAGES = {"triggers", "planning", "delivery", "tracking", "reporting"}


def test_only_shared_modules_sit_directly_under_dispatcher() -> None:
    modules = {path.stem for path in (ROOT / "dispatcher").glob("*.py")}
    assert modules == SHARED_MODULES


def test_every_stage_has_its_folder() -> None:
    folders = {path.name for path in (ROOT / "dispatcher").iterdir() if path.is_dir()}
    assert folders >= STAGES
    assert not (ROOT / "dispatcher" / "emulator").exists()  # a tool, not the product
    assert (ROOT / "emulator" / "__init__.py").is_file()


def test_the_import_contracts_hold() -> None:
    # The contracts are in pyproject.toml ([tool.importlinter]); `make lint` runs them too.
    # In a process of its own: import-linter reconfigures logging, which would disable the
    # loggers of the tests that share this process.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 kept, 0 broken" in run.stdout
