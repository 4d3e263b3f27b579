"""Learnings from concluded experiments and by hand: numbers, effect tags, overrides."""

from __future__ import annotations

from datetime import date
from statistics import NormalDist

import pytest
from django.utils import timezone

from experiments.contracts import ComparisonSummary
from experiments.models import ResultSnapshot
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from learnings.models import EffectOverride, Learning
from learnings.services import learning_record_from_experiment
from learnings.services.effects import (
    REASON_REQUIRED,
    effect_derive,
    learning_effect_override,
)
from learnings.services.learnings import (
    BAD_URL,
    MANUAL_SOURCE_ONLY,
    Attachment,
    KeyResultRef,
    learning_create,
    learning_update,
)
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import AuditLog
from tests.learnings.test_learning_support import (
    MetricResult,
    analysed_comparison,
    at,
    concluded_experiment,
)

pytestmark = pytest.mark.django_db

AHA = MetricResult("aha", "primary", (1000, 100), (1000, 140), tags=("activation", "acquisition"))
D7_FLAT = MetricResult("d7", "secondary", (1000, 300), (1000, 305), tags=("retention",))
D7_DOWN = MetricResult("d7", "secondary", (2000, 600), (2000, 500), tags=("retention",))
ERRORS = MetricResult("errors", "guardrail", (1000, 50), (1000, 52), higher_is_better=False)


def _record(workspace, make_metric, results, **kwargs) -> Learning:
    experiment = concluded_experiment(workspace, make_metric, results=results, **kwargs)
    return learning_record_from_experiment(experiment=experiment, actor=None)


def test_concluding_records_the_numbers_the_tags_and_the_effects(workspace, make_metric):
    learning = _record(
        workspace,
        make_metric,
        [AHA, D7_FLAT, ERRORS],
        key="checklist",
        name="Onboarding checklist",
        product_area="Editor › Onboarding",
        funnel_stage="activation",
        team="Growth",
        concluded_at=at(2026, 5, 20),
    )
    aha = analysed_comparison(AHA)

    assert learning.source == "experiment"
    assert learning.title == "Onboarding checklist"
    assert learning.hypothesis == "We believe show an onboarding checklist will raise activation."
    assert (learning.decision, learning.decision_variant) == ("ship", "treatment")
    assert learning.rationale == "It won."
    assert learning.product_area.path == "Editor › Onboarding"
    assert (learning.funnel_stage, learning.team) == ("activation", "Growth")
    assert (learning.learned_on, learning.quarter) == (date(2026, 5, 20), "2026-Q2")
    # 14% vs 10% conversion: a relative lift of +40%, significant.
    assert learning.outcome == "win"
    assert learning.impact == pytest.approx(0.4)
    assert learning.primary_result["effect"] == pytest.approx(0.4)
    assert learning.primary_result["p_value"] == aha["p_value"] < 0.05
    z = NormalDist().inv_cdf(0.975)
    assert learning.impact_se == pytest.approx((aha["ci_high"] - aha["ci_low"]) / (2 * z))
    assert [g["metric_key"] for g in learning.guardrail_results] == ["checklist-errors"]
    assert learning.guardrail_results[0]["effect"] == pytest.approx(0.04)
    # Acquisition: the aha metric is tagged acquisition and won. Retention: d7 did not move.
    assert learning.acquisition_effect == "positive"
    assert learning.retention_effect == "inconclusive"
    evidence = learning.effect_evidence["acquisition"]["comparisons"]
    assert [(c["metric_key"], c["verdict"]) for c in evidence] == [("checklist-aha", "win")]
    assert evidence[0]["ci_low"] == aha["ci_low"]
    retention = learning.effect_evidence["retention"]["comparisons"][0]
    assert retention["effect"] == pytest.approx(305 / 300 - 1)
    assert AuditLog.objects.filter(action="learning.record_from_experiment").count() == 1


def test_retention_metric_that_fell_significantly_tags_retention_negative(workspace, make_metric):
    learning = _record(workspace, make_metric, [AHA, D7_DOWN], key="paywall")

    assert learning.retention_effect == "negative"
    number = learning.effect_evidence["retention"]["comparisons"][0]
    assert number["effect"] == pytest.approx(500 / 600 - 1)
    assert number["significant"] is True


