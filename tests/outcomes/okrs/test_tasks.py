"""OKR tasks: computed check-ins for the key results whose period is under way."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from outcomes.okrs import tasks as okr_tasks
from outcomes.okrs.models import CheckIn
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from tests.outcomes.support import recent_events


@pytest.mark.django_db
def test_key_result_check_ins_are_computed_for_periods_under_way(eager, workspace, make_metric):
    today = recent_events(workspace)
    metric = make_metric(
        workspace, "d1", type="retention", event="", window_days=None, retention_start_day=0
    )
    current = objective_create(
        workspace=workspace,
        title="Now",
        period_start=today - timedelta(days=10),
        period_end=today + timedelta(days=10),
    )
    finished = objective_create(
        workspace=workspace,
        title="Long ago",
        period_start=date(2020, 1, 1),
        period_end=date(2020, 3, 31),
    )
    live = key_result_create(
        objective=current, title="Day-0 activity", metric_key=metric.key, target=2.0
    )
    key_result_create(
        objective=finished,
        title="Old",
        metric_key=metric.key,
        target=2.0,
        baseline=0.5,
        baseline_reason="r",
    )
    assert okr_tasks.compute_key_result_check_ins() == 1
    check_in = CheckIn.objects.get(key_result=live)
    assert (check_in.date, check_in.source) == (today, "computed")
    assert okr_tasks.compute_key_result_check_in(10_000_000) is False
