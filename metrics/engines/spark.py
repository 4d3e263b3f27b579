"""Spark SQL: local mode in tests (pyspark with OpenJDK 17), Spark Connect or Databricks in
production (``remote`` is an ``sc://`` URL). One session per process and master or URL,
reused: starting one costs seconds.

A Spark Connect session is made with the Connect client's own builder, not pyspark's shared
``SparkSession.builder``: that one marks the whole process as Connect (after which no local
session can start) and refuses a Connect session once a local one exists, and its
``getOrCreate`` hands back whichever Connect session came first, whatever its URL.
"""

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
# What our SQL assumes of every session (the dialect's casts of wrong JSON types rely on
# non-ANSI casts giving NULL; days and weeks are cut in UTC). A local session gets them at
# start; a Spark Connect session sets them for itself, leaving the server's defaults alone.
SESSION_SQL_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
# How often opening a Spark Connect session retries an unavailable server: 50 ms growing
# fourfold, about 4 s in all, so a wrong or stopped server is reported in seconds. The
# client's default waits more than 10 minutes; statements keep that default once connected.
CONNECT_OPEN_RETRIES = 4
_SESSIONS: dict[str, Any] = {}
# Tables of a local session (tests, local use) live here, never in the working directory.
WAREHOUSE_DIR = os.path.join(tempfile.gettempdir(), f"plg-spark-warehouse-{os.getpid()}")
_SESSIONS_LOCK = threading.Lock()


def spark_session(master: str = "local[2]", remote: str = "") -> Any:
    """Return the process's Spark session for ``master`` (or a Spark Connect ``remote``)."""
    key = remote or master
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = _connect_session(remote) if remote else _local_session(master)
        return _SESSIONS[key]


def spark_connect_release(remote: str) -> None:
    """Release the process's Spark Connect session to ``remote``, if it has one (before its
    server goes away); the next ``spark_session`` for it opens a new one."""
    with _SESSIONS_LOCK:
        session = _SESSIONS.pop(remote, None)
    if session is not None:
        session.stop()


def _local_session(master: str) -> Any:
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("plg-metrics")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", WAREHOUSE_DIR)
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={WAREHOUSE_DIR}")
    )
    for key, value in SESSION_SQL_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _connect_session(remote: str) -> Any:
    """A new Spark Connect session to ``remote``, its SQL settings made; the first call to
    the server, so an unreachable one raises here, after ``CONNECT_OPEN_RETRIES``."""
    from pyspark.sql.connect.client.retries import DefaultPolicy
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession.builder.remote(remote).create()
    client = session.client
    patient = client.get_retry_policies()
    client.set_retry_policies([DefaultPolicy(max_retries=CONNECT_OPEN_RETRIES)])
    try:
        for key, value in SESSION_SQL_CONF.items():
            session.conf.set(key, value)
    except Exception:
        session.release_session_on_close = False  # nothing to release on a server never reached
        session.stop()
        raise
    client.set_retry_policies(patient)
    return session


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
            raise EngineError(
                f"{self.label}: unreachable: {_reason(error)}", kind="unreachable"
            ) from error

    def command(self, sql: str) -> None:
        """Run DDL or an insert (no rows back)."""
        self._run(sql, {})

    def _run(self, sql: str, params: Mapping[str, Any]):
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        stop = _Stopper(self.session, self.timeout_seconds)
        try:
            with stop:
                frame = self.session.sql(sql, args=used)
                rows = [tuple(r) for r in frame.collect()]
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
        return (rows, *_scanned(frame)) if stop.connect else (rows, None, None)


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


def _scanned(frame: Any) -> tuple[int | None, int | None]:
    """Rows and bytes the statement's table scans read, from the plan metrics a Spark Connect
    server sends with the results (a local session keeps them in its JVM: None, None).
    Informational only: a plan whose metrics cannot be read reports None, never fails."""
    try:
        info = frame.executionInfo
        if info is None or info.metrics is None:
            return None, None
        _, nodes = info.metrics.extract_graph()
        scans = [
            n
            for n in nodes.values()
            if n.name.startswith(("Scan ", "BatchScan ")) and n.name != "Scan OneRowRelation"
        ]
        values = [{m.name: m.value for m in n.metrics} for n in scans]
    except Exception:  # noqa: BLE001 - the metrics' shape is the server's, not ours
        return None, None
    if not scans:
        return None, None
    sizes = [v["filesSize"] for v in values if "filesSize" in v]
    return (
        int(sum(v.get("numOutputRows", 0) for v in values)),
        int(sum(sizes)) if sizes else None,
    )


def _reason(error: BaseException) -> str:
    """The first line of what went wrong; for a gRPC failure (which the Connect client wraps
    in an exception printing the whole call) the details the server or channel gave."""
    for cause in (error, error.__cause__, error.__context__):
        details = getattr(cause, "details", None)
        if callable(details):
            return str(details()).split("\n")[0]
    return str(error).split("\n")[0]


def _is_connect(session: Any) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")
