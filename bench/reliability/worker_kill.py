"""SIGKILL the Celery worker in the middle of an experiment analysis and of a KPI recompute,
on Redis and on the embedded (file-system) broker; show what survives and how the job ends.

Run: .venv/bin/python bench/reliability/worker_kill.py [--brokers filesystem,redis]
     [--redis-url redis://127.0.0.1:6379/5] [--database-url URL] [--users 2000 --days 90]

Everything goes through public interfaces: ``manage.py load_demo`` makes the data (in a
database of its own, dropped and recreated per run), the HTTP API behind gunicorn starts the
jobs, reads their progress and the results, and the stale-job sweep is sent by its task name
(``plg_platform.tasks.fail_stale_jobs``) every minute, as beat does. For each broker and job:

1. a baseline run to success (its numbers);
2. ``child``: SIGKILL the pool process running the job, the worker's main process survives:
   ``acks_late`` + ``reject_on_worker_lost`` put the task back and the job is retried;
3. ``worker``: SIGKILL the whole worker (main process and pool) mid-job, start a new one: the
   message is gone (file-system broker) or unacknowledged until the visibility timeout (Redis),
   so the heartbeat sweep fails the job with a reason; then a rerun.
Each time: the last result is still readable, and every finished run gives the baseline's
numbers. Output: ``name: value`` lines; details in var/reliability/worker-kill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module, found through the path above
    PYTHON,
    ROOT,
    VAR,
    Gunicorn,
    default_cluster,
    hard_time_limit,
    log,
    manage,
    project_env,
)

FAULTS_DATABASE = "plg_reliability_faults"
SWEEP_TASK = "plg_platform.tasks.fail_stale_jobs"
SWEEP_EVERY_SECONDS = 60  # as the beat schedule
POLL_SECONDS = 0.05


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
            f"{self.base_url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class CeleryWorker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.process = subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "plg_platform", "worker", "--concurrency", "1"]
            + ["--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while b" ready." not in log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start: see {log_path}")
            time.sleep(0.2)

    def pool_children(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def kill_child(self) -> None:
        for pid in self.pool_children():
            os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_all()


def _strip_times(value: Any) -> Any:
    """Drop the fields that say *when* something was computed; keep every number."""
    if isinstance(value, dict):
        return {
            k: _strip_times(v)
            for k, v in value.items()
            if not (k.endswith("_at") or k in {"cutoff_us", "run_seconds", "data_cutoff"})
        }
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ (for the report when numbers do not match)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(a.keys() | b.keys())
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


class Job:
    """One kind of job, started and read through the API."""

    def __init__(self, api: Api, kind: str, experiment: str | None, period: dict[str, str]):
        self.api, self.kind, self.experiment, self.period = api, kind, experiment, period

    def start(self) -> int:
        if self.kind == "analysis":
            status, body = self.api.call("POST", f"/api/v1/experiments/{self.experiment}/refresh")
        else:
            status, body = self.api.call("POST", "/api/v1/kpis/recompute", self.period)
        if status != 202:
            raise SystemExit(f"{self.kind}: could not start a job: {status} {body}")
        return body["job_id"]

    def status(self, job_id: int) -> dict[str, Any]:
        path = (
            f"/api/v1/experiments/{self.experiment}/jobs/{job_id}"
            if self.kind == "analysis"
            else f"/api/v1/kpis/jobs/{job_id}"
        )
        return self.api.call("GET", path)[1]

    def numbers(self, job: dict[str, Any]) -> Any:
        """The numbers a finished job produced, as clients read them."""
        if self.kind == "analysis":
            path = f"/api/v1/experiments/{self.experiment}/snapshots/{job['snapshot_id']}"
            snapshot = self.api.call("GET", path)[1]
            return _strip_times({"inputs": snapshot["inputs"], "outputs": snapshot["outputs"]})
        return _strip_times(self.api.call("GET", "/api/v1/kpis/dashboard")[1])

    def readable(self) -> Any:
        """What a client reads right now (the last good result)."""
        if self.kind == "analysis":
            status, body = self.api.call("GET", f"/api/v1/experiments/{self.experiment}/results")
            return status, body.get("snapshot_id") if isinstance(body, dict) else None
        status, body = self.api.call("GET", "/api/v1/kpis/dashboard")
        return status, _strip_times(body)

    def wait_finished(self, job_id: int, timeout: float, sweep=None) -> tuple[dict, float]:
        started = time.monotonic()
        last_sweep = started
        while True:
            job = self.status(job_id)
            if job["status"] in ("succeeded", "failed"):
                return job, time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{self.kind} job {job_id} not finished after {timeout}s: {job}")
            if sweep is not None and time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                sweep()
                last_sweep = time.monotonic()
            time.sleep(0.5)

    def wait_running(self, job_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.status(job_id)
            if job["status"] != "queued":
                return job
            time.sleep(POLL_SECONDS)
        raise SystemExit(f"{self.kind} job {job_id} never started")


def _send_sweep(env: dict[str, str]) -> None:
    """Send the stale-job sweep by name, as beat does (a separate process, like beat)."""
    subprocess.run(
        [PYTHON, "-c", f"from plg_platform.celery import app; app.send_task({SWEEP_TASK!r})"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def scenario(job: Job, env: dict[str, str], label: str, logs: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    worker = CeleryWorker(env, logs / f"{label}-worker-1.log")
    try:
        baseline_id = job.start()
        baseline, seconds = job.wait_finished(baseline_id, timeout=600)
        assert baseline["status"] == "succeeded", baseline
        figures["baseline_seconds"] = round(seconds, 1)
        expected = job.numbers(baseline)

        # 1. The pool process dies; the worker's main process lives and requeues the task.
        child_id = job.start()
        running = job.wait_running(child_id)
        worker.kill_child()
        killed = time.monotonic()
        figures["child_killed_at_progress"] = round(running["progress"], 2)
        child, _ = job.wait_finished(child_id, timeout=600)
        figures["child_job_status"] = child["status"]
        figures["child_recovery_seconds"] = round(time.monotonic() - killed, 1)
        figures["child_same_numbers"] = child["status"] == "succeeded" and not (
            differences := _differences(expected, job.numbers(child))
        )
        if differences:
            figures["child_differences"] = differences[:10]
        before = job.readable()
    except BaseException:
        worker.stop()
        raise

    # 2. The whole worker dies (SIGKILL to main process and pool) mid-job.
    dead_id = job.start()
    running = job.wait_running(dead_id)
    worker.kill_all()
    killed = time.monotonic()
    figures["worker_killed_at_progress"] = round(running["progress"], 2)
    figures["last_result_readable_after_kill"] = job.readable() == before
    replacement = CeleryWorker(env, logs / f"{label}-worker-2.log")
    try:
        dead, _ = job.wait_finished(dead_id, timeout=900, sweep=lambda: _send_sweep(env))
        figures["worker_job_status"] = dead["status"]
        figures["worker_job_error"] = dead["error"]
        figures["worker_kill_to_final_status_seconds"] = round(time.monotonic() - killed, 1)
        figures["last_result_readable_after_sweep"] = job.readable() == before
        rerun_id = job.start()
        rerun, _ = job.wait_finished(rerun_id, timeout=600)
        figures["rerun_same_numbers"] = rerun["status"] == "succeeded" and not (
            differences := _differences(expected, job.numbers(rerun))
        )
        if differences:
            figures["rerun_differences"] = differences[:10]
    finally:
        replacement.stop()
    return figures


def _recreate_database(server_url: str) -> str:
    server = server_url.replace("postgres://", "postgresql://")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{FAULTS_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{FAULTS_DATABASE}"')
    return f"{server_url}/{FAULTS_DATABASE}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="filesystem,redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--server-url", help="postgres://user@host:port of a server to use")
    parser.add_argument("--jobs", default="analysis,kpi")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--time-limit", type=int, default=2400, help="hard limit, seconds")
    args = parser.parse_args()
    hard_time_limit(args.time_limit)

    server_url = args.server_url
    if server_url is None:
        cluster = default_cluster()
        cluster.ensure_running()
        server_url = f"postgres://postgres@127.0.0.1:{cluster.port}"
    database_url = _recreate_database(server_url)
    manage(["migrate", "--no-input", "-v0"], database_url=database_url)
    log(f"load_demo --users {args.users} --days {args.days}")
    out = manage(
        ["load_demo", "--users", str(args.users), "--days", str(args.days), "--no-progress"],
        database_url=database_url,
    )
    token = next(line.split()[-1] for line in out.splitlines() if "API token" in line)
    logs = VAR / "worker-kill"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for broker in args.brokers.split(","):
        broker_env = (
            {"CELERY_BROKER_URL": args.redis_url}
            if broker == "redis"
            else {"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(logs / "broker")}
        )
        if broker == "redis":
            subprocess.run(
                ["redis-cli", "-u", args.redis_url, "FLUSHDB"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        env = project_env(database_url, **broker_env)
        server = Gunicorn(database_url=database_url, workers=2, threads=2, timeout=60, env=env)
        try:
            api = Api(server.url, token)
            experiments = api.call("GET", "/api/v1/experiments/?status=running")[1]["results"]
            today = datetime.now(tz=UTC).date()
            period = {"from": (today - timedelta(days=args.days - 1)).isoformat()}
            period["to"] = today.isoformat()
            for kind in args.jobs.split(","):
                label = f"{broker}_{kind}"
                log(f"scenario {label}")
                job = Job(api, kind, experiments[0]["key"], period)
                for name, value in scenario(job, env, label, logs).items():
                    results[f"{label}_{name}"] = value
                    print(f"{label}_{name}: {value}", flush=True)
        finally:
            server.stop()
    (VAR / "worker-kill.json").write_text(json.dumps(results, indent=2))
    ok = all(v for k, v in results.items() if k.endswith(("same_numbers", "readable_after_kill")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
