"""What the demo workspace shows beyond raw events and metrics, made through the apps' services.

``demo_content_load`` runs after ``load_demo`` has stored the events and defined the metrics:

1. the KPI settings docs/outcomes.md prescribes for Inkwell, then a full KPI computation,
   synchronously (``kpis_refresh`` over the whole history, as the first hourly refresh would);
2. the Growth team's experiment template ``activation-test`` and the two planted experiments:
   ``onboarding-checklist`` (created from the template and kept running; its frozen rule
   decides on the planted +15 %) and ``editor-toolbar``
   (the A/A test, concluded with "iterate", which records its learning through the
   ``experiments.hooks`` → learnings hook on commit), each started, its exposures synced from
   the ``$exposure`` events and analysed into a ``ResultSnapshot``;
3. an objective for the quarter with two key results on demo metrics and weekly computed
   check-ins; the running ``onboarding-checklist`` serves the first (its forecast counts what
   the checklist would add if shipped);
4. a few manual learnings (interviews, research) with product areas;
5. the last quarter's 10% holdout planted in the data (``QUARTER_HOLDOUT``: its period ends
   at the data's end, its seed is the planted one, so the server holds out the units the data
   held out), with its final cumulative-impact report (everyone else against the holdout on
   the key-result metrics: the welcome tour, shipped to everyone else at the holdout's start,
   and the checklist, shipped after its run); and a 5%
   holdout for the next quarter, starting at the data's end (the demo's "now"): the holdout
   page shows it running, and the SDK payload gates both experiments on it.

Every step is idempotent: it looks for what an earlier run made (by key or title) and skips
it, so a second run writes nothing and takes a moment.

It stays one module of about 690 lines on purpose: it is the demo's one script, read top to
bottom as the story of the demo workspace; each step is a short function calling the apps'
services, and split by app it would hide the order the steps depend on.

The one write that is not a service call: the demo's events were generated *before* the
experiments exist, so a phase started "now" would contain none of them. After
``experiment_start`` the phase's (and the experiment's) ``started_at`` is moved back to the
moment the planted run began (``starts_days_before_end`` before the data's end), as if the
experiment had been started then (and its plan's ``frozen_at`` with it). The design service has
no way to backdate a phase, and nothing else about the experiment changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from experiments.contracts import AnalysisOutputs, ComparisonResult
from experiments.holdouts.models import Holdout
from experiments.holdouts.services import HoldoutInput, holdout_create, holdout_report_create
from experiments.models import (
    Decision,
    Experiment,
    ExperimentPlan,
    ExperimentStatus,
    ExperimentTemplate,
    Phase,
    ResultSnapshot,
)
from experiments.result_selectors import experiment_results
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.design import (
    ExperimentDesign,
    VariantSpec,
    experiment_create,
    experiment_update,
)
from experiments.services.exposures import EVENT_SETTLE_SECONDS, exposures_sync_from_events
from experiments.services.lifecycle import experiment_conclude, experiment_start
from experiments.services.plans import PLAN_FIELDS
from experiments.services.templates import (
    TemplateSpec,
    experiment_create_from_template,
    template_create,
)
from experiments.stats import PowerRequest, plan
from experiments.traffic import daily_traffic_read, traffic_source
from learnings.models import Learning, Source
from learnings.services import learning_record_from_experiment
from learnings.services.areas import product_area_get_or_create_path
from learnings.services.learnings import learning_create
from metrics.public import Metric
from outcomes.kpis.refresh import kpis_refresh
from outcomes.kpis.settings import kpi_settings_get, kpi_settings_update
from outcomes.okrs.models import KeyResult, Objective
from outcomes.okrs.progress import key_result_measure, period_start_instant
from outcomes.okrs.services.check_ins import key_result_check_in_compute
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from plg_platform.demo.planted import (
    CHECKLIST_AHA_7D_MULTIPLIER,
    EDITOR_TOOLBAR,
    ONBOARDING_CHECKLIST,
    QUARTER_HOLDOUT,
    WELCOME_TOUR_AHA_7D_MULTIPLIER,
    PlantedExperiment,
)
from plg_platform.models import Workspace

Say = Callable[[str], None]

# --- 1. KPI settings (docs/outcomes.md, "For the demo's Inkwell data") ------------------------
DEMO_KPI_SETTINGS: dict[str, Any] = {
    "aha_event": "document_created",
    "core_events": ["document_created", "document_shared", "invite_sent", "feature_used"],
    "feature_events": ["feature_used", "document_shared"],
    "feature_property": "feature",
    "paid_event": "upgrade",
    "revenue_event": "upgrade",
    "revenue_period": "annual",
    "pql_event": "document_created",
    "pql_unit": "account",
    "excluded_activity_events": ["$exposure", "notifications_unsubscribed"],
    "success_moments": [
        {"name": "Setup", "event": "profile_completed", "window_days": 1},
        {"name": "Aha", "event": "document_created", "window_days": 7},
        {"name": "Eureka", "event": "document_shared", "window_days": 14},
        {
            "name": "Habit",
            "event": "document_created",
            "window_days": 14,
            "min_count": 3,
            "min_distinct_days": 3,
        },
    ],
    "feedback_topics": [
        {"topic": "Offline mode", "keywords": ["offline"]},
        {"topic": "Mobile co-editing", "keywords": ["mobile"]},
        {"topic": "Dark mode", "keywords": ["dark"]},
        {"topic": "Markdown export", "keywords": ["markdown"]},
        {"topic": "Search", "keywords": ["search"]},
        {"topic": "Slack integration", "keywords": ["slack"]},
        {"topic": "Team templates", "keywords": ["template"]},
        {"topic": "Version diff", "keywords": ["version", "diff"]},
        {"topic": "2FA / SSO", "keywords": ["two-factor", "sso"]},
    ],
}


# --- 2. Experiments -----------------------------------------------------------------------------
CHECKLIST_DESIGN = ExperimentDesign(
    key=ONBOARDING_CHECKLIST.key,
    name="Onboarding checklist",
    hypothesis_change="showing new users a three-step onboarding checklist after signing up",
    hypothesis_audience="every new user in their first week",
    hypothesis_outcome="raise 7-day Aha (first document within 7 days, aha-7d) by 15% or more",
    hypothesis_evidence=(
        "interviews showed new users do not know where to start, and users who set "
        "up their workspace reach Aha far more often"
    ),
    variants=(
        VariantSpec("control", 0.5, "Control", is_control=True),
        VariantSpec("checklist", 0.5, "Checklist"),
    ),
    primary_metric="aha-7d",
    secondary_metrics=("first-share-7d", "activation-funnel-14d"),
    guardrail_metrics=("unsubscribe-7d",),
    team="Growth",
    product_area="Onboarding › Checklist",
    funnel_stage="activation",
    planned_mde=0.15,
)
TOOLBAR_DESIGN = ExperimentDesign(
    key=EDITOR_TOOLBAR.key,
    name="Compact editor toolbar",
    hypothesis_change="replacing the editor's two-row toolbar with a compact one-row toolbar",
    hypothesis_audience="every user from their first session",
    hypothesis_outcome="raise 7-day Aha (aha-7d)",
    hypothesis_evidence="session recordings showed new users hunting for buttons",
    variants=(
        VariantSpec("control", 0.5, "Control", is_control=True),
        VariantSpec("compact", 0.5, "Compact toolbar"),
    ),
    primary_metric="aha-7d",
    secondary_metrics=("documents-30d", "time-to-value-p75"),
    guardrail_metrics=("unsubscribe-7d",),
    team="Editor",
    product_area="Editor › Toolbar",
    funnel_stage="activation",
    planned_mde=0.10,
)
# The Growth team's template for activation tests, which the checklist is created from: a big
# change worth detecting (onboarding changes they ship must move Aha by 15 %), four weeks at
# least, the units the engine plans for that change from the baseline below, and the standard
# rule (ship a winner with no guardrail harmed once the plan is complete; roll back on harm or a
# loss). The planted +15 % with ~1,150 users per arm meets the plan, so the rule decides.
ACTIVATION_TEMPLATE_KEY = "activation-test"
ACTIVATION_TEMPLATE_MDE = 0.15
ACTIVATION_TEMPLATE_RUNTIME_DAYS = 28
# The plan each demo team made before starting: the 7-day Aha rate they saw before the test
# (the generator's rate, averaged over signup channels and setup: about 43 %), the change
# worth detecting in the design, and the daily traffic the KPIs show for the experiment's stage.
DEMO_AHA_7D_BASELINE = 0.43


def activation_template_spec() -> TemplateSpec:
    """The Growth team's activation-test template (the units from the engine's plan)."""
    units = plan(
        PowerRequest(baseline_rate=DEMO_AHA_7D_BASELINE, mde=ACTIVATION_TEMPLATE_MDE)
    ).sample_size_per_variant
    return TemplateSpec(
        key=ACTIVATION_TEMPLATE_KEY,
        name="Activation test",
        description=(
            "For onboarding and first-session changes: decided on 7-day Aha, guarded by "
            "unsubscribes; ship only a clear win that harms no guardrail, after four weeks and "
            "the planned units."
        ),
        primary_metric="aha-7d",
        secondary_metrics=("first-share-7d", "activation-funnel-14d"),
        guardrail_metrics=("unsubscribe-7d",),
        planned_mde=ACTIVATION_TEMPLATE_MDE,
        min_runtime_days=ACTIVATION_TEMPLATE_RUNTIME_DAYS,
        planned_units_per_variant=units,
    )


def demo_plan(*, workspace: Workspace, design: ExperimentDesign) -> ExperimentDesign:
    """Return ``design`` with its planned units per variant and duration filled in."""
    traffic = daily_traffic_read(
        workspace=workspace, source=traffic_source(design.funnel_stage)
    ).per_day
    planned = plan(
        PowerRequest(
            baseline_rate=DEMO_AHA_7D_BASELINE,
            mde=design.planned_mde,
            alpha=design.alpha,
            n_variants=len(design.variants),
            daily_traffic=traffic * design.coverage if traffic else None,
        )
    )
    return replace(
        design,
        planned_sample_size_per_variant=planned.sample_size_per_variant,
        planned_duration_days=planned.duration_days,
    )


TOOLBAR_RATIONALE = (
    "No detectable difference on 7-day Aha or documents created; the compact toolbar does not "
    "move activation. Iterate: test a bigger change to the first-session editor instead."
)


# --- 3. OKRs ------------------------------------------------------------------------------------
OBJECTIVE_TITLE = "New users reach their first document faster and come back"
OBJECTIVE_WHY = (
    "Activation is our biggest lever: users with a first document in week one retain far "
    "better, and paid search users lag every other channel."
)


@dataclass(frozen=True)
class DemoKeyResult:
    title: str
    metric_key: str
    relative_target: float  # target = baseline × (1 + this), for an increase
    fallback_target: float  # when there is no baseline to aim from (little data)
    experiment: str = ""  # a running demo experiment that serves it


DEMO_KEY_RESULTS = (
    DemoKeyResult(
        "Raise 7-day Aha of new users by 10 %",
        "aha-7d",
        0.10,
        0.55,
        experiment=ONBOARDING_CHECKLIST.key,
    ),
    DemoKeyResult("Raise day-7 retention of new users by 8 %", "retention-d7", 0.08, 0.32),
)
CHECK_IN_EVERY_DAYS = 7


# --- 4. Manual learnings ------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoLearning:
    title: str
    source: str
    product_area: str
    hypothesis: str
    learned: str
    funnel_stage: str
    loop_stage: str
    tags: tuple[str, ...]
    days_before_end: int


DEMO_LEARNINGS = (
    DemoLearning(
        title="New users do not know what to write first",
        source=Source.INTERVIEW,
        product_area="Onboarding › Checklist",
        hypothesis="A guided first step would get new users to a first document sooner.",
        learned=(
            "8 of 12 interviewed trial users opened the editor and left without writing; most "
            "said they did not know what Inkwell was best for. Templates and a short checklist "
            "were the two things they asked for."
        ),
        funnel_stage="activation",
        loop_stage="engage",
        tags=("onboarding", "interviews"),
        days_before_end=100,
    ),
    DemoLearning(
        title="Offline mode is the most requested feature, by count and by ARR",
        source=Source.RESEARCH,
        product_area="Editor › Offline",
        hypothesis="Feature requests from paying accounts point to what to build next.",
        learned=(
            "Grouping 90 days of in-app feedback by topic, offline mode leads both by number of "
            "requests (about a quarter) and by the ARR of requesting accounts, ahead of mobile "
            "co-editing and dark mode."
        ),
        funnel_stage="retention",
        loop_stage="delight",
        tags=("feedback", "roadmap"),
        days_before_end=20,
    ),
    DemoLearning(
        title="Teams that invite a collaborator in the first two weeks stay much longer",
        source=Source.RESEARCH,
        product_area="Collaboration › Invites",
        hypothesis="Collaboration early on (Eureka) predicts retention.",
        learned=(
            "Owners whose first collaborator joined within 14 days of signing up are retained "
            "at day 30 far more often than owners without one. Correlation, not causation: "
            "an experiment on invite prompts should test it."
        ),
        funnel_stage="referral",
        loop_stage="attract",
        tags=("eureka", "retention"),
        days_before_end=45,
    ),
)


def data_end(workspace: Workspace) -> datetime:
    """The moment the demo data ends: the workspace's creation, to the minute."""
    return workspace.created_at.replace(second=0, microsecond=0)


