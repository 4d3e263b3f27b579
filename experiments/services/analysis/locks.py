"""One analysis of an experiment at a time, across worker processes and machines.

The mutex is tied to the life of the process that holds it, so a worker killed mid-run
(``kill -9``, an out-of-memory kill, a lost machine) never leaves it held:

* PostgreSQL: a session-level advisory lock, ``pg_try_advisory_lock(namespace, experiment)``.
  The server releases it when the holder unlocks or its connection ends, which a dead process's
  connection does at once. (Behind a transaction-pooling proxy such as PgBouncer in transaction
  mode, session locks do not work; analyses need a direct or session-pooled connection.)
* SQLite: an exclusive ``flock`` on a file beside the database, one per experiment. The kernel
  releases it when the holder's file descriptor closes, including when the process dies. SQLite
  databases live on one machine, so a file lock reaches every process that can open it.

Neither ever blocks: a caller that cannot take the lock is told so and tries again later.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connections

# The first key of PostgreSQL's two-key advisory locks: "analysis" in ASCII, so our locks
# never collide with another feature's (which would use its own namespace).
ADVISORY_LOCK_NAMESPACE = 0x616E61
# Advisory lock keys are 32-bit; experiment ids beyond that share a key with id % 2**31
# (a harmless collision: two experiments would then analyse one after the other).
_INT4 = 2**31

# An in-memory SQLite database exists in one process only; a process-local lock suffices.
_memory_locks: dict[int, threading.Lock] = {}
_memory_guard = threading.Lock()


def _lock_file(database: str, experiment_id: int) -> Path:
    folder = Path(f"{database}.analysis-locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"experiment-{experiment_id}.lock"


@contextmanager
def _postgres_lock(alias: str, experiment_id: int) -> Iterator[bool]:
    key = experiment_id % _INT4
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired and connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, key])


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(experiment_id: int) -> Iterator[bool]:
    with _memory_guard:
        lock = _memory_locks.setdefault(experiment_id, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


@contextmanager
def analysis_mutex(experiment_id: int, *, using: str = "default") -> Iterator[bool]:
    """Try to take the experiment's analysis lock; yield whether this caller holds it."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with _postgres_lock(using, experiment_id) as acquired:
            yield acquired
        return
    database = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or database == ":memory:" or "mode=memory" in database:
        with _memory_lock(experiment_id) as acquired:
            yield acquired
        return
    with _file_lock(_lock_file(database, experiment_id)) as acquired:
        yield acquired
