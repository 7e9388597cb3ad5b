"""``dispatcher`` as separate processes, for tests that kill, stop or flush what the
pipeline runs on: the CLI run once, a worker started in the background with its log kept,
the logs read back without the per-send lines, and a whole closure announced to the demo
school."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.factories import closure_args

#: Log lines too many to help when a test explains a failure.
NOISY_LINES = (" sent on ", "batch of", "alembic")


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``dispatcher ARGS`` in ``env``; with ``check``, fail unless it exits 0 or 1 (1 is
    "done, with something to report")."""
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode not in (0, 1):
        command = " ".join(args)
        raise AssertionError(f"dispatcher {command} exited {result.returncode}:\n{result.stderr}")
    return result


def start_worker(env: dict[str, str], *extra: str, threads: int = 2) -> subprocess.Popen[bytes]:
    """A ``dispatcher worker`` process whose log goes to a ``worker-*.log`` file in the
    data directory."""
    log = Path(env["DISPATCHER_DATA_DIR"]) / f"worker-{time.monotonic_ns()}.log"
    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "-v", "worker", "--threads", str(threads), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def worker_logs(env: dict[str, str], tail: int = 4000) -> str:
    """The last ``tail`` characters of each worker's log, without the per-send lines."""
    return "\n---\n".join(
        "\n".join(
            line
            for line in p.read_text(errors="replace").splitlines()
            if not any(noise in line for noise in NOISY_LINES)
        )[-tail:]
        for p in sorted(Path(env["DISPATCHER_DATA_DIR"]).glob("worker-*.log"))
    )


def announce_closure(env: dict[str, str], tmp_path: Path, students: int, seed: int) -> int:
    """Import a demo roster of ``students`` (seeded) into the demo school and announce an
    emergency closure to it; return the announcement's id."""
    roster = tmp_path / "roster.csv"
    run_cli(
        env,
        *("demo-data", "--school", "demo", "--students", str(students)),
        *("--seed", str(seed), "--out", str(roster)),
    )
    run_cli(env, "roster", "import", str(roster), "--school", "demo", "--json")
    result = run_cli(env, *closure_args("--yes", "--json"))
    return int(json.loads(result.stdout)["announcement_id"])
