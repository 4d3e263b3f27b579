"""Experiment pages and the statistics calculator with Django's test client: who may see and
do what, bad input shown next to its field with nothing written, and numbers from the engine."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.urls import reverse

from experiments.forms.design import SHARES_MUST_ADD_UP
from experiments.models import Experiment, ExperimentStatus
from experiments.services.design import (
    KEY_TAKEN,
    METRIC_IN_TWO_ROLES,
    ExperimentDesign,
    VariantSpec,
    experiment_create,
)
from experiments.services.lifecycle import experiment_start
from experiments.stats import AnalysisRequest, PowerRequest, analyze, plan
from experiments.views.calculator import LONG_RUN, LONG_RUN_DAYS
from experiments.views.experiments import NO_SIZE_REASON
from outcomes.kpis.refresh import kpis_refresh
from plg_platform.models import ApiKeyKind, AuditLog
from plg_platform.services.keys import api_key_create
from tests.outcomes.support import (
    KPI_CONFIG,
    NOW,
    configure,
    generate,
    is_active,
    local_day,
    store,
)

pytestmark = pytest.mark.django_db

NEW = reverse("experiments_web:create")
LIST = reverse("experiments_web:list")
CALCULATOR = reverse("experiments_web:calculator")
POWER = reverse("experiments_web:power")
TODAY = NOW.date()


@pytest.fixture
def metrics(make_metric, workspace):
    return [make_metric(workspace, key) for key in ("aha-rate", "exports", "unsubscribes")]


def _make(workspace, key="onboarding", **overrides):
    design = ExperimentDesign(
        key=key,
        name=key.title(),
        hypothesis_change="adding a checklist",
        variants=(
            VariantSpec(key="control", weight=0.5, is_control=True),
            VariantSpec(key="checklist", weight=0.5),
        ),
        primary_metric="aha-rate",
        **overrides,
    )
    return experiment_create(workspace=workspace, design=design, actor=None)


def _form(**overrides) -> dict:
    data = {
        "name": "Onboarding checklist",
        "key": "onboarding-checklist",
        "hypothesis_change": "adding an onboarding checklist",
        "hypothesis_audience": "new workspace owners",
        "hypothesis_outcome": "raise the Aha rate",
        "hypothesis_evidence": "interviews",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
        "variants-0-key": "control",
        "variants-0-name": "Control",
        "variants-0-weight": "50",
        "variants-1-key": "checklist",
        "variants-1-name": "Checklist",
        "variants-1-weight": "50",
        "coverage": "80",
        "primary_metric": "aha-rate",
        "guardrail_metrics": ["unsubscribes"],
        "engine": "frequentist",
        "correction": "holm",
        "alpha": "0.05",
        "team": "Growth",
        "funnel_stage": "activation",
    }
    data.update(overrides)
    return data


# --- Who sees and does what -------------------------------------------------------------------


def test_viewer_sees_experiments_but_no_edit_actions(client, viewer, metrics):
    experiment = _make(viewer.workspace)
    client.force_login(viewer.user)
    listing = client.get(LIST).content.decode()
    assert experiment.name in listing
    assert NEW not in listing
    detail = client.get(reverse("experiments_web:detail", args=[experiment.key])).content.decode()
    for name in ("edit", "start", "stop"):
        assert reverse(f"experiments_web:{name}", args=[experiment.key]) not in detail


def test_viewer_cannot_open_the_form_or_post_anything(client, viewer, metrics):
    experiment = _make(viewer.workspace)
    client.force_login(viewer.user)
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, _form(key="sneaky")).status_code == 403
    assert client.post(reverse("experiments_web:start", args=[experiment.key])).status_code == 403
    edit = reverse("experiments_web:edit", args=[experiment.key])
    assert client.post(edit, _form(name="Renamed")).status_code == 403
    assert client.post(reverse("experiments_web:plan-preview"), {}).status_code == 403
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT
    assert experiment.name == "Onboarding"
    assert not Experiment.objects.filter(key="sneaky").exists()


def test_another_workspaces_experiment_is_not_found(client, outsider, workspace, metrics):
    experiment = _make(workspace)
    client.force_login(outsider.user)
    for name in ("detail", "edit"):
        assert (
            client.get(reverse(f"experiments_web:{name}", args=[experiment.key])).status_code == 404
        )
    for name in ("start", "stop", "edit"):
        url = reverse(f"experiments_web:{name}", args=[experiment.key])
        assert client.post(url, _form()).status_code == 404
    assert experiment.name not in client.get(LIST).content.decode()
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT


def test_start_and_stop_go_through_the_lifecycle_service(client, editor, metrics):
    experiment = _make(editor.workspace)
    client.force_login(editor.user)
    start = reverse("experiments_web:start", args=[experiment.key])
    stop = reverse("experiments_web:stop", args=[experiment.key])

    # GET is the confirmation step (below); only the POST starts.
    assert client.get(start).status_code == 200
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT
    response = client.post(start, follow=True)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING
    assert "is now running" in response.content.decode()
    assert AuditLog.objects.filter(action="experiment.start", actor=editor.user).exists()

    again = client.post(start, follow=True).content.decode()
    assert "Cannot start an experiment that is running." in again

    client.post(stop)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.STOPPED
    assert (
        "Resume"
        in client.get(reverse("experiments_web:detail", args=[experiment.key])).content.decode()
    )


# --- Creating and editing ------------------------------------------------------------------------


def test_create_writes_the_design_with_control_first_and_fractions(client, editor, metrics):
    client.force_login(editor.user)
    response = client.post(NEW, _form(baseline_rate="20", planned_mde="10", daily_traffic="1000"))
    assert response.status_code == 302
    experiment = Experiment.objects.get(workspace=editor.workspace, key="onboarding-checklist")
    assert response["Location"] == reverse("experiments_web:detail", args=[experiment.key])
    assert experiment.owner == editor.user
    assert experiment.hypothesis == (
        "We believe adding an onboarding checklist for new workspace owners will raise the Aha "
        "rate because interviews."
    )
    assert [(v.key, v.weight, v.is_control) for v in experiment.variants.all()] == [
        ("control", 0.5, True),
        ("checklist", 0.5, False),
    ]
    assert experiment.coverage == pytest.approx(0.8)
    assert experiment.team == "Growth"
    assert experiment.funnel_stage == "activation"
    roles = {link.metric.key: link.role for link in experiment.metric_links.all()}
    assert roles == {"aha-rate": "primary", "unsubscribes": "guardrail"}
    expected = plan(PowerRequest(baseline_rate=0.2, mde=0.1, daily_traffic=800))
    assert experiment.planned_mde == pytest.approx(0.1)
    assert experiment.planned_sample_size_per_variant == expected.sample_size_per_variant
    assert experiment.planned_duration_days == expected.duration_days


def test_weights_not_adding_up_are_shown_at_the_variants_and_nothing_is_written(
    client, editor, metrics
):
    client.force_login(editor.user)
    response = client.post(NEW, _form(**{"variants-1-weight": "40"}))
    assert response.status_code == 200
    html = response.content.decode()
    assert SHARES_MUST_ADD_UP.format(total=90) in html
    assert 'id="variants_error"' in html
    assert not Experiment.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"key": "Not a slug!"}, "key", "Enter a valid “slug”"),
        ({"primary_metric": ""}, "primary_metric", "This field is required."),
        ({"primary_metric": "nope"}, "primary_metric", "Select a valid choice."),
        ({"coverage": "120"}, "coverage", "less than or equal to 100"),
        ({"baseline_rate": "150", "planned_mde": "5"}, "baseline_rate", "strictly between"),
        (
            {"secondary_metrics": ["aha-rate"]},
            "secondary_metrics",
            METRIC_IN_TWO_ROLES.format(key="aha-rate"),
        ),
        ({"name": "x" * 20_000}, "name", "at most 200 characters"),
        ({"hypothesis_change": "x" * 20_000}, "hypothesis_change", "at most 1000 characters"),
        ({"hypothesis_audience": "x" * 1001}, "hypothesis_audience", "at most 1000 characters"),
        ({"hypothesis_outcome": "x" * 1001}, "hypothesis_outcome", "at most 1000 characters"),
        ({"hypothesis_evidence": "x" * 1001}, "hypothesis_evidence", "at most 1000 characters"),
        ({"team": "x" * 101}, "team", "at most 100 characters"),
        ({"product_area": "x" * 201}, "product_area", "at most 200 characters"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    client, editor, metrics, overrides, field, message
):
    client.force_login(editor.user)
    response = client.post(NEW, _form(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html  # rendered beside the field, linked by aria
    assert not Experiment.objects.exists()


def test_a_taken_key_is_reported_on_the_key_field(client, editor, metrics):
    _make(editor.workspace, key="onboarding-checklist")
    client.force_login(editor.user)
    response = client.post(NEW, _form())
    assert KEY_TAKEN.format(key="onboarding-checklist") in response.context["form"].errors["key"]
    assert Experiment.objects.count() == 1


def test_add_a_variant_renders_one_more_empty_row_without_errors(client, editor, metrics):
    client.force_login(editor.user)
    response = client.post(NEW, _form(add_variant="1"))
    assert response.status_code == 200
    assert response.context["variants"].total_form_count() == 3
    assert not response.context["form"].is_bound
    assert 'value="checklist"' in response.content.decode()
    assert not Experiment.objects.exists()


def test_an_empty_extra_row_is_left_out(client, editor, metrics):
    client.force_login(editor.user)
    data = _form(**{"variants-TOTAL_FORMS": "3", "variants-2-key": "", "variants-2-weight": ""})
    assert client.post(NEW, data).status_code == 302
    assert Experiment.objects.get().variants.count() == 2


def test_edit_shows_the_design_and_saves_changes(client, editor, metrics):
    experiment = _make(editor.workspace, coverage=0.5, planned_mde=0.05)
    client.force_login(editor.user)
    url = reverse("experiments_web:edit", args=[experiment.key])
    page = client.get(url)
    assert page.context["form"].initial["coverage"] == 50
    assert page.context["form"].initial["planned_mde"] == 5
    assert page.context["form"].fields["key"].disabled

    response = client.post(url, _form(key="ignored", name="Renamed", coverage="50"))
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.key == "onboarding"
    assert experiment.name == "Renamed"


def test_changing_a_running_experiments_weights_needs_a_reason(client, editor, metrics):
    experiment = _make(editor.workspace)
    experiment_start(experiment=experiment, actor=None)
    client.force_login(editor.user)
    url = reverse("experiments_web:edit", args=[experiment.key])
    shares = {"variants-0-weight": "30", "variants-1-weight": "70", "coverage": "100"}
    response = client.post(url, _form(**shares))
    assert response.status_code == 200
    assert "phase_reason" in response.context["form"].errors
    assert experiment.phases.count() == 1

    response = client.post(url, _form(**shares, phase_reason="Ramp up the checklist"))
    assert response.status_code == 302
    assert experiment.phases.count() == 2
    assert experiment.phases.last().reason == "Ramp up the checklist"


def test_concluded_experiments_cannot_be_edited(client, editor, metrics):
    experiment = _make(editor.workspace)
    Experiment.objects.filter(pk=experiment.pk).update(
        status=ExperimentStatus.CONCLUDED, decision="iterate"
    )
    client.force_login(editor.user)
    response = client.get(reverse("experiments_web:edit", args=[experiment.key]))
    assert response.status_code == 302


def test_list_filters_by_status_search_and_stage(client, editor, metrics):
    running = _make(editor.workspace, key="pricing-page", funnel_stage="revenue")
    experiment_start(experiment=running, actor=None)
    _make(editor.workspace, key="onboarding", funnel_stage="activation")
    client.force_login(editor.user)

    def keys(query: str) -> list[str]:
        response = client.get(f"{LIST}?{query}")
        return [row.experiment.key for row in response.context["rows"]]

    assert sorted(keys("")) == ["onboarding", "pricing-page"]
    assert keys("status=running") == ["pricing-page"]
    assert keys("q=onboard") == ["onboarding"]
    assert keys("funnel_stage=revenue") == ["pricing-page"]
    # An unknown status is a form error: the filter is ignored rather than crashing.
    assert client.get(f"{LIST}?status=bogus").status_code == 200


def test_plan_preview_answers_with_the_engines_plan(client, editor):
    client.force_login(editor.user)
    response = client.post(
        reverse("experiments_web:plan-preview"),
        {
            "baseline_rate": "10",
            "planned_mde": "5",
            "daily_traffic": "2000",
            "coverage": "50",
            "alpha": "0.05",
            "variants-TOTAL_FORMS": "3",
            "variants-0-key": "a",
            "variants-1-key": "b",
            "variants-2-key": "c",
        },
    )
    expected = plan(PowerRequest(baseline_rate=0.1, mde=0.05, daily_traffic=1000, n_variants=3))
    html = response.content.decode()
    assert f"{expected.sample_size_per_variant:,}" in html
    assert f"{expected.duration_days} days" in html


def test_plan_preview_survives_a_broken_management_form(client, editor):
    client.force_login(editor.user)
    response = client.post(
        reverse("experiments_web:plan-preview"),
        {
            "variants-TOTAL_FORMS": "lots",
            "baseline_rate": "10",
            "planned_mde": "5",
            "coverage": "100",
            "alpha": "0.05",
        },
    )
    assert response.status_code == 200
    assert "units per variant" in response.content.decode()


def test_plan_preview_names_the_fields_to_fix(client, editor):
    client.force_login(editor.user)
    response = client.post(
        reverse("experiments_web:plan-preview"), {"baseline_rate": "150", "planned_mde": "5"}
    )
    html = response.content.decode()
    assert "Baseline of the primary metric (%) (Give a rate strictly between" in html
    assert "Traffic included (%) (This field is required.)" in html


def test_a_tampered_management_form_is_an_error_not_a_crash(client, editor, metrics):
    client.force_login(editor.user)
    response = client.post(NEW, _form(**{"variants-TOTAL_FORMS": "lots"}))
    assert response.status_code == 200
    assert not Experiment.objects.exists()


# --- Statistics calculator ---------------------------------------------------------------------


def _counts(
    metric_type="proportion", rows=(("control", 10000, 1000), ("treatment", 10000, 1100)), **options
):
    data = {
        "metric_type": metric_type,
        "engine": "frequentist",
        "difference": "relative",
        "alpha": "0.05",
        "correction": "none",
        "higher_is_better": "on",
        "metric_name": "sign-up rate",
        "variants-TOTAL_FORMS": str(len(rows)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
    }
    for i, row in enumerate(rows):
        names = (
            ("key", "units", "conversions")
            if metric_type == "proportion"
            else (
                "key",
                "units",
                "mean",
                "std_dev",
            )
        )
        data.update({f"variants-{i}-{name}": value for name, value in zip(names, row, strict=True)})
    data.update(options)
    return data


def test_calculator_shows_the_engines_result_table_and_chart(client, viewer):
    client.force_login(viewer.user)
    response = client.post(CALCULATOR, _counts())
    expected = analyze(
        AnalysisRequest(
            variants=(
                {"key": "control", "n": 10000, "sum": 1000},
                {"key": "treatment", "n": 10000, "sum": 1100},
            ),
            metric_type="proportion",
            metric_name="sign-up rate",
        )
    )
    html = response.content.decode()
    comparison = expected.comparisons[0]
    assert comparison.summary in html
    assert "+10.0%" in html
    assert "p = 0.028" in html
    rows = response.context["result"]["rows"]
    assert [row.key for row in rows] == ["control", "treatment"]
    assert rows[1].tone == "good"
    assert 'data-chart="forest"' in html
    assert 'id="result-table"' in html


def test_calculator_turns_mean_and_sd_into_the_engines_sums(client, viewer):
    client.force_login(viewer.user)
    rows = (("control", 400, 10.0, 4.0), ("treatment", 500, 10.5, 4.0))
    response = client.post(CALCULATOR, _counts("mean", rows))
    expected = analyze(
        AnalysisRequest(
            variants=(
                {"key": "control", "n": 400, "sum": 4000.0, "sum_squares": 399 * 16 + 400 * 100},
                {
                    "key": "treatment",
                    "n": 500,
                    "sum": 5250.0,
                    "sum_squares": 499 * 16 + 500 * 110.25,
                },
            ),
            metric_type="mean",
            metric_name="sign-up rate",
        )
    )
    assert expected.comparisons[0].summary in response.content.decode()


def test_calculator_bayesian_shows_chance_to_win_and_loss(client, viewer):
    client.force_login(viewer.user)
    html = client.post(CALCULATOR, _counts(engine="bayesian")).content.decode()
    assert "Chance to win" in html
    assert "Expected loss if shipped" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            _counts(rows=(("control", 100, 120), ("treatment", 100, 10))),
            "conversions",
            "more conversions",
        ),
        (
            _counts("mean", (("control", 100, 1.0, ""), ("treatment", 100, 1.0, 1.0))),
            "std_dev",
            "standard deviation",
        ),
        (_counts(rows=(("control", "", 1), ("treatment", 100, 10))), "units", "required"),
    ],
)
def test_calculator_bad_counts_are_shown_in_their_row(client, viewer, data, field, message):
    client.force_login(viewer.user)
    response = client.post(CALCULATOR, data)
    assert response.context["result"] is None
    errors = response.context["variants"].forms[0].errors
    assert message in " ".join(errors[field])
    assert f'id="id_variants-0-{field}_error"' in response.content.decode()


def test_calculator_refuses_duplicate_variant_names(client, viewer):
    client.force_login(viewer.user)
    response = client.post(CALCULATOR, _counts(rows=(("a", 100, 10), ("a", 100, 12))))
    assert response.context["result"] is None
    assert "appears twice" in response.content.decode()


def test_power_page_gives_the_engines_plan(client, viewer):
    client.force_login(viewer.user)
    response = client.post(
        POWER,
        {
            "metric_type": "rate",
            "baseline_rate": "10",
            "goal": "sample_size",
            "mde": "5",
            "mde_type": "relative",
            "n_variants": "2",
            "alpha": "0.05",
            "power": "80",
            "alternative": "two_sided",
            "daily_traffic": "2000",
        },
    )
    expected = plan(PowerRequest(baseline_rate=0.1, mde=0.05, daily_traffic=2000))
    result = response.context["result"]
    assert result["response"] == expected
    assert f"{expected.sample_size_per_variant:,}" in response.content.decode()


def test_power_page_mde_for_a_sample_size_of_a_mean(client, viewer):
    client.force_login(viewer.user)
    response = client.post(
        POWER,
        {
            "metric_type": "mean",
            "baseline_mean": "20",
            "baseline_sd": "8",
            "goal": "mde",
            "sample_size_per_variant": "5000",
            "mde_type": "relative",
            "n_variants": "2",
            "alpha": "0.05",
            "power": "80",
            "alternative": "two_sided",
        },
    )
    expected = plan(
        PowerRequest(baseline_mean=20, baseline_variance=64, sample_size_per_variant=5000)
    )
    assert response.context["result"]["response"] == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"baseline_rate": "150"}, "baseline_rate"),
        ({"mde": ""}, "mde"),
        ({"goal": "mde", "mde": ""}, "sample_size_per_variant"),
        ({"power": "10"}, "power"),
        ({"metric_type": "mean", "baseline_rate": ""}, "baseline_mean"),
    ],
)
def test_power_page_bad_input_is_shown_at_its_field(client, viewer, overrides, field):
    client.force_login(viewer.user)
    data = {
        "metric_type": "rate",
        "baseline_rate": "10",
        "goal": "sample_size",
        "mde": "5",
        "mde_type": "relative",
        "n_variants": "2",
        "alpha": "0.05",
        "power": "80",
        "alternative": "two_sided",
        **overrides,
    }
    response = client.post(POWER, data)
    assert response.context["result"] is None
    assert field in response.context["form"].errors
    assert f'id="id_{field}_error"' in response.content.decode()


def test_a_too_long_variant_name_is_shown_in_its_row_and_nothing_is_written(
    client, editor, metrics
):
    client.force_login(editor.user)

    response = client.post(NEW, _form(**{"variants-1-name": "x" * 201}))

    assert response.status_code == 200
    assert "at most 200 characters" in " ".join(response.context["variants"][1].errors["name"])
    assert 'maxlength="200"' in response.content.decode()
    assert not Experiment.objects.exists()


# --- Plans that are too long, or that could not be computed ------------------------------------


def _preview(client, **overrides):
    data = {
        "baseline_rate": "10",
        "planned_mde": "2",
        "daily_traffic": "300",
        "coverage": "100",
        "alpha": "0.05",
        "variants-TOTAL_FORMS": "3",
        "variants-0-key": "a",
        "variants-1-key": "b",
        "variants-2-key": "c",
        **overrides,
    }
    return client.post(reverse("experiments_web:plan-preview"), data).content.decode()


def test_plan_preview_warns_about_a_long_plan_with_the_engines_shorter_options(client, editor):
    client.force_login(editor.user)
    request_ = PowerRequest(baseline_rate=0.1, mde=0.02, daily_traffic=300, n_variants=3)
    days = plan(request_).duration_days
    assert days > LONG_RUN_DAYS  # the example is a long plan

    html = _preview(client)

    assert LONG_RUN.format(days=days, weeks=8) in html
    larger_mde = plan(replace(request_, mde=0.04)).duration_days
    more_traffic = plan(replace(request_, daily_traffic=600)).duration_days
    two_variants = plan(replace(request_, n_variants=2)).duration_days
    assert f"(4% instead of 2%): {larger_mde:,} days" in html
    assert f"(600 units a day: more coverage or a wider audience): {more_traffic:,} days" in html
    assert f"two variants instead of 3: {two_variants:,} days" in html


def test_plan_preview_has_no_warning_for_a_plan_within_eight_weeks(client, editor):
    client.force_login(editor.user)
    request_ = PowerRequest(baseline_rate=0.1, mde=0.2, daily_traffic=3000, n_variants=3)
    assert plan(request_).duration_days <= LONG_RUN_DAYS

    html = _preview(client, planned_mde="20", daily_traffic="3000")

    assert 'id="long-run"' not in html


def test_detail_warns_about_a_long_saved_plan_and_says_why_a_number_is_missing(
    client, editor, metrics
):
    client.force_login(editor.user)
    _make(
        editor.workspace,
        key="long",
        planned_mde=0.01,
        planned_sample_size_per_variant=9_000,
        planned_duration_days=1281,
    )
    _make(editor.workspace, key="no-baseline", planned_mde=0.1)

    long_page = client.get(reverse("experiments_web:detail", kwargs={"key": "long"}))
    unplanned = client.get(reverse("experiments_web:detail", kwargs={"key": "no-baseline"}))

    assert LONG_RUN.format(days=1281, weeks=8) in long_page.content.decode()
    assert "1,281 days" in long_page.content.decode()
    assert NO_SIZE_REASON in unplanned.content.decode()
    assert 'id="long-run"' not in unplanned.content.decode()


# --- The plan's daily traffic comes from the KPI that matches who enters ----------------------


def _brute_force_traffic() -> tuple[float, float]:
    """Signups a day and daily active users, averaged over the 28 complete days before NOW,
    straight from the generated events."""
    data = generate(seed=11)
    window = {TODAY - timedelta(days=d) for d in range(1, 29)}
    first_signup: dict[str, int] = {}
    active: dict[date, set[str]] = defaultdict(set)
    for e in data.events:
        if e["event"] == KPI_CONFIG["signup_event"]:
            unit = e["distinct_id"]
            first_signup[unit] = min(e["t"], first_signup.get(unit, e["t"]))
        if is_active(e, KPI_CONFIG):
            active[local_day(e["t"])].add(e["distinct_id"])
    signups = sum(1 for t in first_signup.values() if local_day(t) in window)
    actives = sum(len(active[day]) for day in window)
    return signups / 28, actives / 28


def _shown(per_day: float) -> float:
    return round(per_day) if per_day >= 10 else round(per_day, 1)


def test_daily_traffic_is_signups_for_signup_stages_and_daily_actives_otherwise(
    client, editor, metrics
):
    store(editor.workspace, generate(seed=11))
    configure(editor.workspace)
    kpis_refresh(workspace=editor.workspace, now=NOW)
    signups, actives = _brute_force_traffic()
    assert signups != actives
    _make(editor.workspace, key="onboarding", funnel_stage="activation")
    _make(editor.workspace, key="retention-mail", funnel_stage="retention")
    client.force_login(editor.user)

    new = client.get(NEW)
    onboarding = client.get(reverse("experiments_web:edit", kwargs={"key": "onboarding"}))
    retention = client.get(reverse("experiments_web:edit", kwargs={"key": "retention-mail"}))
    new_signup_stage = client.get(f"{NEW}?funnel_stage=acquisition")

    assert new.context["form"].initial["daily_traffic"] == _shown(actives)
    assert retention.context["form"].initial["daily_traffic"] == _shown(actives)
    assert onboarding.context["form"].initial["daily_traffic"] == _shown(signups)
    assert new_signup_stage.context["form"].initial["daily_traffic"] == _shown(signups)
    html = onboarding.content.decode()
    assert f"pre-filled with <strong>new signups a day</strong>: {_shown(signups):g}," in html
    assert f"daily active users: {_shown(actives):g}." in html
    assert "pre-filled with <strong>daily active users</strong>" in retention.content.decode()


def test_daily_traffic_is_not_prefilled_before_the_kpis_are_computed(client, editor, metrics):
    store(editor.workspace, generate(seed=11))
    client.force_login(editor.user)

    response = client.get(NEW)

    assert response.context["form"].initial["daily_traffic"] is None
    assert "have not been computed for this workspace yet" in response.content.decode()


# --- Starting: a confirmation first, the SDK snippet after ---------------------------------------


def test_start_asks_for_confirmation_saying_what_starting_does(client, editor, viewer, metrics):
    experiment = _make(editor.workspace, coverage=0.8)
    client.force_login(editor.user)
    detail = reverse("experiments_web:detail", args=[experiment.key])
    start = reverse("experiments_web:start", args=[experiment.key])

    button = client.get(detail).content.decode()
    confirm = client.get(start)

    assert f'href="{start}">Start…</a>' in button  # a link to the confirmation, not a POST
    html = confirm.content.decode()
    assert "Assignment begins." in html
    assert "put 80% of eligible units into a variant" in html
    assert "The variants and traffic shares are frozen" in html
    assert [(v.key, share) for v, share in confirm.context["variant_rows"]] == [
        ("control", 50),
        ("checklist", 50),
    ]
    assert "Yes, start it" in html
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT
    assert not AuditLog.objects.filter(action="experiment.start").exists()
    client.force_login(viewer.user)
    assert client.get(start).status_code == 403


def test_a_running_experiment_shows_the_sdk_and_assignment_snippets(client, editor, metrics):
    experiment = _make(editor.workspace, key="onboarding-checklist")
    sdk_key, _ = api_key_create(workspace=editor.workspace, kind=ApiKeyKind.SDK)
    client.force_login(editor.user)
    start = reverse("experiments_web:start", args=[experiment.key])
    detail = reverse("experiments_web:detail", args=[experiment.key])

    assert "snippet-sdk" not in client.get(detail).content.decode()  # drafts serve nobody
    response = client.post(start)
    html = client.get(detail).content.decode()

    assert response["Location"] == f"{detail}#sdk-title"
    assert "http://testserver/api/features/&lt;SDK client key&gt;" in html
    assert 'api_host="http://testserver"' in html
    assert 'gb.eval_feature("onboarding-checklist").value' in html
    assert "/api/v1/experiments/onboarding-checklist/assignment?unit_id=user-1" in html
    assert f"starts with <code>{sdk_key.prefix}</code>" in html


def test_power_page_prefills_daily_actives_from_the_kpis(client, viewer):
    store(viewer.workspace, generate(seed=11))
    configure(viewer.workspace)
    kpis_refresh(workspace=viewer.workspace, now=NOW)
    signups, actives = _brute_force_traffic()
    client.force_login(viewer.user)

    response = client.get(POWER)

    assert response.context["form"].initial["daily_traffic"] == _shown(actives)
    html = response.content.decode()
    assert f"{_shown(actives):g} daily active users (pre-filled" in html
    assert f"{_shown(signups):g} new signups a day" in html