def _summary(verdict: str, tags=("retention",), effect=0.1, significant=False, better=True):
    return ComparisonSummary(
        metric_key=f"m-{verdict}-{effect}",
        metric_name="m",
        metric_role="secondary",
        metric_tags=tags,
        higher_is_better=better,
        variant="treatment",
        effect=effect,
        ci_low=None,
        ci_high=None,
        p_value=None,
        chance_to_win=None,
        significant=significant,
        verdict=verdict,
        summary="",
    )


@pytest.mark.parametrize(
    ("comparisons", "expected"),
    [
        ([], ""),
        ([_summary("win", tags=("acquisition",))], ""),  # not a retention metric
        ([_summary("win")], "positive"),
        ([_summary("loss")], "negative"),
        ([_summary("win"), _summary("loss", effect=-0.2)], "inconclusive"),
        ([_summary("flat"), _summary("flat", effect=0.0)], "neutral"),
        ([_summary("flat"), _summary("inconclusive")], "inconclusive"),
        # No verdict from the analysis: significance and the metric's direction decide.
        ([_summary("", effect=0.05, significant=True)], "positive"),
        ([_summary("", effect=0.05, significant=True, better=False)], "negative"),
        ([_summary("", effect=0.05, significant=False)], "inconclusive"),
    ],
)
def test_effect_derivation_rules(comparisons, expected):
    derived = effect_derive(dimension="retention", comparisons=comparisons, variant="treatment")

    assert derived.value == expected


def test_override_needs_a_reason_and_nothing_is_written_without_one(workspace, make_metric):
    learning = _record(workspace, make_metric, [AHA, D7_FLAT], key="needs-reason")

    with pytest.raises(ValidationFailed) as error:
        learning_effect_override(
            learning=learning, dimension="retention", value="positive", reason="  ", actor=None
        )

    assert (error.value.field, error.value.message) == ("reason", REASON_REQUIRED)
    learning.refresh_from_db()
    assert learning.retention_effect == "inconclusive"
    assert not EffectOverride.objects.exists()
    assert not AuditLog.objects.filter(action="learning.effect_override").exists()


def test_override_is_kept_in_history_and_audit_and_can_be_handed_back(
    workspace, make_metric, editor
):
    learning = _record(workspace, make_metric, [AHA, D7_FLAT], key="override")

    learning = learning_effect_override(
        learning=learning,
        dimension="retention",
        value="positive",
        reason="Cohort data after 60 days shows a lift.",
        actor=editor.user,
    )
    assert learning.retention_effect == "positive"
    learning = learning_effect_override(
        learning=learning, dimension="retention", value="", reason="Back to data.", actor=None
    )

    assert learning.retention_effect == "inconclusive"  # the derived value again
    history = list(EffectOverride.objects.order_by("id").values_list("previous", "value", "reason"))
    assert history == [
        ("inconclusive", "positive", "Cohort data after 60 days shows a lift."),
        ("positive", "", "Back to data."),
    ]
    audit = AuditLog.objects.filter(action="learning.effect_override").order_by("id").first()
    assert audit.actor == editor.user
    assert audit.changes["reason"] == "Cohort data after 60 days shows a lift."
    assert (audit.changes["from"], audit.changes["to"]) == ("inconclusive", "positive")


def test_recording_again_refreshes_numbers_but_keeps_overrides_and_edits(workspace, make_metric):
    experiment = concluded_experiment(
        workspace, make_metric, results=[AHA, D7_FLAT], key="again", product_area="Editor"
    )
    learning = learning_record_from_experiment(experiment=experiment, actor=None)
    learning_effect_override(
        learning=learning, dimension="retention", value="positive", reason="Qual data.", actor=None
    )
    learning_update(
        learning=learning, actor=None, changes={"title": "Checklists work", "team": "Core"}
    )
    first_snapshot = learning.result_snapshot_id
    # A later analysis in which retention fell significantly.
    snapshot = experiment.snapshots.get()
    outputs = {"metrics": [m for m in snapshot.outputs["metrics"] if m["key"] == "again-aha"]}
    from tests.learnings.test_learning_support import snapshot_outputs

    later = snapshot_outputs([D7_DOWN])["metrics"][0]
    later["key"] = "again-d7"
    outputs["metrics"].append(later)
    ResultSnapshot.objects.create(
        experiment=experiment,
        phase=snapshot.phase,
        data_cutoff=timezone.now(),
        engine_version=snapshot.engine_version,
        settings=snapshot.settings,
        inputs={},
        outputs=outputs,
        health={},
        run_seconds=0.01,
    )

    learning = learning_record_from_experiment(experiment=experiment, actor=None)

    assert Learning.objects.count() == 1
    assert learning.result_snapshot_id != first_snapshot
    assert learning.effect_evidence["retention"]["derived"] == "negative"
    assert learning.retention_effect == "positive"  # the person's override stands
    assert (learning.title, learning.team) == ("Checklists work", "Core")


