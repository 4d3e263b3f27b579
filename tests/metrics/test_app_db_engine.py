"""The app database engine on PostgreSQL runs the metric layer's statements with
``METRICS_POSTGRES_WORK_MEM`` of sort and hash memory, and leaves the connection as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import override_settings

from metrics.engines.app_db import AppDatabaseEngine

ROOT = Path(__file__).resolve().parents[2]
# A sort of this many random numbers needs about 14 MB: it spills at PostgreSQL's default 4MB.
SORT = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT r FROM (SELECT random() AS r FROM generate_series(1, 300000)) AS t ORDER BY r"  # noqa: E501


def server_work_mem() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        return cursor.fetchone()[0]


def sort_method(engine: AppDatabaseEngine) -> str:
    plan = "\n".join(row[0] for row in engine.execute(SORT, {}))
    return "memory" if "quicksort" in plan else "disk" if "external" in plan else plan


@pytest.mark.django_db(transaction=True)
def test_a_statement_in_autocommit_gets_the_work_mem_and_the_connection_is_reset(
    postgres_only,
):
    default = server_work_mem()
    assert default != "64MB"
    engine = AppDatabaseEngine()
    assert engine.execute("SELECT current_setting('work_mem')", {}) == [("64MB",)]
    assert server_work_mem() == default
    assert sort_method(engine) == "memory"
    with override_settings(METRICS_POSTGRES_WORK_MEM=""):
        assert engine.execute("SELECT current_setting('work_mem')", {}) == [(default,)]
        assert sort_method(engine) == "disk"


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_the_work_mem_lasts_until_its_end_even_after_an_error(postgres_only):
    default = server_work_mem()
    engine = AppDatabaseEngine()
    with transaction.atomic():
        engine.execute("SELECT 1", {})
        assert server_work_mem() == "64MB"
    assert server_work_mem() == default
    with pytest.raises(Exception, match="division by zero"), transaction.atomic():
        engine.execute("SELECT 1 / 0", {})
    assert server_work_mem() == default


@pytest.mark.django_db
def test_sqlite_statements_are_left_as_they_are(on_postgres):
    if on_postgres:
        pytest.skip("the SQLite side")
    assert AppDatabaseEngine().execute("SELECT 1 + 1", {}) == [(2,)]


@pytest.mark.parametrize("value", ["lots", "64 TB", "0MB", "-1"])
def test_a_work_mem_that_is_not_a_size_stops_the_settings_with_a_message(value):
    env = {**os.environ, "METRICS_POSTGRES_WORK_MEM": value}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "plg_platform.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "METRICS_POSTGRES_WORK_MEM is a PostgreSQL size such as 64MB" in done.stderr
