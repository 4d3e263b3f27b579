"""The retry policy of tasks whose service is safe to repeat: what is worth another try.

A lost connection, a deadlock, a failover or a locked SQLite file is worth a few tries, with
exponential backoff and jitter; anything else is a bug (or bad data) that retrying would only
repeat.
"""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError

TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
MAX_RETRIES = 4
BACKOFF_MAX_SECONDS = 5 * 60

# Options for ``shared_task`` (only on tasks that acknowledge late and are idempotent).
RETRY_TRANSIENT_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": TRANSIENT_DATABASE_ERRORS,
    "max_retries": MAX_RETRIES,
    "retry_backoff": True,
    "retry_backoff_max": BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
}