def test_only_a_concluded_experiment_leaves_a_learning(workspace, make_metric):
    make_metric(workspace, "draft-aha")
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key="draft",
            name="Draft",
            hypothesis_change="x",
            variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("b", 0.5)),
            primary_metric="draft-aha",
        ),
        actor=None,
    )

    with pytest.raises(Conflict):
        learning_record_from_experiment(experiment=experiment, actor=None)
    assert not Learning.objects.exists()


def test_experiment_without_analysis_gets_a_learning_without_numbers(workspace, make_metric):
    experiment = concluded_experiment(workspace, make_metric, results=[AHA], key="no-numbers")
    experiment.snapshots.all().delete()

    learning = learning_record_from_experiment(experiment=experiment, actor=None)

    assert (learning.outcome, learning.impact, learning.primary_result) == ("", None, {})
    assert (learning.acquisition_effect, learning.retention_effect) == ("", "")


def test_manual_learning_is_marked_and_normalised(workspace, editor):
    learning = learning_create(
        workspace=workspace,
        actor=editor.user,
        title="  Admins want SSO before inviting  ",
        source="interview",
        learned="8 of 12 admins said so.",
        tags=["SSO", " sso ", "Enterprise  Admins"],
        key_results=[KeyResultRef(id="17", title="Raise team invites by 20%")],
        attachments=[Attachment(url="https://docs.example.com/interviews", title="Notes")],
        effects={"acquisition": "negative"},
        effect_reason="Admins block the invite flow.",
        learned_on=date(2026, 8, 2),
    )

    assert (learning.title, learning.source, learning.quarter) == (
        "Admins want SSO before inviting",
        "interview",
        "2026-Q3",
    )
    assert [t.name for t in learning.tag_links.all()] == ["enterprise admins", "sso"]
    assert learning.acquisition_effect == "negative"
    assert EffectOverride.objects.get().reason == "Admins block the invite flow."
    assert "Raise team invites by 20%" in learning.search_extra
    assert learning.author == editor.user


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"attachments": [Attachment(url="javascript:alert(1)")]}, "attachments.0.url", BAD_URL),
        ({"source": "experiment"}, "source", MANUAL_SOURCE_ONLY),
        ({"effects": {"retention": "positive"}}, "effect_reason", REASON_REQUIRED),
        ({"title": "   "}, "title", "A learning needs a title."),
        ({"tags": ["x" * 51]}, "tags.0", "Tags are 1–50 characters."),
    ],
)
def test_bad_manual_input_names_the_field_and_writes_nothing(workspace, kwargs, field, message):
    args = {"title": "A learning", "source": "research", **kwargs}

    with pytest.raises(ValidationFailed) as error:
        learning_create(workspace=workspace, actor=None, **args)

    assert (error.value.field, error.value.message) == (field, message)
    assert not Learning.objects.exists()
    assert not AuditLog.objects.filter(action="learning.create").exists()


def test_fields_from_the_experiment_cannot_be_edited_on_its_learning(workspace, make_metric):
    learning = _record(workspace, make_metric, [AHA], key="owned")

    with pytest.raises(ValidationFailed) as error:
        learning_update(learning=learning, actor=None, changes={"decision": "rollback"})

    assert error.value.field == "decision"
    assert "owned" in error.value.message
    learning.refresh_from_db()
    assert learning.decision == "ship"
