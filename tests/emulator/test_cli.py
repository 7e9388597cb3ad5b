"""``python -m emulator`` in the foreground, as ``dispatcher emulate`` runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.waiting import wait_until


def test_module_entry_prints_url_and_credentials_and_stops_on_sigterm(tmp_path: Path) -> None:
    account_file = tmp_path / "service-account.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--service-account-file",
            str(account_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        stdout = process.stdout
        assert stdout is not None
        lines: list[str] = []

        def banner_read() -> bool:
            """Read one more line; done at the banner's last line (or the end of output)."""
            line = stdout.readline()
            lines.append(line)
            return not line or line.startswith("Press Ctrl-C")

        wait_until(banner_read, 20, 0, what="the emulator's banner", explain=lambda: lines)
        output = "".join(lines)
        url = lines[0].split()[-1]

        assert url.startswith("http://127.0.0.1:")
        assert "TWILIO_ACCOUNT_SID=AC" + "0" * 32 in output
        assert "SENDGRID_API_KEY=SG.emulator-key" in output
        assert requests.get(f"{url}/_emulator/stats", timeout=5).status_code == 200
        info = json.loads(account_file.read_text())
        assert info["token_uri"] == f"{url}/token"
        assert info["type"] == "service_account"
        assert account_file.stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    assert returncode == 0
