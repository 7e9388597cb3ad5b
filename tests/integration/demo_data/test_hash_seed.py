"""Synthetic rosters are the same whatever ``PYTHONHASHSEED`` a process runs with (fresh
interpreters, so an integration test; the rest of the generator's tests are in
``tests/unit/demo_data/test_rosters.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from demo_data.rosters import generate_roster_rows


def test_output_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "import hashlib, json;"
        "from demo_data.rosters import generate_roster_rows as g;"
        "print(hashlib.sha256(json.dumps(list(g('demo', 250, 3))).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(done.stdout.strip())
    here = list(generate_roster_rows("demo", 250, 3))
    digests.add(hashlib.sha256(json.dumps(here).encode()).hexdigest())
    assert len(digests) == 1
