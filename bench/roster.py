"""Benchmark: a trust's roster import on PostgreSQL, rows a second and peak memory.

Printed figures, not a test. For each size (rows in the file) the bench writes a trust roster
with ``demo_data`` (schools of 1,000 students, about 2,000 rows each, a last ``school``
column), builds a fresh PostgreSQL database, and imports the file twice, each time in a fresh
subprocess so that peak memory is the import's own: a first import into the empty database,
then a re-import of the file with 5% of its rows changed. The child does what
``dispatcher roster import FILE --trust bench-trust`` does (the UTF-8 pass over the file, the
schools' rows, the batched import and its ``ANALYZE``).

    .venv/bin/python bench/roster.py                   # 10,000 and 100,000 rows
    .venv/bin/python bench/roster.py --sizes 10000
    .venv/bin/python bench/roster.py --json            # machine-readable results

Targets (issue 15): at least 10,000 rows a second for both imports; peak RSS under 150 MB
whatever the file's size. Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from postgres_admin import admin_execute, postgres_problem  # bench/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
TRUST = "bench-trust"
STUDENTS_PER_SCHOOL = 1_000
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
BENCH_DATABASE = "dispatcher_bench_roster"
SEED = 20_261_206
#: Every twentieth row is changed for the re-import.
CHANGED_EVERY = 20

TARGET_ROWS_PER_SECOND = 10_000.0
TARGET_PEAK_RSS_MB = 150.0


def write_config(config_dir: Path, schools: int) -> list[str]:
    """``policy.toml``, the trust and ``schools`` member schools modelled on ``demo.toml``."""
    (config_dir / "schools").mkdir(parents=True)
    (config_dir / "trusts").mkdir()
    shutil.copy(REPO / "config" / "policy.toml", config_dir / "policy.toml")
    (config_dir / "trusts" / f"{TRUST}.toml").write_text(
        'name = "Bench Trust"\nwebsite = ""\nphone = ""\n', encoding="utf-8"
    )
    demo = (REPO / "config" / "schools" / "demo.toml").read_text(encoding="utf-8")
    slugs = []
    for number in range(1, schools + 1):
        slug = f"bench-school-{number:03d}"
        text = (
            demo.replace('name = "Demo Primary School"', f'name = "Bench School {number:03d}"')
            .replace('trust = "demo-trust"', f'trust = "{TRUST}"')
            .replace('sender_id = "DemoPrim"', f'sender_id = "Bench{number:03d}"')
            .replace("demo-primary.example", f"{slug}.example")
        )
        if f'trust = "{TRUST}"' not in text:
            raise SystemExit("config/schools/demo.toml changed shape; update bench/roster.py")
        (config_dir / "schools" / f"{slug}.toml").write_text(text, encoding="utf-8")
        slugs.append(slug)
    return slugs


def write_rosters(workdir: Path, rows_wanted: int) -> tuple[Path, Path, list[str]]:
    """The trust's roster of exactly ``rows_wanted`` rows, and the same with 5% changed."""
    from demo_data.rosters import generate_roster_rows
    from dispatcher.reporting.csv_safe import SafeDictWriter
    from dispatcher.triggers.roster.parse import TRUST_ROSTER_COLUMNS

    per_school = 2 * STUDENTS_PER_SCHOOL  # about 2.03 rows a student
    schools = max(1, -(-rows_wanted // per_school))
    slugs = write_config(workdir / "config", schools)
    first, changed = workdir / "roster.csv", workdir / "roster-changed.csv"
    with (
        first.open("w", encoding="utf-8", newline="") as first_file,
        changed.open("w", encoding="utf-8", newline="") as changed_file,
    ):
        writers = [
            SafeDictWriter(f, fieldnames=TRUST_ROSTER_COLUMNS) for f in (first_file, changed_file)
        ]
        for writer in writers:
            writer.writeheader()
        written = 0
        for index, slug in enumerate(slugs):
            for row in generate_roster_rows(
                slug, STUDENTS_PER_SCHOOL, SEED + index, invalid_rows=0
            ):
                if written == rows_wanted:
                    break
                row = {**row, "school": slug}
                writers[0].writerow(row)
                if written % CHANGED_EVERY == 0:
                    # A link's own column: the row, and only the row, is changed (a contact's
                    # name would change all its rows, each of which counts).
                    row = {**row, "relationship": "step-parent (changed)"}
                writers[1].writerow(row)
                written += 1
    return first, changed, slugs


def child_main(spec: dict[str, Any]) -> None:
    """Import ``spec["file"]`` for the trust the way ``roster import --trust`` does; print
    JSON: seconds, rows imported and changed, errors, peak RSS."""
    from dispatcher.runtime import build_runtime
    from dispatcher.settings import load_settings
    from dispatcher.store.schools import ensure_school
    from dispatcher.triggers.roster.load import import_rows_for_schools
    from dispatcher.triggers.roster.parse import count_utf8_lines, parse_roster

    runtime = build_runtime(load_settings())
    path = Path(spec["file"])
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    with path.open("rb") as raw:
        count_utf8_lines(raw)
    members = runtime.configuration.members(TRUST)
    with path.open(encoding="utf-8-sig", newline="") as stream, runtime.sessions() as session:
        school_ids = {m.slug: ensure_school(session, m).id for m in members}
        session.commit()
        result = import_rows_for_schools(
            session, school_ids, parse_roster(stream, runtime.configuration.policy.categories)
        )
    seconds = time.perf_counter() - started
    runtime.engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "imported": result.imported,
                "changed": result.changed,
                "errors": len(result.errors),
                "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                "peak_rss_mb": usage.ru_maxrss / 1024,
            }
        )
    )


