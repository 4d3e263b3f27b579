"""Fixtures of the outcomes tests: tasks run eagerly, and a few days of recent events."""

from __future__ import annotations

import pytest

from plg_platform.celery import app as celery_app


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous
