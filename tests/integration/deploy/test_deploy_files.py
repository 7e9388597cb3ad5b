"""Issue 15, problem 10: the deployment files are complete and each command they run works.

- ``compose.yaml`` parses and names web, worker, clock, a one-off release, PostgreSQL and
  Redis with persistence (a YAML check; ``docker compose config`` also runs where Docker
  Compose is installed, which it is not on every machine);
- the systemd units pass a structural check everywhere and ``systemd-analyze verify`` where
  it exists (``shutil.which``; without it, the structural check only: nothing is skipped);
- every command the image, Compose and the units start runs here, outside a container:
  ``dispatcher <command> --help``, and the release command really migrates a SQLite file.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT

DISPATCHER = str(Path(sys.executable).parent / "dispatcher")
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED_DISPATCHER = "/opt/dispatcher/.venv/bin/dispatcher"


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
    )


def assert_runs(arguments: list[str]) -> None:
    """``dispatcher ARGUMENTS --help`` exits 0: the command and its options exist."""
    done = run([DISPATCHER, *arguments, "--help"])
    assert done.returncode == 0, (arguments, done.stdout, done.stderr)


def dockerfile_instruction(name: str) -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    [line] = [line for line in lines if line.startswith(f"{name} ")]
    value = json.loads(line.removeprefix(f"{name} "))
    assert isinstance(value, list)
    return [str(v) for v in value]


# --- the image -------------------------------------------------------------------------------


def test_the_image_runs_as_a_user_with_the_app_its_templates_and_configs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users == ["dispatcher"]
    for folder in ("dispatcher", "migrations", "templates", "config"):
        assert f"COPY {folder} ./{folder}" in text, folder
    assert dockerfile_instruction("ENTRYPOINT") == ["dispatcher"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", "*.env"} <= set(ignored)


def test_the_images_entrypoint_and_release_command_run_outside_the_container(
    tmp_path: Path,
) -> None:
    entrypoint, command = dockerfile_instruction("ENTRYPOINT"), dockerfile_instruction("CMD")
    assert entrypoint == ["dispatcher"] and command[0] == "web"
    assert_runs(command)
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'release.sqlite3'}",
        "DISPATCHER_DATA_DIR": str(tmp_path / "var"),
        "DISPATCHER_CONFIG_DIR": str(ROOT / "config"),
        "DISPATCHER_TEMPLATES_DIR": str(ROOT / "templates"),
    }
    release = compose()["services"]["release"]["command"]
    done = run([DISPATCHER, *release], env=env)
    assert done.returncode == 0, done.stderr
    doctor = run([DISPATCHER, "doctor", "--json", "--school", "demo"], env=env)
    findings = json.loads(doctor.stdout)["findings"]
    assert {"check": "migrations", "level": "ok"}.items() <= next(
        f for f in findings if f["check"] == "migrations"
    ).items()


# --- Compose ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_names_every_process_postgresql_and_redis_with_persistence() -> None:
    services = compose()["services"]
    assert set(services) == {"release", "web", "worker", "clock", "postgres", "redis"}
    ours = {name: services[name] for name in ("release", "web", "worker", "clock")}
    assert {s["image"] for s in ours.values()} == {"school-dispatcher:latest"}
    assert all(s["build"] == "." for s in ours.values())
    assert ours["release"]["command"] == ["db", "upgrade"]
    assert ours["release"]["restart"] == "no"
    for name in ("web", "worker", "clock"):
        depends = ours[name]["depends_on"]
        assert depends["release"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert ours[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert ours[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert any("/var/lib/postgresql/data" in v for v in services["postgres"]["volumes"])
    for service in ours.values():
        assert_runs(service["command"])
    # Where Docker Compose is installed (it is not on every machine, CI's included), it
    # must accept the file too.
    docker = shutil.which("docker")
    if docker is not None and run([docker, "compose", "version"]).returncode == 0:
        done = run(
            [docker, "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
            env={**os.environ, "POSTGRES_PASSWORD": "test-only"},
        )
        assert done.returncode == 0, done.stderr


# --- systemd ---------------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_there_is_a_unit_for_each_process() -> None:
    assert [p.name for p in UNITS] == [
        "dispatcher-clock.service",
        "dispatcher-release.service",
        "dispatcher-web.service",
        "dispatcher-worker.service",
    ]


def check_unit(path: Path) -> None:
    """The unit's sections and hardening, and its command runs here."""
    parsed = unit(path)
    assert parsed.sections() == ["Unit", "Service", "Install"], path.name
    service = parsed["Service"]
    assert service["User"] == "dispatcher" and service["Group"] == "dispatcher"
    assert service["Type"] in {"exec", "oneshot"}
    assert service["EnvironmentFile"] == "/etc/dispatcher/dispatcher.env"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    program, *arguments = shlex.split(service["ExecStart"])
    assert program == INSTALLED_DISPATCHER
    assert_runs(arguments)
    if path.name != "dispatcher-release.service":
        assert parsed["Unit"]["Requires"] == "dispatcher-release.service"
        assert service["Restart"] == "on-failure"


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_each_unit_is_well_formed_and_its_command_runs(path: Path) -> None:
    check_unit(path)


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # No systemd on this machine: the structural check is all that can be done here.
        for path in UNITS:
            check_unit(path)
        return
    # The units name the installed command; here it is this checkout's.
    for path in UNITS:
        text = path.read_text().replace(INSTALLED_DISPATCHER, DISPATCHER)
        (tmp_path / path.name).write_text(text)
    done = run([analyze, "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))])
    assert done.returncode == 0, done.stderr
    # It warns, without failing, about unknown keys and bad values: a warning is a failure.
    assert done.stderr.strip() == "", done.stderr
