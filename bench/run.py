"""Run every ``bench/bench_*.py`` script and stream its ``name: value`` lines (``make bench``).

Run: .venv/bin/python bench/run.py [--quick] [NAME ...]

The contract for a benchmark script is small: it is a file ``bench/bench_<topic>.py`` that runs
with its own default arguments and prints ``name: value`` lines to stdout (progress and logs go
to stderr); it exits non-zero when it fails. Scripts run one at a time, in file-name order, each
in its own process with this interpreter, so one cannot disturb another's timings. ``--quick``
is passed on to the scripts that declare a ``--quick`` option (smaller inputs, for a smoke run);
the others run as they are. NAME (``ingestion`` or ``bench_ingestion.py``) runs only the named
scripts. The exit status is non-zero if any script failed; the others still run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
QUICK_FLAG = "--quick"


def discover(names: list[str]) -> list[Path]:
    """Return the benchmark scripts in a stable order, limited to ``names`` when given."""
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if not names:
        return scripts
    wanted = {name.removeprefix("bench_").removesuffix(".py") for name in names}
    chosen = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    missing = wanted - {s.stem.removeprefix("bench_") for s in chosen}
    if missing:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(missing))}")
    return chosen


def accepts_quick(script: Path) -> bool:
    """Whether the script declares a ``--quick`` option (so passing it cannot break the run)."""
    return QUICK_FLAG in script.read_text(encoding="utf-8")


def run_script(script: Path, *, quick: bool) -> int:
    """Run one script, echoing its stdout line by line as it comes; return its exit status."""
    command = [sys.executable, str(script)]
    if quick and accepts_quick(script):
        command.append(QUICK_FLAG)
    print(f"== {script.name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, bufsize=1, cwd=BENCH_DIR.parent
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
    return process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(QUICK_FLAG, action="store_true", help="small inputs, for a smoke run")
    parser.add_argument("names", nargs="*", help="run only these (e.g. ingestion stats)")
    args = parser.parse_args()

    failed = []
    for script in discover(args.names):
        start = time.perf_counter()
        status = run_script(script, quick=args.quick)
        elapsed = time.perf_counter() - start
        print(f"== {script.name}: exit {status} after {elapsed:.1f} s", file=sys.stderr, flush=True)
        if status != 0:
            failed.append(script.name)
    if failed:
        print(f"!! failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
