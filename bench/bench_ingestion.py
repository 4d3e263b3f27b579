"""Ingestion through the HTTP batch API into PostgreSQL, beside raw COPY of the same rows.

Run: .venv/bin/python bench/bench_ingestion.py [--events N] [--clients C] [--workers W]
     [--repeats R] [--database-url URL] [--keep-database] [--quick]

The script recreates a benchmark database (by default
postgres://postgres@127.0.0.1:5432/plg_bench_ingest), migrates it, creates a workspace and its
ingestion key, and starts gunicorn (W sync workers, DEBUG off) on a free local port. It
generates N events of a document tool (ten event names, 20,000 users, ISO timestamps in five
time zones, unique insert ids, 7-10 properties of every JSON type, ~340 bytes an event) in
batches of 1,000, serialised before any clock starts.

- The ceiling: one ``COPY ... FROM STDIN`` of the same rows, already in their stored form
  (epoch microseconds, JSON text), into the same empty table with the same indexes.
- The figure: C client threads post the batches to ``POST /api/v1/events/batch``; the clock runs
  from the first request to the last response, every response must accept all 1,000 events,
  and the table must then hold exactly N rows.

Each is run R times from an empty table, alternating, and the best run of each is reported
(other work on the machine only ever slows a run down). The ratio is HTTP / COPY.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/plg_bench_ingest"
BATCH_SIZE = 1000
TARGET_EVENTS_PER_S = 20_000
TABLE = "plg_platform_event"
COLUMNS = (
    "workspace_id",
    "event",
    "distinct_id",
    "timestamp_us",
    "insert_id",
    "properties",
    "received_at",
)
SERVER_START_TIMEOUT_S = 60

EVENT_NAMES = {
    "session_started": 30,
    "page_viewed": 25,
    "document_edited": 20,
    "document_created": 10,
    "document_shared": 5,
    "comment_added": 5,
    "invite_sent": 2,
    "template_used": 2,
    "upgraded": 0.5,
    "nps_answered": 0.5,
}
ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)),
]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
OSES = ["macOS", "Windows", "Linux", "iOS", "Android"]
PLANS = ["free", "starter", "pro", "business"]
TEMPLATES = ["blank", "meeting-notes", "roadmap", "spec", "retro", None]
SOURCES = ["google", "newsletter", "linkedin", "direct", "partner"]
PATHS = ["/docs", "/pricing", "/editor", "/settings", "/templates", "/"]


# --- Data ------------------------------------------------------------------------------------


def generate_events(count: int, *, seed: int, now: datetime) -> list[dict]:
    """Return ``count`` realistic events as a client would send them (ISO timestamps)."""
    rng = random.Random(seed)
    names, weights = list(EVENT_NAMES), list(EVENT_NAMES.values())
    events = []
    for i in range(count):
        name = rng.choices(names, weights)[0]
        moment = now - timedelta(
            seconds=rng.randrange(90 * 86_400), microseconds=rng.randrange(10**6)
        )
        properties = {
            "$browser": rng.choice(BROWSERS),
            "$os": rng.choice(OSES),
            "plan": rng.choice(PLANS),
            "path": rng.choice(PATHS),
            "duration_ms": round(rng.lognormvariate(6, 1), 2),
            "is_mobile": rng.random() < 0.2,
        }
        if name.startswith("document") or name == "template_used":
            properties |= {
                "document_id": f"doc-{rng.randrange(200_000)}",
                "words": rng.randrange(20, 5000),
                "template": rng.choice(TEMPLATES),
                "tags": rng.sample(["draft", "q3", "team", "spec", "review"], rng.randrange(0, 3)),
            }
        elif name == "upgraded":
            properties |= {"revenue": rng.choice([12.0, 29.0, 99.0, 290.0]), "currency": "USD"}
        elif name == "nps_answered":
            properties |= {
                "score": rng.randrange(11),
                "comment": "Fast, but search could be better.",
            }
        else:
            properties |= {
                "utm": {"source": rng.choice(SOURCES), "campaign": f"c{rng.randrange(40)}"}
            }
        events.append(
            {
                "event": name,
                "distinct_id": f"user-{rng.randrange(20_000)}",
                "timestamp": moment.astimezone(rng.choice(ZONES)).isoformat(),
                "insert_id": f"{seed}-{i}-{rng.getrandbits(64):016x}",
                "properties": properties,
            }
        )
    return events


def epoch_us(iso: str) -> int:
    delta = datetime.fromisoformat(iso) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def copy_rows(events: list[dict], *, workspace_id: int, received_at: datetime) -> list[tuple]:
    """The same events in their stored form, as the columns in COLUMNS."""
    return [
        (
            workspace_id,
            e["event"],
            e["distinct_id"],
            epoch_us(e["timestamp"]),
            e["insert_id"],
            json.dumps(e["properties"]),
            received_at,
        )
        for e in events
    ]


# --- Database and server ---------------------------------------------------------------------


def _admin_url_and_name(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def drop_database(url: str) -> None:
    admin_url, name = _admin_url_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def recreate_database(url: str) -> None:
    drop_database(url)
    admin_url, name = _admin_url_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CELERY_BROKER_DIR": str(ROOT / "var" / "broker-bench-ingestion"),
    }


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], *, workers: int, port: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "plg_platform.wsgi:application",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--backlog=256",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/events/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start in time")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- Measurements ----------------------------------------------------------------------------


def copy_seconds(url: str, rows: list[tuple]) -> float:
    """Time one COPY of ``rows`` into the (empty) event table, commit included."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(TABLE), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def post_batch(port: int, key: str, body: bytes) -> tuple[float, dict]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            "/api/v1/events/batch",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:500]!r}")
    return time.perf_counter() - start, json.loads(payload)


