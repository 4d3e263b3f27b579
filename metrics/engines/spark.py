"""Spark SQL: local mode in tests (pyspark with OpenJDK 17), Spark Connect or Databricks in
production (``remote`` is an ``sc://`` URL). One session per process, reused: starting one
costs seconds."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metrics.engines.base import Engine, EngineError

NO_CONNECT_CLIENT = (
    "Spark Connect needs the grpcio package on this server (pip install 'pyspark[connect]')."
)
_SESSIONS: dict[str, Any] = {}
# Tables of a local session (tests, local use) live here, never in the working directory.
WAREHOUSE_DIR = os.path.join(tempfile.gettempdir(), f"plg-spark-warehouse-{os.getpid()}")
_SESSIONS_LOCK = threading.Lock()


def spark_session(master: str = "local[2]", remote: str = "") -> Any:
    """Return the process's Spark session for ``master`` (or a Spark Connect ``remote``)."""
    key = remote or master
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.appName("plg-metrics")
            if remote:
                builder = builder.remote(remote)
            else:
                builder = (
                    builder.master(master)
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", "4")
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.sql.ansi.enabled", "false")
                    .config("spark.driver.memory", "2g")
                    .config("spark.sql.warehouse.dir", WAREHOUSE_DIR)
                    .config(
                        "spark.driver.extraJavaOptions",
                        f"-Dderby.system.home={WAREHOUSE_DIR}",
                    )
                )
            _SESSIONS[key] = builder.getOrCreate()
        return _SESSIONS[key]


@dataclass
class SparkEngine(Engine):
    master: str = "local[2]"
    remote: str = ""

    def __post_init__(self) -> None:
        self.dialect = "spark"
        self.label = self.label or f"Spark {self.remote or self.master}"
        if self.remote and importlib.util.find_spec("grpc") is None:
            # pyspark's Spark Connect client calls sys.exit() when grpcio is missing, which
            # would end the worker or web process; say what is missing instead.
            raise EngineError(f"{self.label}: {NO_CONNECT_CLIENT}", kind="unreachable")
        try:
            self.session = spark_session(self.master, self.remote)
        except Exception as error:  # py4j / Spark Connect errors when the cluster is unreachable
            raise EngineError(f"{self.label}: unreachable: {error}", kind="unreachable") from error

    def command(self, sql: str) -> None:
        """Run DDL or an insert (no rows back)."""
        self._run(sql, {})

    def _run(self, sql: str, params: Mapping[str, Any]):
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        stop = _Stopper(self.session, self.timeout_seconds)
        try:
            with stop:
                rows = [tuple(r) for r in self.session.sql(sql, args=used).collect()]
        except Exception as error:  # AnalysisException, ParseException, Py4JJavaError
            if stop.fired:
                raise EngineError(
                    f"{self.label}: the statement ran longer than "
                    f"{self.timeout_seconds:g} s and was stopped",
                    kind="timeout",
                ) from error
            text = str(error).split("\n")[0]
            kind = (
                "missing"
                if "TABLE_OR_VIEW_NOT_FOUND" in text or "UNRESOLVED_COLUMN" in text
                else "error"
            )
            raise EngineError(f"{self.label}: {text}", kind=kind) from error
        return rows, None, None


class _Stopper:
    """Cancel the statement this thread runs once ``seconds`` have passed.

    Spark has no statement timeout of its own: the statement's jobs carry a tag of their own
    (a job tag of a local session, which PySpark pins to this thread; a session tag on Spark
    Connect), and a timer cancels the jobs with that tag; ``collect`` then raises here.
    """

    def __init__(self, session: Any, seconds: float) -> None:
        self.session = session
        self.seconds = seconds
        self.name = f"plg-statement-{uuid.uuid4().hex}"
        self.fired = False
        self.connect = _is_connect(session)
        self.timer = threading.Timer(seconds, self._cancel)
        self.timer.daemon = True

    def _cancel(self) -> None:
        self.fired = True
        if self.connect:
            self.session.interruptTag(self.name)
        else:
            self.session.sparkContext.cancelJobsWithTag(self.name)

    def __enter__(self) -> _Stopper:
        if self.connect:
            self.session.addTag(self.name)
        else:
            self.session.sparkContext.addJobTag(self.name)
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()
        if self.connect:
            self.session.removeTag(self.name)
        else:
            self.session.sparkContext.removeJobTag(self.name)


def _is_connect(session: Any) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")
