"""The repository's folders the tests read: the shipped configuration and templates."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
TEMPLATES_DIR = ROOT / "templates"
