"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

Each process that runs tasks also runs a job heartbeat thread (started with its first task), so
the beat sweep can tell a job whose worker died from a slow one (``plg_platform.services.jobs``).
"""

import logging
import os
import threading
import time
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")

app = Celery("plg_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    """kombu's file-system transport (the embedded default) needs its folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


logger = logging.getLogger(__name__)
_heartbeat_pid: int | None = None


def _beat_forever(interval: float) -> None:
    from django.db import DatabaseError, connection

    from plg_platform.services.jobs import jobs_heartbeat

    while True:
        time.sleep(interval)
        try:
            jobs_heartbeat()
        except DatabaseError:
            logger.warning("job heartbeat failed; trying again in %s s", interval, exc_info=True)
        finally:
            connection.close()  # this thread's own connection; never keep one idle


@task_prerun.connect
def _start_job_heartbeat(**kwargs: object) -> None:
    """Start this process's heartbeat thread once (a forked pool child starts its own)."""
    global _heartbeat_pid
    task = kwargs.get("task")
    if _heartbeat_pid == os.getpid() or getattr(getattr(task, "request", None), "is_eager", False):
        return  # running already, or an eager task: it finishes inside the caller's request
    from django.conf import settings

    _heartbeat_pid = os.getpid()
    threading.Thread(
        target=_beat_forever,
        args=(settings.JOBS_HEARTBEAT_SECONDS,),
        name="job-heartbeat",
        daemon=True,
    ).start()


@task_postrun.connect
def _forget_held_jobs(**kwargs: object) -> None:
    """A task that ended without finishing its job (an unexpected error) holds it no more."""
    from plg_platform.services.jobs import jobs_release_held

    jobs_release_held()
