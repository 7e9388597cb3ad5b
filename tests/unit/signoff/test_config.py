"""A school's ``[sign_off]`` table: read from its file, with the file and key named when
it is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatcher.config.configuration import load_configuration
from dispatcher.config.files import ConfigError
from dispatcher.config.sign_off import SignOffRule
from tests.support.paths import CONFIG_DIR


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def _append(config_dir: Path, table: str) -> None:
    path = config_dir / "schools" / "demo.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")


def test_without_a_table_the_default_applies_and_break_glass_is_off() -> None:
    sign_off = load_configuration(CONFIG_DIR).schools["demo"].sign_off
    assert sign_off.urgent is SignOffRule.WHOLE_SCHOOL
    assert sign_off.categories == {} and sign_off.break_glass_after_minutes is None


def test_a_school_names_its_rules_and_break_glass(config_dir: Path) -> None:
    _append(
        config_dir,
        '[sign_off]\nurgent = "always"\nbreak_glass_after_minutes = 15\n'
        '[sign_off.categories]\ntrip_letter = "whole_school"\n',
    )
    sign_off = load_configuration(config_dir).schools["demo"].sign_off
    assert sign_off.urgent is SignOffRule.ALWAYS
    assert sign_off.categories == {"trip_letter": SignOffRule.WHOLE_SCHOOL}
    assert sign_off.break_glass_after_minutes == 15


def test_an_unknown_category_names_the_file_and_key(config_dir: Path) -> None:
    _append(config_dir, '[sign_off.categories]\nsnow_day = "always"\n')
    with pytest.raises(ConfigError) as error:
        load_configuration(config_dir)
    assert Path(error.value.file).name == "demo.toml"
    assert error.value.key == "sign_off.categories.snow_day"


def test_a_bad_rule_is_refused(config_dir: Path) -> None:
    _append(config_dir, '[sign_off]\nurgent = "sometimes"\n')
    with pytest.raises(ConfigError) as error:
        load_configuration(config_dir)
    assert "sign_off" in str(error.value)
