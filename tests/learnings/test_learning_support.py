"""Builders shared by the learnings tests (this module holds no tests itself).

``concluded_experiment`` makes a real experiment (design → start → analysis snapshot →
conclusion) whose snapshot carries comparisons computed by our statistics engine from
sufficient statistics, in the shape ``experiments.selectors.experiment_result_summary`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone

from experiments.models import Experiment, ResultSnapshot
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_conclude, experiment_start
from experiments.stats import ENGINE_VERSION, AnalysisRequest, VariantStatistics, analyze
from learnings.models import Learning, Source
from learnings.services.areas import product_area_get_or_create_path
from learnings.services.learnings import learning_create
from plg_platform.models import Workspace


@dataclass(frozen=True)
class MetricResult:
    """One metric's outcome in a two-arm proportion test: (units, conversions) per arm."""

    key: str
    role: str  # primary | secondary | guardrail
    control: tuple[int, int]
    treatment: tuple[int, int]
    tags: tuple[str, ...] = ()
    higher_is_better: bool = True
    verdict: str | None = None  # None: derive from significance like the analysis would


def analysed_comparison(result: MetricResult, alpha: float = 0.05) -> dict[str, Any]:
    """Compare the arms with the statistics engine; return the snapshot's comparison JSON."""
    response = analyze(
        AnalysisRequest(
            variants=(
                VariantStatistics("control", *result.control),
                VariantStatistics("treatment", *result.treatment),
            ),
            metric_type="proportion",
            alpha=alpha,
            higher_is_better=result.higher_is_better,
            metric_name=result.key,
        )
    )
    c = response.comparisons[0]
    significant = c.p_value is not None and c.p_value < alpha
    if result.verdict is not None:
        verdict = result.verdict
    elif significant:
        verdict = "win" if (c.effect > 0) == result.higher_is_better else "loss"
    else:
        verdict = "inconclusive"
    return {
        "variant": "treatment",
        "effect": c.effect,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "chance_to_win": c.chance_to_win,
        "significant": significant,
        "verdict": verdict,
        "summary": c.summary,
    }


def snapshot_outputs(results: list[MetricResult], alpha: float = 0.05) -> dict[str, Any]:
    return {
        "metrics": [
            {
                "key": r.key,
                "name": r.key.replace("-", " "),
                "role": r.role,
                "tags": list(r.tags),
                "direction": "up" if r.higher_is_better else "down",
                "segment": None,
                "comparisons": [analysed_comparison(r, alpha)],
            }
            for r in results
        ]
    }


def concluded_experiment(
    workspace: Workspace,
    make_metric,
    *,
    key: str,
    results: list[MetricResult],
    name: str = "",
    product_area: str = "",
    funnel_stage: str = "",
    team: str = "",
    decision: str = "ship",
    rationale: str = "It won.",
    change: str = "show an onboarding checklist",
    concluded_at: datetime | None = None,
) -> Experiment:
    """Design, start, analyse (one snapshot) and conclude an experiment."""
    for r in results:
        make_metric(workspace, f"{key}-{r.key}", tags=list(r.tags))
    by_role = {
        role: [f"{key}-{r.key}" for r in results if r.role == role]
        for role in ("primary", "secondary", "guardrail")
    }
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key=key,
            name=name or key.replace("-", " ").capitalize(),
            hypothesis_change=change,
            hypothesis_outcome="raise activation",
            variants=(
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("treatment", 0.5),
            ),
            primary_metric=by_role["primary"][0],
            secondary_metrics=tuple(by_role["secondary"]),
            guardrail_metrics=tuple(by_role["guardrail"]),
            team=team,
            product_area=product_area,
            funnel_stage=funnel_stage,
        ),
        actor=None,
    )
    experiment_start(experiment=experiment, actor=None)
    outputs = snapshot_outputs(results)
    for metric in outputs["metrics"]:
        metric["key"] = f"{key}-{metric['key']}"
    ResultSnapshot.objects.create(
        experiment=experiment,
        phase=experiment.phases.get(),
        data_cutoff=timezone.now(),
        engine_version=ENGINE_VERSION,
        settings={"engine": "frequentist", "difference": "relative"},
        inputs={},
        outputs=outputs,
        health={"srm": {"flag": False}},
        run_seconds=0.01,
    )
    experiment_conclude(
        experiment=experiment,
        decision=decision,
        rationale=rationale,
        actor=None,
        variant="treatment" if decision == "ship" else "",
    )
    if concluded_at is not None:
        Experiment.objects.filter(pk=experiment.pk).update(concluded_at=concluded_at)
        experiment.refresh_from_db()
    return experiment


def manual_learning(
    workspace: Workspace,
    title: str,
    *,
    learned: str = "",
    hypothesis: str = "",
    area: str = "",
    source: str = Source.RESEARCH,
    learned_on: date | None = None,
    **fields: Any,
) -> Learning:
    product_area = (
        product_area_get_or_create_path(workspace=workspace, path=area, actor=None)
        if area
        else None
    )
    return learning_create(
        workspace=workspace,
        actor=None,
        title=title,
        source=source,
        learned=learned,
        hypothesis=hypothesis,
        product_area=product_area,
        learned_on=learned_on or date(2026, 3, 1),
        **fields,
    )


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)
