"""``make fuzz``: schemathesis over the whole OpenAPI schema against a live local server.

Starts gunicorn on 127.0.0.1 over a fresh database (``var/fuzz/``, or ``DATABASE_URL``), creates a
workspace with ``create_workspace`` for a real API token and ingestion key, then runs
schemathesis twice: the API token over every operation except ingestion, and the ingestion key
over the ingestion operations (native batch and Segment). Examples per operation are bounded
(``--max-examples``), traffic goes to 127.0.0.1 only. Prints ``name: value`` lines (operations,
test cases, server errors, other failures) and exits non-zero on any server error.

    .venv/bin/python scripts/fuzz_api.py [--max-examples 25] [--port 8765] [--checks ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INGESTION_PATHS = r"^/(v1/|api/v1/events/batch)"


def _run(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(  # noqa: S603 - our own manage.py commands
        args, cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def _wait_for(url: str, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local server
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer at {url}")


def download_schema(*, base_url: str, token: str, into: Path) -> dict:
    """Save the server's OpenAPI schema as ``schema.json`` (it needs an API token to read)."""
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base_url}/api/schema/?format=json", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body = response.read()
    (into / "schema.json").write_bytes(body)
    return json.loads(body)


def schemathesis_pass(
    *,
    base_url: str,
    token: str,
    name: str,
    filters: list[str],
    max_examples: int,
    checks: str,
    report_dir: Path,
    extra: list[str],
    workers: int = 2,
) -> dict:
    """Run one schemathesis pass; return its figures from the JSON report."""
    report = report_dir / f"{name}.json"
    command = [
        str(BIN / "schemathesis"),
        "run",
        str(report_dir / "schema.json"),
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(max_examples),
        "--checks",
        checks,
        "--seed",
        "12",
        "--no-shrink",
        "--workers",
        str(workers),
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--warnings",
        "off",
        *filters,
        *extra,
    ]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    (report_dir / f"{name}.log").write_text(completed.stdout + completed.stderr)
    return summarise(json.loads(report.read_text()), completed.stdout, completed.returncode)


def summarise(report: dict, stdout: str, returncode: int) -> dict:
    """The figures a person needs: operations tested, test cases, failures by kind."""
    failures = {f["title"]: f["count"] for f in report.get("failures") or []}
    server_errors = sum(
        f["count"] for f in report.get("failures") or [] if f.get("type") == "ServerError"
    )
    return {
        "operations": report["operations"]["tested"],
        "test_cases": report["test_cases"]["generated"],
        "failures": failures,
        # Errors inside schemathesis itself (not answers of our server), reported apart.
        "errors": len(report.get("errors") or []),
        "server_errors": server_errors,
        "returncode": returncode,
        "tail": stdout[-4000:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--checks", default="not_a_server_error")
    parser.add_argument("extra", nargs="*", help="passed on to schemathesis run")
    options = parser.parse_args()

    fuzz_dir = ROOT / "var" / "fuzz"
    shutil.rmtree(fuzz_dir, ignore_errors=True)
    fuzz_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "plg_platform.settings",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{fuzz_dir / 'db.sqlite3'}"),
        "CELERY_BROKER_DIR": str(fuzz_dir / "broker"),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "0"),
    }
    env.setdefault("DJANGO_SECRET_KEY", "fuzz-only-secret-key-" + "x" * 40)
    python = str(BIN / "python")
    _run(python, "manage.py", "migrate", "--no-input", "-v0", env=env)
    keys = json.loads(
        _run(
            python, "manage.py", "create_workspace", "Fuzz", "--owner", "fuzz@example.com", env=env
        )
    )
    base_url = f"http://127.0.0.1:{options.port}"
    server = subprocess.Popen(  # noqa: S603
        [str(BIN / "gunicorn"), "plg_platform.wsgi", "-b", f"127.0.0.1:{options.port}", "-w", "2"],
        cwd=ROOT,
        env=env,
        stdout=(fuzz_dir / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"{base_url}/health/", seconds=60)
        download_schema(base_url=base_url, token=keys["api_token"], into=fuzz_dir)
        started = time.monotonic()
        passes = {
            "api": schemathesis_pass(
                base_url=base_url,
                token=keys["api_token"],
                name="api",
                filters=["--exclude-path-regex", INGESTION_PATHS],
                max_examples=options.max_examples,
                checks=options.checks,
                report_dir=fuzz_dir,
                extra=options.extra,
            ),
            "ingestion": schemathesis_pass(
                base_url=base_url,
                token=keys["ingestion_key"],
                name="ingestion",
                filters=["--include-path-regex", INGESTION_PATHS],
                max_examples=options.max_examples,
                checks=options.checks,
                report_dir=fuzz_dir,
                extra=options.extra,
            ),
        }
        seconds = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    server_errors = 0
    for figures in passes.values():
        print(figures["tail"])
    for name, figures in passes.items():
        for figure in ("operations", "test_cases", "server_errors", "errors", "failures"):
            print(f"fuzz_{name}_{figure}: {figures[figure]}")
        server_errors += figures["server_errors"]
    print(f"fuzz_seconds: {seconds:.0f}")
    print(f"fuzz_server_errors: {server_errors}")
    print(f"fuzz_reports: {fuzz_dir}")
    return 1 if server_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
