"""``manage.py load_demo``: the demo workspace, its login, data, metrics, KPIs, experiments,
OKRs and learnings, idempotently."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, TestCase

from experiments.models import (
    Decision,
    Experiment,
    ExperimentStatus,
    ExperimentTemplate,
    Exposure,
    Phase,
    ResultSnapshot,
)
from experiments.result_selectors import experiment_results
from experiments.stats import PowerRequest, plan
from learnings.demo import (
    ACTIVATION_TEMPLATE_KEY,
    ACTIVATION_TEMPLATE_MDE,
    ACTIVATION_TEMPLATE_RUNTIME_DAYS,
    DEMO_AHA_7D_BASELINE,
    DEMO_KEY_RESULTS,
    DEMO_LEARNINGS,
    OBJECTIVE_TITLE,
    primary_comparison,
)
from learnings.management.commands.load_demo import (
    DEMO_EMAIL,
    DEMO_METRICS,
    DEMO_WORKSPACE_SLUG,
    demo_password,
)
from learnings.models import Learning, ProductArea, Source
from metrics.public import Metric, MetricKind
from outcomes.kpis.models import KpiSettings, KpiValue
from outcomes.okrs.models import CheckIn, KeyResult, Objective
from plg_platform.clock import epoch_us
from plg_platform.models import ApiKey, Event, Membership, Person, Role, Workspace

pytestmark = pytest.mark.django_db

ARGS = ("--users", "120", "--days", "40", "--port", "8765", "--no-progress")


def _load(*args: str) -> str:
    out = io.StringIO()
    # The concluded experiment's learning is recorded by a hook on commit: run those callbacks.
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("load_demo", *(args or ARGS), stdout=out)
    return out.getvalue()


def _state(workspace: Workspace) -> dict[str, int]:
    return {
        "events": Event.objects.filter(workspace=workspace).count(),
        "persons": Person.objects.filter(workspace=workspace).count(),
        "metrics": Metric.objects.filter(workspace=workspace).count(),
        "keys": ApiKey.objects.filter(workspace=workspace).count(),
        "members": Membership.objects.filter(workspace=workspace).count(),
    }


def test_first_run_creates_workspace_login_keys_data_and_metrics():
    output = _load()

    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    user = get_user_model().objects.get(email=DEMO_EMAIL)
    password = demo_password(DEMO_EMAIL)
    state = _state(workspace)
    assert state["events"] > 120 * 20
    assert {k: v for k, v in state.items() if k != "events"} == {
        "persons": 120,
        "metrics": len(DEMO_METRICS),
        "keys": 3,
        "members": 1,
    }
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.ADMIN
    assert user.check_password(password)
    assert password not in user.password  # stored hashed only
    assert "Open   http://127.0.0.1:8765/" in output
    assert f"E-mail {DEMO_EMAIL}" in output
    assert f"Password {password}" in output
    assert "ingestion key  plg_ing_" in output
    # The data set ends when the workspace was created (to the minute).
    latest = Event.objects.filter(workspace=workspace).order_by("-timestamp_us").first()
    assert latest.timestamp_us < epoch_us(workspace.created_at.replace(second=0, microsecond=0))


def test_demo_metrics_are_the_expected_definitions():
    _load()

    metrics = {m.key: m for m in Metric.objects.filter(workspace__slug=DEMO_WORKSPACE_SLUG)}
    aha = metrics["aha-7d"]
    assert (aha.type, aha.event, aha.window_days) == ("conversion", "document_created", 7)
    habit = metrics["habit-30d"]
    assert (habit.type, habit.min_count, habit.min_distinct_days) == ("moment", 20, 8)
    assert [metrics[f"retention-d{d}"].retention_start_day for d in (1, 7, 30)] == [1, 7, 30]
    revenue = metrics["revenue-90d"]
    assert (revenue.type, revenue.property, revenue.kind) == (
        "sum", "amount", MetricKind.VALUE_CAPTURE,
    )  # fmt: skip
    assert metrics["account-revenue-90d"].unit_property == "account_id"
    assert metrics["nps-promoter-90d"].filters == [{"property": "score", "op": "gte", "value": 9}]


def test_second_run_changes_nothing_and_prints_the_same_login():
    first = _load()
    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    before = _state(workspace)
    password_hash = get_user_model().objects.get(email=DEMO_EMAIL).password

    second = _load()

    assert _state(workspace) == before
    assert Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).count() == 1
    assert get_user_model().objects.get(email=DEMO_EMAIL).password == password_hash
    assert "Reusing the workspace" in second
    assert "Demo data already there (120 users); not generating." in second
    assert f"{len(DEMO_METRICS)} metrics (0 new)" in second
    assert f"Password {demo_password(DEMO_EMAIL)}" in first
    assert f"Password {demo_password(DEMO_EMAIL)}" in second
    assert "plg_ing_" not in second  # secrets are shown once


def test_an_interrupted_load_is_completed_with_the_same_events():
    _load()
    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)
    complete = set(Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True))
    # Lose the second half of the users, as if the load had stopped there.
    lost = sorted(Person.objects.filter(workspace=workspace).values_list("distinct_id", flat=True))
    lost = lost[60:]
    Person.objects.filter(workspace=workspace, distinct_id__in=lost).delete()
    Event.objects.filter(workspace=workspace, distinct_id__in=lost).delete()

    _load()

    again = set(Event.objects.filter(workspace=workspace).values_list("insert_id", flat=True))
    assert again == complete
    assert Person.objects.filter(workspace=workspace).count() == 120


def test_the_printed_login_opens_the_home_page_of_the_demo_workspace():
    _load()
    client = Client()

    assert client.login(username=DEMO_EMAIL, password=demo_password(DEMO_EMAIL))
    response = client.get("/")

    assert response.status_code == 200
    assert "Inkwell demo" in response.content.decode()


# The data are the same whatever the day the test runs (the generator's calendar ends on a
# Monday at 00:00 UTC, so another end only shifts them): about 1,090 units exposed to the
# checklist (10 % of the users are in the planted holdout, never exposed), about +8 % on 7-day
# Aha (the planted +15 %, on a base the shipped welcome tour raised).
CONTENT_ARGS = ("--users", "1700", "--days", "100", "--port", "8765", "--no-progress")


def _content_state(workspace: Workspace) -> dict[str, object]:
    return {
        **_state(workspace),
        "experiments": list(
            Experiment.objects.filter(workspace=workspace)
            .order_by("key")
            .values_list("key", "status", "decision", "updated_at")
        ),
        "phases": list(Phase.objects.filter(experiment__workspace=workspace).values_list()),
        "exposures": Exposure.objects.filter(workspace=workspace).count(),
        "snapshots": list(
            ResultSnapshot.objects.filter(experiment__workspace=workspace).values_list("pk")
        ),
        "learnings": list(
            Learning.objects.filter(workspace=workspace).values_list("pk", "updated_at")
        ),
        "areas": ProductArea.objects.filter(workspace=workspace).count(),
        "objectives": list(Objective.objects.filter(workspace=workspace).values_list()),
        "key_results": list(KeyResult.objects.filter(workspace=workspace).values_list()),
        "check_ins": list(CheckIn.objects.filter(key_result__workspace=workspace).values_list()),
        "kpi_values": KpiValue.objects.filter(workspace=workspace).count(),
        "kpi_settings": list(KpiSettings.objects.filter(workspace=workspace).values_list()),
    }


def test_the_demo_shows_kpis_experiments_okrs_and_learnings_and_a_rerun_changes_nothing():
    output = _load(*CONTENT_ARGS)
    workspace = Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG)

    # 1. KPI settings as docs/outcomes.md prescribes, and the cache computed synchronously.
    settings = KpiSettings.objects.get(workspace=workspace)
    assert settings.aha_event == "document_created"
    assert settings.pql_unit == "account"
    assert settings.revenue_period == "annual"
    assert settings.excluded_activity_events == ["$exposure", "notifications_unsubscribed"]
    assert len(settings.feedback_topics) == 9
    assert settings.computed_through is not None
    assert "Computing the KPIs over the whole history (synchronously" in output
    cached = set(KpiValue.objects.filter(workspace=workspace).values_list("kpi", flat=True))
    assert {"dau", "mau", "activation_rate", "retention_d7", "mrr", "pes"} <= cached

    # 2. The running checklist experiment finds the planted effect; the A/A one is concluded.
    checklist = Experiment.objects.get(workspace=workspace, key="onboarding-checklist")
    assert checklist.status == ExperimentStatus.RUNNING
    assert checklist.hypothesis_audience
    assert checklist.hypothesis_evidence
    phase = checklist.phases.get()
    exposures = Exposure.objects.filter(experiment=checklist)
    first_exposure_us = min(exposures.values_list("exposed_at_us", flat=True))
    assert epoch_us(phase.started_at) <= first_exposure_us
    assert exposures.count() > 1000
    snapshot = ResultSnapshot.objects.get(experiment=checklist)
    lift = primary_comparison(snapshot)
    assert lift is not None
    assert lift.variant == "checklist"
    assert lift.effect > 0
    assert lift.ci_low < lift.effect < lift.ci_high
    roles = {m["key"]: m["role"] for m in snapshot.outputs["metrics"]}
    assert roles["aha-7d"] == "primary"
    assert roles["unsubscribe-7d"] == "guardrail"
    # The activation funnel, step by step per variant: each step a subset of the one before.
    funnel = next(m for m in snapshot.outputs["metrics"] if m["key"] == "activation-funnel-14d")
    assert funnel["role"] == "secondary"
    for variant in funnel["variants"]:
        reached = [step["units"] for step in variant["steps"]]
        assert len(reached) == 3
        assert variant["units"] >= reached[0] >= reached[1] >= reached[2] > 0
        assert variant["value"] == pytest.approx(reached[2] / variant["units"])

    # Each demo plan has its numbers: the engine's size for the demo baseline and MDE. The
    # checklist comes from the activation template, its plan frozen at the (backdated) start.
    size = plan(PowerRequest(baseline_rate=DEMO_AHA_7D_BASELINE, mde=0.10))
    template = ExperimentTemplate.objects.get(workspace=workspace, key=ACTIVATION_TEMPLATE_KEY)
    template_size = plan(
        PowerRequest(baseline_rate=DEMO_AHA_7D_BASELINE, mde=ACTIVATION_TEMPLATE_MDE)
    )
    assert template.planned_units_per_variant == template_size.sample_size_per_variant
    assert checklist.planned_sample_size_per_variant == template_size.sample_size_per_variant
    assert checklist.planned_duration_days == ACTIVATION_TEMPLATE_RUNTIME_DAYS
    assert checklist.planned_mde == ACTIVATION_TEMPLATE_MDE
    frozen = checklist.plan.frozen
    assert frozen["template"] == ACTIVATION_TEMPLATE_KEY
    assert frozen["primary_metric"]["key"] == "aha-7d"
    assert frozen["guardrail_metrics"] == [
        {"key": "unsubscribe-7d", "name": Metric.objects.get(key="unsubscribe-7d").name}
    ]
    assert checklist.plan.frozen_at == phase.started_at
    decision = experiment_results(experiment=checklist).decision
    assert decision.clause  # decided by a clause of the frozen rule
    assert f"{checklist.key}, by its frozen rule: {decision.label}" in output

    toolbar = Experiment.objects.get(workspace=workspace, key="editor-toolbar")
    assert toolbar.planned_sample_size_per_variant == size.sample_size_per_variant
    assert toolbar.status == ExperimentStatus.CONCLUDED
    assert toolbar.decision == Decision.ITERATE
    assert toolbar.decision_rationale
    assert ResultSnapshot.objects.filter(experiment=toolbar).count() == 1
    # Its secondary quantile metric (p75 hours to the first document): nothing was planted.
    p75 = next(
        m
        for m in ResultSnapshot.objects.get(experiment=toolbar).outputs["metrics"]
        if m["key"] == "time-to-value-p75"
    )
    (same,) = p75["comparisons"]
    assert (p75["quantile"], same["status"], same["verdict"]) == (0.75, "ok", "inconclusive")
    assert same["ci_low"] < 0 < same["ci_high"]
    assert "the p75 of Time to first document" in p75["summary"]
    learning = Learning.objects.get(experiment=toolbar)
    assert learning.source == Source.EXPERIMENT
    assert learning.primary_result  # the numbers of the snapshot
    assert "Concluded 'editor-toolbar': iterate." in output

    # 3. An objective for the quarter with two key results on metrics and computed check-ins.
    objective = Objective.objects.get(workspace=workspace, title=OBJECTIVE_TITLE)
    assert objective.quarter
    key_results = list(objective.key_results.select_related("metric"))
    assert len(key_results) == len(DEMO_KEY_RESULTS) == 2
    assert {kr.metric.key for kr in key_results} == {"aha-7d", "retention-d7"}
    for kr in key_results:
        assert kr.check_ins.filter(value__isnull=False).count() >= 2
        assert kr.baseline is not None
        assert kr.target > kr.baseline
    # The running checklist serves the Aha key result: its forecast counts what it would add.
    aha = next(kr for kr in key_results if kr.metric.key == "aha-7d")
    assert list(checklist.key_results.all()) == [aha]
    assert "Linked 'onboarding-checklist' to the key result" in output

    # 4. Manual learnings with product areas.
    manual = Learning.objects.filter(workspace=workspace, experiment__isnull=True)
    assert manual.count() == len(DEMO_LEARNINGS)
    assert {lrn.source for lrn in manual} == {Source.INTERVIEW, Source.RESEARCH}
    assert all(lrn.product_area_id for lrn in manual)

    # 5. A second run writes nothing.
    before = _content_state(workspace)
    second = _load(*CONTENT_ARGS)
    assert _content_state(workspace) == before
    assert "not recomputing" in second
    assert "Manual learnings: 3 (0 new)." in second
    assert "already there" in second
