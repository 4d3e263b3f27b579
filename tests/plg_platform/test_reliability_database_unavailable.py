"""A database that cannot be reached answers 503 with Retry-After (never 500), and a retry
after it comes back stores the batch exactly once.

The outage is real: the connection's settings point at a port nothing listens on (PostgreSQL)
or a file that cannot be opened (SQLite), so the driver itself fails to connect.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from plg_platform.exceptions import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE,
    is_database_unavailable,
)
from plg_platform.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/events/batch"
NOW = datetime.now(tz=UTC).replace(microsecond=0)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _database_down(tmp_path: Path) -> Iterator[None]:
    """Point the default connection at a database that is not there, then restore it."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_unused_port()))
    else:
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-dir" / "db.sqlite3")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def _batch() -> dict:
    return {
        "events": [
            {
                "event": "signed_up",
                "distinct_id": f"user-{i}",
                "timestamp": NOW.isoformat(),
                "insert_id": f"outage-{i}",
            }
            for i in range(3)
        ]
    }


def test_ingestion_during_an_outage_gets_503_and_the_retry_stores_the_batch_once(
    ingestion_client: APIClient, workspace, tmp_path
):
    with _database_down(tmp_path):
        during = ingestion_client.post(URL, _batch(), format="json")

    assert during.status_code == 503
    assert during["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert during.json() == {
        "detail": DATABASE_UNAVAILABLE,
        "errors": {"database": [DATABASE_UNAVAILABLE]},
    }
    assert not Event.objects.filter(workspace=workspace).exists()

    after = ingestion_client.post(URL, _batch(), format="json")
    again = ingestion_client.post(URL, _batch(), format="json")

    assert after.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    stored = Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True)
    assert sorted(stored) == ["outage-0", "outage-1", "outage-2"]


def test_a_page_during_an_outage_gets_503_not_the_500_page(editor, tmp_path):
    client = Client(raise_request_exception=False)
    client.force_login(editor.user)

    with _database_down(tmp_path):
        response = client.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response.json()["errors"] == {"database": [DATABASE_UNAVAILABLE]}


def test_a_wrong_statement_is_not_mistaken_for_an_outage(db):
    """A bad query raises an error of the same Python classes; it must stay a 500."""
    from django.db import DatabaseError

    with pytest.raises(DatabaseError) as caught, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_for_reliability")

    assert not is_database_unavailable(caught.value)
