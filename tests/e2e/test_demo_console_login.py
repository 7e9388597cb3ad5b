"""`dispatcher demo` on the embedded defaults (no DATABASE_URL: SQLite in the data
directory), as `make demo` runs it from a fresh clone: it prints the console's address and
demo logins that sign in, and a second run leaves them working."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatcher.access.staff import SignIn, check_password
from dispatcher.cli.demo import CONSOLE_ADDRESS, DEMO_LOGINS
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR


def test_the_demo_prints_the_console_and_logins_that_sign_in(
    tmp_path: Path, redis_url: str, clean_redis: Any, monkeypatch: Any
) -> None:
    data_dir = tmp_path / "var"
    run_env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL",)} | {
        "REDIS_URL": redis_url,
        "DISPATCHER_DATA_DIR": str(data_dir),
        "DISPATCHER_CONFIG_DIR": str(CONFIG_DIR),
        "DISPATCHER_TEMPLATES_DIR": str(TEMPLATES_DIR),
        "COLUMNS": "400",
    }
    for _ in range(2):  # a second run keeps the logins working
        result = subprocess.run(
            [sys.executable, "-m", "dispatcher", "demo", "--students", "20"],
            env=run_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    console_line = next(line for line in result.stdout.splitlines() if "Console:" in line)
    assert f"open {CONSOLE_ADDRESS}" in console_line
    for email, _, password in DEMO_LOGINS:
        assert f"{email} / {password}" in console_line
    assert "QR code" in console_line

    from dispatcher.runtime import current_runtime, dispose_runtimes

    monkeypatch.delenv("DATABASE_URL", raising=False)
    for key, value in run_env.items():
        if key.startswith(("DISPATCHER_", "REDIS_")):
            monkeypatch.setenv(key, value)
    runtime = current_runtime()
    try:
        with runtime.sessions() as session:
            results = [
                check_password(session, email, password, datetime.now(UTC)).result
                for email, _, password in DEMO_LOGINS
            ]
    finally:
        dispose_runtimes()
    assert results == [SignIn.SIGNED_IN, SignIn.ENROLMENT_NEEDED]