def http_run(
    port: int, key: str, bodies: list[bytes], *, clients: int
) -> tuple[float, list[float]]:
    """Post every body with ``clients`` concurrent clients; return wall seconds and latencies."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda body: post_batch(port, key, body), bodies))
        elapsed = time.perf_counter() - start
    for _, answer in results:
        if answer != {"accepted": BATCH_SIZE, "duplicates": 0, "rejected": []}:
            raise RuntimeError(f"unexpected answer: {str(answer)[:500]}")
    return elapsed, [latency for latency, _ in results]


def table_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))
        ).fetchone()[0]


def truncate(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier(TABLE)))


# --- Main ------------------------------------------------------------------------------------


def batches(events: list[dict]) -> list[bytes]:
    return [
        json.dumps({"events": events[i : i + BATCH_SIZE]}).encode()
        for i in range(0, len(events), BATCH_SIZE)
    ]


def log(message: str) -> None:
    print(f"[bench_ingestion] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="rounded up to whole batches")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--repeats", type=int, default=2, help="best of R runs of each")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20,000 events, once, a smoke run")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.events
    count = -(-count // BATCH_SIZE) * BATCH_SIZE
    repeats = 1 if args.quick else args.repeats
    url = args.database_url

    log(f"recreating {urlsplit(url).path.lstrip('/')} and migrating")
    recreate_database(url)
    env = django_env(url)
    manage(env, "migrate", "--no-input", "-v0")
    created = json.loads(
        manage(env, "create_workspace", "Ingestion benchmark", "--owner", "bench@example.com")
    )
    key = created["ingestion_key"]
    with psycopg.connect(url) as conn:
        workspace_id = conn.execute(
            "SELECT id FROM plg_platform_workspace WHERE slug = %s", [created["workspace"]]
        ).fetchone()[0]

    now = datetime.now(tz=UTC)
    log(f"generating {count:,} events")
    events = generate_events(count, seed=1, now=now)
    bodies = batches(events)
    rows = copy_rows(events, workspace_id=workspace_id, received_at=now)
    warm_up = batches(generate_events(4 * BATCH_SIZE, seed=2, now=now))
    mean_body_kib = statistics.mean(len(b) for b in bodies) / 1024

    port = free_port()
    log(f"starting gunicorn with {args.workers} workers on port {port}")
    server = start_server(env, workers=args.workers, port=port)
    copy_runs, http_runs = [], []
    try:
        http_run(port, key, warm_up, clients=args.clients)
        for run in range(1, repeats + 1):
            # Each figure starts from the same empty table with the same indexes.
            truncate(url)
            log(f"run {run}/{repeats}: COPY of the same rows (ceiling)")
            copy_runs.append(copy_seconds(url, rows))
            assert table_count(url) == count
            truncate(url)
            log(f"run {run}/{repeats}: HTTP batch API, {args.clients} clients")
            http_runs.append(http_run(port, key, bodies, clients=args.clients))
            assert table_count(url) == count, "the table does not hold every event exactly once"
    finally:
        stop_server(server)
        if not args.keep_database:
            drop_database(url)

    copy_s = min(copy_runs)
    http_s, latencies = min(http_runs)
    http_rate, copy_rate = count / http_s, count / copy_s
    latencies_ms = sorted(1000 * x for x in latencies)
    print(f"ingest_events: {count}")
    print(f"ingest_batch_size: {BATCH_SIZE}")
    print(f"ingest_batch_body_kib: {mean_body_kib:.0f}")
    print(f"ingest_http_workers: {args.workers}")
    print(f"ingest_http_clients: {args.clients}")
    print(f"ingest_copy_events_per_s: {copy_rate:.0f}")
    print(f"ingest_http_events_per_s: {http_rate:.0f}")
    print(f"ingest_http_batch_p50_ms: {statistics.median(latencies_ms):.0f}")
    print(f"ingest_http_batch_p95_ms: {latencies_ms[int(0.95 * (len(latencies_ms) - 1))]:.0f}")
    print(f"ingest_http_vs_copy_ratio: {http_rate / copy_rate:.2f}")
    print(f"ingest_http_vs_target_ratio: {http_rate / TARGET_EVENTS_PER_S:.2f}")


if __name__ == "__main__":
    main()
