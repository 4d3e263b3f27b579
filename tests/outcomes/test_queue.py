"""Outcomes' services queue their tasks by name (pages and API never import the tasks)."""

from __future__ import annotations

from outcomes.kpis import tasks as kpi_tasks
from outcomes.kpis.recompute import RECOMPUTE_TASK
from outcomes.okrs import tasks as okr_tasks
from outcomes.okrs.services.key_results import CHECK_IN_TASK
from plg_platform.celery import app


def test_the_names_services_queue_are_the_names_the_tasks_register():
    for name, task in (
        (RECOMPUTE_TASK, kpi_tasks.recompute_kpis),
        (CHECK_IN_TASK, okr_tasks.compute_key_result_check_in),
    ):
        assert task.name == name
        assert app.tasks[name].name == name
