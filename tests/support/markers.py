"""Every test is marked by the folder it sits in: ``tests/unit/...`` carries ``unit``,
``tests/integration/...`` ``integration``, and so ``tests/e2e/`` and ``tests/emulator/``.
``pytest -m unit`` runs what needs no services; the root conftest applies this."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

#: The top-level folders of ``tests/``, each its own marker (declared in pyproject.toml).
FOLDER_MARKERS = ("unit", "integration", "e2e", "emulator", "browser")


def folder_marker(path: Path, root: Path) -> str | None:
    """The marker of the test file at ``path``: the first folder under ``root`` when it is
    one of ``FOLDER_MARKERS``, else None."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    if len(relative.parts) < 2 or relative.parts[0] not in FOLDER_MARKERS:
        return None
    return relative.parts[0]


def mark_by_folder(items: Iterable[pytest.Item], root: Path) -> None:
    """Add to each collected test the marker of its folder under ``root``."""
    for item in items:
        name = folder_marker(item.path, root)
        if name is not None:
            item.add_marker(getattr(pytest.mark, name))