def run_child(env: dict[str, str], file: Path) -> dict[str, Any]:
    """Run one import in a fresh interpreter; its JSON report plus the peak RSS the kernel
    recorded for it (``RUSAGE_CHILDREN``: the largest child so far, so read it per run)."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps({"file": str(file)})],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"the import subprocess failed with exit code {completed.returncode}")
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


@dataclass
class RunResult:
    """One import: what it did, how fast, how big."""

    rows: int
    kind: str
    seconds: float = 0.0
    rows_per_second: float = 0.0
    #: The import process's own CPU time (PostgreSQL's is not in it): on a shared machine
    #: rows per CPU second say what the code costs when the wall clock says what others took.
    cpu_seconds: float = 0.0
    rows_per_cpu_second: float = 0.0
    imported: int = 0
    changed: int = 0
    errors: int = 0
    peak_rss_mb: float = 0.0
    verdicts: dict[str, str] = field(default_factory=dict)


def measure(size: int, postgres_url: str, log: Any) -> list[RunResult]:
    """A fresh database, a first import and a 5%-changed re-import of a ``size``-row file."""
    from dispatcher.store.engine import upgrade_database

    results = []
    with tempfile.TemporaryDirectory(prefix="dispatcher-bench-roster-") as tmp:
        workdir = Path(tmp)
        first, changed, slugs = write_rosters(workdir, size)
        log(f"{size:,} rows across {len(slugs)} schools: building the database")
        admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        admin_execute(postgres_url, f'CREATE DATABASE "{BENCH_DATABASE}"')
        url = f"{postgres_url.rstrip('/')}/{BENCH_DATABASE}"
        try:
            upgrade_database(url)
            env = {
                "DATABASE_URL": url,
                "REDIS_URL": "redis://127.0.0.1:6379/15",  # never used by an import
                "DISPATCHER_DATA_DIR": str(workdir / "data"),
                "DISPATCHER_CONFIG_DIR": str(workdir / "config"),
                "DISPATCHER_TEMPLATES_DIR": str(REPO / "templates"),
            }
            for kind, file in (("first import", first), ("5% changed", changed)):
                report = run_child(env, file)
                run = RunResult(rows=size, kind=kind, **report)
                run.rows_per_second = size / max(run.seconds, 1e-9)
                run.rows_per_cpu_second = size / max(run.cpu_seconds, 1e-9)
                log(f"  {kind}: {run.seconds:.1f} s, {run.rows_per_second:,.0f} rows/s")
                results.append(run)
        finally:
            admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    return results


def judge(results: list[RunResult]) -> bool:
    """Mark each figure against its target; True when all hold."""
    for run in results:
        run.verdicts["rows/s"] = "OK" if run.rows_per_second >= TARGET_ROWS_PER_SECOND else "MISSED"
        run.verdicts["peak RSS"] = "OK" if run.peak_rss_mb < TARGET_PEAK_RSS_MB else "MISSED"
        expected_changed = run.rows if run.kind == "first import" else -(-run.rows // CHANGED_EVERY)
        run.verdicts["counts"] = (
            "OK"
            if (run.imported, run.changed, run.errors) == (run.rows, expected_changed, 0)
            else "MISSED"
        )
    return all(mark == "OK" for run in results for mark in run.verdicts.values())


def print_table(results: list[RunResult]) -> None:
    """The figures, one line per import."""
    header = (
        f"{'rows':>8} {'import':<13} {'seconds':>8} {'rows/s':>8} {'CPU s':>6} {'rows/CPU s':>10} "
        f"{'changed':>8} "
        f"{'peak RSS MB':>11}  verdicts"
    )
    print(header)
    print("-" * len(header))
    for run in results:
        verdicts = ", ".join(f"{name} {mark}" for name, mark in run.verdicts.items())
        print(
            f"{run.rows:>8,} {run.kind:<13} {run.seconds:>8.1f} {run.rows_per_second:>8,.0f} "
            f"{run.cpu_seconds:>6.1f} {run.rows_per_cpu_second:>10,.0f} {run.changed:>8,} "
            f"{run.peak_rss_mb:>11.0f}  {verdicts}"
        )
    print()
    print(
        "seconds: the import in its own process (the UTF-8 pass, parsing, writing, ANALYZE), "
        "not the interpreter's start;\nCPU s: that process's user and system time (not "
        "PostgreSQL's); peak RSS: that process's ru_maxrss."
    )


def main(argv: list[str]) -> int:
    """Run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL without a database name"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    import sqlalchemy

    log(
        f"{platform.node()}: {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"SQLAlchemy {sqlalchemy.__version__}; load average "
        + " ".join(f"{load:.1f}" for load in os.getloadavg())
    )
    problem = postgres_problem(args.postgres_url)
    if problem:
        log(f"PostgreSQL at {args.postgres_url} is unreachable ({problem}); use --postgres-url")
        return 2
    results: list[RunResult] = []
    for size in sorted(int(s) for s in args.sizes.split(",")):
        results.extend(measure(size, args.postgres_url, log))
    passed = judge(results)
    log("load average now " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print_table(results)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
