"""Shared pieces of the load and fault scripts: a private PostgreSQL cluster, the project's
own commands (migrate, create_workspace), gunicorn, and a hard time limit.

Everything talks to 127.0.0.1 only. The private cluster (``reltest`` on port 5433 by default)
is the one the scripts may restart: the shared server on 5432 is never touched.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
VAR = ROOT / "var" / "reliability"

CLUSTER_VERSION = os.environ.get("RELIABILITY_PG_VERSION", "15")
CLUSTER_NAME = os.environ.get("RELIABILITY_PG_CLUSTER", "reltest")
CLUSTER_PORT = int(os.environ.get("RELIABILITY_PG_PORT", "5433"))
SHARED_PORT = 5432
DATABASE_NAME = "plg_reliability"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def hard_time_limit(seconds: int) -> None:
    """Kill this process group's script after ``seconds`` whatever it is doing."""

    def expire(signum: int, frame: object) -> None:
        raise SystemExit(f"hard time limit of {seconds}s reached")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)


# --- The private PostgreSQL cluster ----------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int

    @property
    def server_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _ctl(self, action: str) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, action], check=True)

    def ensure_running(self) -> None:
        """Create the cluster on first use (trust auth, 127.0.0.1 only), start it if stopped."""
        if self.port == SHARED_PORT:
            raise SystemExit("refusing to manage the shared PostgreSQL on port 5432")
        if shutil.which("pg_createcluster") is None:
            raise SystemExit("pg_createcluster not found: pass --database-url instead")
        if not Path(f"/etc/postgresql/{self.version}/{self.name}").exists():
            log(f"creating PostgreSQL cluster {self.version}/{self.name} on port {self.port}")
            subprocess.run(
                ["pg_createcluster", self.version, self.name, "-p", str(self.port)]
                + ["--", "--auth=trust"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        if not self.is_up():
            self._ctl("start")
        self.wait_up()

    def restart(self) -> float:
        """Restart the cluster (fast shutdown: open connections are cut); return seconds."""
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", self.version, self.name, "restart", "-m", "fast"], check=True
        )
        self.wait_up()
        return time.monotonic() - started

    def stop(self) -> None:
        self._ctl("stop")

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.server_dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise SystemExit(f"cluster {self.name} not up after {timeout}s")
            time.sleep(0.2)


def default_cluster() -> Cluster:
    return Cluster(CLUSTER_VERSION, CLUSTER_NAME, CLUSTER_PORT)


def ensure_database(database_url: str) -> None:
    """Create the database if it is missing, then run the project's migrations on it."""
    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    manage(["migrate", "--no-input", "-v0"], database_url=database_url)


# --- The project's own commands --------------------------------------------------------------


def project_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment of a production-like process: DEBUG off, its own secret, our database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("RELIABILITY_SECRET_KEY", secrets.token_urlsafe(50)),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.setdefault("CELERY_BROKER_URL", "filesystem://")
    env.setdefault("CELERY_BROKER_DIR", str(VAR / "broker"))
    return env


def manage(args: list[str], *, database_url: str, **extra: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=project_env(database_url, **extra),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def create_workspace(name: str, *, database_url: str) -> dict[str, str]:
    """``manage.py create_workspace``: the public way to get an ingestion key and a token."""
    out = manage(
        ["create_workspace", name, "--owner", f"{name}@reliability.invalid"],
        database_url=database_url,
    )
    return json.loads(out.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn serving the project on 127.0.0.1, DEBUG off."""

    def __init__(
        self,
        *,
        database_url: str,
        workers: int,
        threads: int,
        timeout: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = VAR / "gunicorn.log"
        VAR.mkdir(parents=True, exist_ok=True)
        command = [
            str(Path(PYTHON).parent / "gunicorn"),
            "plg_platform.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            str(timeout),
            "--backlog",
            "2048",
            # gunicorn's control socket defaults to one path per user: never share it.
            "--no-control-socket",
            "--error-logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or project_env(database_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # never leave a server behind when it did not come up
            raise

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited: see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/", timeout=5):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn not ready after {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