def demo_content_load(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    """Create (or find) the demo's KPI cache, experiments, OKRs and learnings; report each."""
    demo_kpis(workspace=workspace, actor=actor, say=say)
    demo_experiments(workspace=workspace, actor=actor, say=say)
    demo_okrs(workspace=workspace, actor=actor, say=say)
    demo_learnings(workspace=workspace, actor=actor, say=say)
    demo_holdout(workspace=workspace, actor=actor, say=say)


# --- 1 ------------------------------------------------------------------------------------------
def demo_kpis(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    kpi_settings_update(workspace=workspace, changes=DEMO_KPI_SETTINGS, actor=actor)
    settings = kpi_settings_get(workspace=workspace)
    if settings.computed_through is not None:
        say(f"KPIs already computed through {settings.computed_through}; not recomputing.")
        return
    say("Computing the KPIs over the whole history (synchronously, no worker needed)...")
    started = timezone.now()
    result = kpis_refresh(workspace=workspace, full=True)
    seconds = (timezone.now() - started).total_seconds()
    first, last = result.days or (None, None)
    say(
        f"Computed the KPIs from {first} to {last}: {result.steps} steps, "
        f"{result.rows_written:,} cached values in {seconds:.1f} s."
    )


# --- 2 ------------------------------------------------------------------------------------------
def demo_template(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> ExperimentTemplate:
    template = ExperimentTemplate.objects.filter(
        workspace=workspace, key=ACTIVATION_TEMPLATE_KEY
    ).first()
    if template is None:
        template = template_create(
            workspace=workspace, spec=activation_template_spec(), actor=actor
        )
        say(f"Created the experiment template {template.name!r}.")
    return template


def demo_experiments(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    template = demo_template(workspace=workspace, actor=actor, say=say)
    checklist = _experiment(
        workspace=workspace,
        actor=actor,
        design=CHECKLIST_DESIGN,
        planted=ONBOARDING_CHECKLIST,
        template=template,
    )
    _analyse(checklist, say)
    decision = experiment_results(experiment=checklist).decision
    if decision is not None:
        say(f"  {checklist.key}, by its frozen rule: {decision.label} ({decision.clause}).")
    toolbar = _experiment(
        workspace=workspace, actor=actor, design=TOOLBAR_DESIGN, planted=EDITOR_TOOLBAR
    )
    _analyse(toolbar, say)
    if toolbar.status != ExperimentStatus.CONCLUDED:
        # The learnings hook records the learning once this commits.
        experiment_conclude(
            experiment=toolbar, decision=Decision.ITERATE, rationale=TOOLBAR_RATIONALE, actor=actor
        )
        say(f"Concluded {toolbar.key!r}: iterate.")
    if not Learning.objects.filter(experiment=toolbar).exists():
        # The hook failed (it only logs) or did not run: record the learning directly.
        learning_record_from_experiment(experiment=toolbar, actor=actor)
        say("Recorded the learning directly (the on-commit hook had not run yet).")
    learning = Learning.objects.get(experiment=toolbar)
    say(f"Learning of {toolbar.key!r}: {learning.title!r} (outcome {learning.outcome or '-'}).")


def _experiment(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser,
    design: ExperimentDesign,
    planted: PlantedExperiment,
    template: ExperimentTemplate | None = None,
) -> Experiment:
    experiment = Experiment.objects.filter(workspace=workspace, key=design.key).first()
    if experiment is not None:
        return experiment
    if template is not None:
        # The template brings the plan: metrics, MDE, runtime, units, method and rule.
        values = {k: v for k, v in vars(design).items() if k not in PLAN_FIELDS}
        experiment = experiment_create_from_template(
            workspace=workspace, template=template, design=values, actor=actor
        )
    else:
        design = demo_plan(workspace=workspace, design=design)
        experiment = experiment_create(workspace=workspace, design=design, actor=actor)
    experiment_start(experiment=experiment, actor=actor)
    # The one adjustment no service offers: start the phase when the planted run began, so
    # the exposures generated before the experiment existed fall inside it (module docstring).
    began = data_end(workspace) - timedelta(days=planted.starts_days_before_end)
    Phase.objects.filter(experiment=experiment, number=1).update(started_at=began)
    Experiment.objects.filter(pk=experiment.pk).update(started_at=began)
    ExperimentPlan.objects.filter(experiment=experiment).update(frozen_at=began)
    experiment.refresh_from_db()
    return experiment


def _analyse(experiment: Experiment, say: Say) -> None:
    snapshot = ResultSnapshot.objects.filter(experiment=experiment).order_by("-pk").first()
    if snapshot is None:
        # Every demo event is committed already: no open ingestion transaction can still add
        # one, so the settle delay meant for live traffic is skipped by syncing "as of" later.
        synced = exposures_sync_from_events(
            experiment=experiment,
            full=True,
            now=timezone.now() + timedelta(seconds=EVENT_SETTLE_SECONDS),
        )
        started = timezone.now()
        computed = experiment_analyze(experiment=experiment, sync_exposures=False)
        seconds = (timezone.now() - started).total_seconds()
        snapshot = snapshot_store(experiment=experiment, computed=computed, run_seconds=seconds)
        say(
            f"Started {experiment.key!r}, synced {synced.units_written:,} exposed units, "
            f"analysed in {seconds:.1f} s."
        )
    say(f"  {experiment.key}: {primary_summary(snapshot)}")


def primary_comparison(snapshot: ResultSnapshot) -> ComparisonResult | None:
    """The overall primary metric's first comparison (treatment vs control) of a snapshot."""
    primary = AnalysisOutputs.from_json(snapshot.outputs).primary
    return primary.comparisons[0] if primary is not None and primary.comparisons else None


def primary_summary(snapshot: ResultSnapshot) -> str:
    comparison = primary_comparison(snapshot)
    if comparison is None or comparison.effect is None:
        return "primary metric: no result yet."
    return (
        f"{comparison.variant} vs control on the primary metric: "
        f"{_pct(comparison.effect)} ({_pct(comparison.ci_low)} to "
        f"{_pct(comparison.ci_high)}), p = {_num(comparison.p_value)}."
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# --- 3 ------------------------------------------------------------------------------------------
def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def demo_okrs(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    quarter = quarter_of(timezone.localdate(data_end(workspace)))
    objective = Objective.objects.filter(
        workspace=workspace, title=OBJECTIVE_TITLE, quarter=quarter
    ).first()
    if objective is None:
        objective = objective_create(
            workspace=workspace,
            title=OBJECTIVE_TITLE,
            why_it_matters=OBJECTIVE_WHY,
            owner_id=actor.pk,
            team="Growth",
            quarter=quarter,
            actor=actor,
        )
        say(f"Created the objective {OBJECTIVE_TITLE!r} for {quarter}.")
    else:
        say(f"Objective {OBJECTIVE_TITLE!r} ({quarter}) already there.")
    for spec in DEMO_KEY_RESULTS:
        key_result = KeyResult.objects.filter(objective=objective, title=spec.title).first()
        if key_result is None:
            key_result = key_result_create(
                objective=objective,
                title=spec.title,
                metric_key=spec.metric_key,
                target=_target(objective, spec),
                start_event="signed_up",
                actor=actor,
            )
        written = _check_ins(key_result)
        if written:
            say(
                f"  Key result {spec.title!r}: baseline {_num(key_result.baseline)}, target "
                f"{_num(key_result.target)}, {written} computed check-ins."
            )
        if spec.experiment:
            _link(key_result, spec.experiment, actor, say)


def _link(key_result: KeyResult, key: str, actor: AbstractBaseUser, say: Say) -> None:
    """Link the running experiment ``key`` to the key result it serves (its forecast counts
    what the experiment would add if shipped), unless it is linked already."""
    experiment = Experiment.objects.filter(workspace=key_result.workspace, key=key).first()
    if experiment is None or experiment.key_results.filter(pk=key_result.pk).exists():
        return
    linked = [*experiment.key_results.values_list("pk", flat=True), key_result.pk]
    experiment_update(experiment=experiment, changes={"key_results": linked}, actor=actor)
    say(f"  Linked {key!r} to the key result {key_result.title!r}.")


def _target(objective: Objective, spec: DemoKeyResult) -> float:
    """Aim relative to the value at the period's start (what the baseline will be)."""
    probe = KeyResult(
        workspace=objective.workspace,
        objective=objective,
        metric=Metric.objects.get(workspace=objective.workspace, key=spec.metric_key),
        start_event="signed_up",
    )
    measured = key_result_measure(
        key_result=probe, as_of=period_start_instant(objective, objective.workspace.timezone)
    )
    if not measured.value:
        return spec.fallback_target
    return round(min(measured.value * (1 + spec.relative_target), 0.99), 3)


def _check_ins(key_result: KeyResult) -> int:
    """Computed check-ins every week of the period up to the data's end, and the last day;
    none when the key result has them already."""
    if key_result.check_ins.exists():
        return 0
    objective = key_result.objective
    end = data_end(key_result.workspace)
    moment = period_start_instant(objective, key_result.workspace.timezone)
    moments: list[datetime] = []
    while moment < end:
        moments.append(moment + timedelta(hours=12))
        moment += timedelta(days=CHECK_IN_EVERY_DAYS)
    moments.append(end)
    written = 0
    for now in moments:
        if key_result_check_in_compute(key_result=key_result, now=now) is not None:
            written += 1
    key_result.refresh_from_db()
    return written


# --- 4 ------------------------------------------------------------------------------------------
def demo_learnings(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    created = 0
    end_day = timezone.localdate(data_end(workspace))
    for spec in DEMO_LEARNINGS:
        if Learning.objects.filter(workspace=workspace, title=spec.title).exists():
            continue
        area = product_area_get_or_create_path(
            workspace=workspace, path=spec.product_area, actor=actor
        )
        learning_create(
            workspace=workspace,
            actor=actor,
            title=spec.title,
            source=spec.source,
            hypothesis=spec.hypothesis,
            learned=spec.learned,
            funnel_stage=spec.funnel_stage,
            loop_stage=spec.loop_stage,
            product_area=area,
            team="Growth",
            learned_on=end_day - timedelta(days=spec.days_before_end),
            tags=spec.tags,
        )
        created += 1
    say(f"Manual learnings: {len(DEMO_LEARNINGS)} ({created} new).")


# --- 5 ------------------------------------------------------------------------------------------
DEMO_HOLDOUT_KEY = "next-quarter"
DEMO_HOLDOUT_SHARE = 0.05
DEMO_HOLDOUT_DAYS = 91


def demo_holdout(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> None:
    demo_past_holdout(workspace=workspace, actor=actor, say=say)
    if Holdout.objects.filter(workspace=workspace, key=DEMO_HOLDOUT_KEY).exists():
        say(f"Holdout {DEMO_HOLDOUT_KEY!r} already there.")
        return
    start = max(data_end(workspace), timezone.now())
    holdout_create(
        workspace=workspace,
        data=HoldoutInput(
            key=DEMO_HOLDOUT_KEY,
            name="Next-quarter holdout",
            description="5% of users see none of next quarter's experiments or shipped changes.",
            share=DEMO_HOLDOUT_SHARE,
            starts_at=start,
            ends_at=start + timedelta(days=DEMO_HOLDOUT_DAYS),
        ),
        actor=actor,
        now=start,
    )
    say(f"Created the {DEMO_HOLDOUT_SHARE:.0%} holdout {DEMO_HOLDOUT_KEY!r} for the next quarter.")


def demo_past_holdout(*, workspace: Workspace, actor: AbstractBaseUser, say: Say) -> Holdout:
    """The quarter's holdout planted in the data (``QUARTER_HOLDOUT``), created as it was
    (its start, end and seed, so the server picks the units the data held out), ended at the
    data's end, with its final cumulative-impact report."""
    planted = QUARTER_HOLDOUT
    holdout = Holdout.objects.filter(workspace=workspace, key=planted.key).first()
    if holdout is None:
        end = data_end(workspace)
        start = end - timedelta(days=planted.starts_days_before_end)
        # Created "as of" its start: the holdout service refuses a start in the past, since
        # units assigned meanwhile were not held out; in the demo data they were.
        holdout = holdout_create(
            workspace=workspace,
            data=HoldoutInput(
                key=planted.key,
                name="Last-quarter holdout",
                description=(
                    f"{planted.share:.0%} of users saw none of the quarter's experiments or "
                    "shipped changes (the welcome tour, shipped at its start, and the "
                    "onboarding checklist, rolled out after its test)."
                ),
                share=planted.share,
                starts_at=start,
                ends_at=end,
                hash_seed=planted.seed,
            ),
            actor=actor,
            now=start,
        )
        say(f"Created the ended {planted.share:.0%} holdout {planted.key!r} of the last quarter.")
    report = holdout.reports.filter(final=True).first()
    if report is None:
        # As for the exposures: every demo event is committed, so no settle delay.
        now = timezone.now() + timedelta(seconds=EVENT_SETTLE_SECONDS)
        report = holdout_report_create(holdout=holdout, now=max(now, holdout.ends_at))
    say(
        f"  {planted.key}: shipped to everyone else: the welcome tour from its start (7-day Aha "
        f"x{WELCOME_TOUR_AHA_7D_MULTIPLIER:g}), the checklist after its run "
        f"(x{CHECKLIST_AHA_7D_MULTIPLIER:g}); held-out users got neither."
    )
    for entry in report.results["metrics"]:
        say(f"  {planted.key}: {holdout_impact_summary(entry)}")
    return holdout


def holdout_impact_summary(entry: dict[str, Any]) -> str:
    """One line of a report's metric: everyone else against the holdout."""
    if entry["lift"] is None:
        return f"{entry['name']}: no result yet ({entry['message'] or entry['status']})."
    return (
        f"{entry['name']}: everyone else {_pct(entry['lift'])} against the holdout "
        f"({_pct(entry['ci_low'])} to {_pct(entry['ci_high'])}; "
        f"{entry['holdout_units']:,} held-out and {entry['general_units']:,} other users)."
    )
