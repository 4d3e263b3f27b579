"""Concurrent ingestion clients against gunicorn + PostgreSQL, each retrying with the same
insert_ids; then count what the database holds. Optionally restart PostgreSQL mid-run.

Run: .venv/bin/python bench/reliability/ingest_load.py [--clients 200] [--duration 60]
     [--restart-postgres-at SECONDS] [--database-url URL]

Each client loops until the duration is over: it builds a batch of new events (insert_ids
unique to this run), POSTs it to /api/v1/events/batch with a real ingestion key (made by
``manage.py create_workspace``) and, on a timeout, a connection error, a 5xx or a 429, sends
the *same* batch again after ``Retry-After`` (or an exponential backoff with jitter), until it
gets a 200 or its give-up deadline passes. Afterwards the script reads the workspace's events
from the database: sent, stored, lost (acknowledged but not stored; and sent but not stored),
double-counted (rows minus distinct insert_ids), latency, errors by kind. Output is
``name: value`` lines on stdout; details go to var/reliability/ingest-*.json.

Without --database-url the script uses its own PostgreSQL cluster (``reltest`` on port 5433,
created on first use), which --restart-postgres-at may restart; the shared server on 5432 is
never restarted. Traffic goes to 127.0.0.1 only; the run is bounded by --time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module, found through the path above
    VAR,
    Gunicorn,
    create_workspace,
    default_cluster,
    ensure_database,
    hard_time_limit,
    log,
)

BACKOFF_BASE_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Attempt:
    at: float  # seconds since the start of the run
    seconds: float
    outcome: str  # "200", "503", "timeout", ...


@dataclass
class Stats:
    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    gave_up: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicates: int = 0
    batches: int = 0
    retried_batches: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)


def _retry_delay(retry_after: str | None, attempt: int) -> float:
    if retry_after is not None:
        try:
            return float(retry_after)
        except ValueError:
            pass
    return random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


async def _send_until_acknowledged(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    ids: list[str],
    stats: Stats,
    *,
    started: float,
    give_up_at: float,
) -> None:
    """POST one batch until a 200, retrying the same body (the same insert_ids)."""
    first = time.monotonic()
    attempt = 0
    while True:
        t0 = time.monotonic()
        retry_after = None
        try:
            async with session.post(url, data=body) as response:
                payload = await response.read()
                outcome = str(response.status)
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError as error:
            outcome = type(error).__name__
        stats.attempts.append(Attempt(t0 - started, time.monotonic() - t0, outcome))
        if outcome == "200":
            answer = json.loads(payload)
            stats.accepted += answer["accepted"]
            stats.duplicates += answer["duplicates"]
            stats.acknowledged.update(ids)
            stats.batch_seconds.append(time.monotonic() - first)
            stats.retried_batches += attempt > 0
            return
        if outcome.isdigit() and int(outcome) not in RETRYABLE_STATUSES:
            stats.refused.update(ids)  # a 4xx other than 429: the batch itself is wrong
            return
        delay = _retry_delay(retry_after, attempt)
        if time.monotonic() + delay > give_up_at:
            stats.gave_up.update(ids)
            return
        await asyncio.sleep(delay)
        attempt += 1


async def _client(
    number: int,
    session: aiohttp.ClientSession,
    url: str,
    run_id: str,
    stats: Stats,
    *,
    batch_size: int,
    started: float,
    stop_at: float,
    give_up_at: float,
) -> None:
    sequence = 0
    # Spread the first requests over a second, as real clients would not start in lockstep.
    await asyncio.sleep(random.uniform(0, 1))
    while time.monotonic() < stop_at:
        ids = [f"{run_id}-c{number}-{sequence + k}" for k in range(batch_size)]
        sequence += batch_size
        now = datetime.now(tz=UTC).isoformat()
        events = [
            {
                "event": "page_viewed",
                "distinct_id": f"user-{number}-{(sequence + k) % 50}",
                "timestamp": now,
                "insert_id": insert_id,
                "properties": {"client": number, "path": f"/p/{k}"},
            }
            for k, insert_id in enumerate(ids)
        ]
        stats.sent.update(ids)
        stats.batches += 1
        await _send_until_acknowledged(
            session,
            url,
            json.dumps({"events": events}).encode(),
            ids,
            stats,
            started=started,
            give_up_at=give_up_at,
        )


async def _restart_later(cluster, at: float, started: float, window: dict[str, float]) -> None:
    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
    window["from"] = time.monotonic() - started
    log("restarting the private PostgreSQL cluster")
    window["seconds"] = await asyncio.to_thread(cluster.restart)
    window["to"] = time.monotonic() - started
    log(f"PostgreSQL back after {window['seconds']:.1f}s")


async def _drive(args: argparse.Namespace, base_url: str, key: str, run_id: str, cluster):
    stats = Stats()
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    connector = aiohttp.TCPConnector(limit=args.clients)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    window: dict[str, float] = {}
    started = time.monotonic()
    stop_at = started + args.duration
    give_up_at = stop_at + args.give_up_after
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers=headers
    ) as session:
        tasks = [
            _client(
                n,
                session,
                f"{base_url}/api/v1/events/batch",
                run_id,
                stats,
                batch_size=args.batch_size,
                started=started,
                stop_at=stop_at,
                give_up_at=give_up_at,
            )
            for n in range(args.clients)
        ]
        if args.restart_postgres_at is not None:
            tasks.append(_restart_later(cluster, args.restart_postgres_at, started, window))
        await asyncio.gather(*tasks)
    return stats, time.monotonic() - started, window


def _stored(database_url: str, workspace: str, run_id: str) -> Counter[str]:
    dsn = database_url.replace("postgres://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT insert_id, count(*) FROM plg_platform_event e"
            " JOIN plg_platform_workspace w ON w.id = e.workspace_id"
            " WHERE (w.id::text = %s OR w.slug = %s) AND e.insert_id LIKE %s"
            " GROUP BY insert_id",
            [str(workspace), str(workspace), f"{run_id}-%"],
        ).fetchall()
    return Counter({insert_id: count for insert_id, count in rows})


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def report(args, stats: Stats, elapsed: float, stored: Counter[str], window) -> dict:
    ok = [a.seconds for a in stats.attempts if a.outcome == "200"]
    outcomes = Counter(a.outcome for a in stats.attempts)
    stored_ids = set(stored)
    figures: dict[str, object] = {
        "clients": args.clients,
        "duration_seconds": args.duration,
        "wall_seconds": round(elapsed, 1),
        "batch_size": args.batch_size,
        "batches": stats.batches,
        "requests": len(stats.attempts),
        "retried_batches": stats.retried_batches,
        "events_sent": len(stats.sent),
        "events_acknowledged": len(stats.acknowledged),
        "events_stored": len(stored_ids),
        "events_lost_acknowledged": len(stats.acknowledged - stored_ids),
        "events_lost_sent": len(stats.sent - stored_ids),
        "events_client_gave_up": len(stats.gave_up),
        "events_refused_4xx": len(stats.refused),
        "events_double_counted": sum(stored.values()) - len(stored),
        "events_stored_not_sent": len(stored_ids - stats.sent),
        "server_accepted_total": stats.accepted,
        "server_duplicates_total": stats.duplicates,
        "events_per_second_stored": round(len(stored_ids) / elapsed, 1),
        "latency_200_p50_ms": round(_percentile(ok, 0.5) * 1000, 1),
        "latency_200_p99_ms": round(_percentile(ok, 0.99) * 1000, 1),
        "batch_until_acknowledged_p99_ms": round(_percentile(stats.batch_seconds, 0.99) * 1000, 1),
        "responses_429": outcomes.get("429", 0),
        "errors_by_kind": dict(sorted((k, v) for k, v in outcomes.items() if k != "200")),
    }
    if window:
        # Answers that came back while PostgreSQL was restarting (or just after).
        during = Counter(
            a.outcome
            for a in stats.attempts
            if window["from"] <= a.at + a.seconds <= window["to"] + 2
        )
        figures["postgres_restart_at_seconds"] = round(window["from"], 1)
        figures["postgres_restart_seconds"] = round(window["seconds"], 2)
        figures["outcomes_during_restart"] = dict(sorted(during.items()))
        figures["responses_500"] = outcomes.get("500", 0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of new batches")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    parser.add_argument("--give-up-after", type=float, default=90.0, help="seconds past the end")
    parser.add_argument("--gunicorn-workers", type=int, default=5, help="2 x cores + 1")
    parser.add_argument("--gunicorn-threads", type=int, default=1)
    parser.add_argument("--database-url", help="default: the private cluster on port 5433")
    parser.add_argument("--restart-postgres-at", type=float, help="seconds into the run")
    parser.add_argument("--time-limit", type=int, default=600, help="hard limit, seconds")
    parser.add_argument("--label", default="load")
    args = parser.parse_args()
    hard_time_limit(args.time_limit)

    cluster = None
    database_url = args.database_url
    if database_url is None:
        cluster = default_cluster()
        cluster.ensure_running()
        database_url = cluster.database_url
    elif args.restart_postgres_at is not None:
        raise SystemExit("--restart-postgres-at needs the private cluster (no --database-url)")
    ensure_database(database_url)
    run_id = f"rel-{uuid.uuid4().hex[:10]}"
    created = create_workspace(run_id, database_url=database_url)
    log(f"workspace {created['workspace']}; starting gunicorn")
    server = Gunicorn(
        database_url=database_url,
        workers=args.gunicorn_workers,
        threads=args.gunicorn_threads,
        timeout=30,
    )
    try:
        log(f"{args.clients} clients for {args.duration:.0f}s against {server.url}")
        stats, elapsed, window = asyncio.run(
            _drive(args, server.url, created["ingestion_key"], run_id, cluster)
        )
    finally:
        server.stop()
    stored = _stored(database_url, created["workspace"], run_id)
    figures = report(args, stats, elapsed, stored, window)
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / f"ingest-{args.label}.json").write_text(json.dumps(figures, indent=2))
    for name, value in figures.items():
        print(f"{args.label}_{name}: {value}", flush=True)
    return 0 if figures["events_lost_acknowledged"] == figures["events_double_counted"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
