"""A real Spark Connect server for the tests, in a process of its own.

pyspark's package holds a whole Spark (its ``jars/`` include the Connect server), so the server
is started from it with ``spark-submit --class ...SparkConnectServer`` on ``local[2]``, on a
free port of 127.0.0.1, with its warehouse, scratch files and log in a folder of the test
session. The tests then reach it as production reaches Spark Connect or Databricks: through the
``sc://`` URL and the gRPC client, nothing shared with the test process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# A JVM's start and a SparkContext take 10-20 s here; a busy 2-core machine, several times that.
READY_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 30


def spark_home() -> Path | None:
    """The pyspark package's folder, which is a Spark home (bin/, jars/), or None."""
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent


def missing() -> str:
    """What this machine lacks to run a Spark Connect server and its client ("" if nothing)."""
    home = spark_home()
    if home is None:
        return "pyspark"
    if shutil.which("java") is None:
        return "Java 17 for Spark (openjdk-17-jre)"
    if not list((home / "jars").glob("spark-connect_*.jar")):
        return f"the Spark Connect server jar in {home / 'jars'}"
    if importlib.util.find_spec("grpc") is None:
        return "the Spark Connect client (pip install 'pyspark[connect]')"
    return ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class ConnectServer:
    """Handle on a running server: ``url`` to connect, ``log()`` to read what it said."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"sc://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        home = spark_home()
        assert home is not None
        settings = {
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.driver.memory": "1g",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.warehouse.dir": str(self.folder / "warehouse"),
            "spark.local.dir": str(self.folder / "scratch"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.folder}",
        }
        argv = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS]
        argv += ["--master", "local[2]", "--name", "plg-tests-spark-connect"]
        for key, value in settings.items():
            argv += ["--conf", f"{key}={value}"]
        return argv

    def start(self) -> None:
        home = spark_home()
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(self.folder)}
        env.pop("SPARK_REMOTE", None)
        with self.log_path.open("ab") as log:
            # Its own process group: stopping it stops spark-submit's launcher and the JVM.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv of pyspark's own script
                self.command(),
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the Spark Connect server exited ({self.process.returncode}) before "
                    f"accepting connections on port {self.port}:\n{self.log()}"
                )
            if _accepts(self.port):
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"the Spark Connect server did not accept connections on port {self.port} within "
            f"{READY_TIMEOUT_SECONDS} s:\n{self.log()}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """Stop the server (SIGTERM: Spark stops its context); kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


@contextmanager
def running_connect_server(folder: Path) -> Iterator[ConnectServer]:
    """Start a Spark Connect server keeping its files in ``folder``; stop it on leaving."""
    from metrics.engines.spark import spark_connect_release

    server = ConnectServer(folder)
    try:
        server.start()
        yield server
    finally:
        spark_connect_release(server.url)
        server.stop()
