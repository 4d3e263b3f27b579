"""The OKR pages with Django's test client: who may see and do what, another workspace's
objects not found, bad input shown beside its field with nothing written, percentages typed
and fractions stored, progress and status shown in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from outcomes.okrs.forms import METRIC_HELP, QUARTER_REQUIRED, quarter_of
from outcomes.okrs.models import (
    BaselineChange,
    CheckIn,
    Initiative,
    KeyResult,
    Objective,
    ValueSource,
)
from outcomes.okrs.progress import target_direction_error
from outcomes.okrs.services.check_ins import CONFIDENCE_RANGE, check_in_create
from outcomes.okrs.services.key_results import REASON_REQUIRED, key_result_create
from outcomes.okrs.services.lookups import OUTPUT_NOT_KEY_RESULT
from outcomes.okrs.services.objectives import PERIOD_REVERSED, objective_create
from plg_platform.celery import app as celery_app
from plg_platform.clock import local_today
from plg_platform.models import AuditLog

pytestmark = pytest.mark.django_db

BOARD = reverse("outcomes_web:board")
NEW_OBJECTIVE = reverse("outcomes_web:objective-create")


def _url(name: str, pk: int) -> str:
    arg = "objective_id" if name.startswith("objective") or name == "key-result-create" else None
    return reverse(f"outcomes_web:{name}", kwargs={arg or "key_result_id": pk})


@pytest.fixture
def eager():
    """Run Celery tasks in-process (enqueued on commit, as the views do)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def metric(make_metric, workspace):
    return make_metric(workspace, "aha-7d", event="document_created", window_days=7)


@pytest.fixture
def period(workspace):
    """A 90-day period with 46 days gone (by the end of today): the pace is 46/90 ≈ 0.51."""
    today = local_today(workspace)
    return today - timedelta(days=45), today + timedelta(days=44)


@pytest.fixture
def objective(workspace, period):
    return objective_create(
        workspace=workspace,
        title="New teams get value in their first week",
        why_it_matters="Activated teams stay.",
        team="Growth",
        period_start=period[0],
        period_end=period[1],
    )


def _key_result(objective, *, title="Raise 7-day activation", current=None, **kwargs):
    spec = {"metric_key": "aha-7d", "target": 0.36, "baseline": 0.31, "baseline_reason": "Known"}
    key_result = key_result_create(objective=objective, title=title, **{**spec, **kwargs})
    if current is not None:
        check_in_create(
            key_result=key_result, confidence=7, comment="Checklist shipped", value=current
        )
    return key_result


def _objective_form(**overrides) -> dict:
    data = {
        "title": "Teams collaborate",
        "why_it_matters": "",
        "owner": "",
        "team": "Collaboration",
        "period_kind": "quarter",
        "quarter": "2026-Q4",
        "period_start": "",
        "period_end": "",
        "parent": "",
    }
    return {**data, **overrides}


def _key_result_form(**overrides) -> dict:
    data = {
        "title": "Raise 7-day activation of new teams",
        "metric": "aha-7d",
        "direction": "",
        "target": "36",
        "segment_property": "",
        "segment_value": "",
        "start_event": "signed_up",
        "cohort_days": "28",
        "baseline": "31",
        "baseline_reason": "Measured by hand before the metric existed",
    }
    return {**data, **overrides}


# --- who sees and does what -------------------------------------------------------------------
def test_viewer_reads_the_board_and_key_result_but_sees_no_edit_actions(
    client, viewer, objective, metric
):
    key_result = _key_result(objective, current=0.335)
    client.force_login(viewer.user)
    board = client.get(BOARD, {"quarter": quarter_of(objective.period_start)})
    assert board.status_code == 200
    html = board.content.decode()
    assert objective.title in html
    assert key_result.title in html
    for url in (
        NEW_OBJECTIVE,
        _url("objective-edit", objective.pk),
        _url("key-result-create", objective.pk),
    ):
        assert url not in html
    page = client.get(_url("key-result", key_result.pk)).content.decode()
    assert "Checklist shipped" in page
    for name in ("key-result-edit", "check-in-create", "baseline-change", "key-result-measure"):
        assert _url(name, key_result.pk) not in page
    assert 'name="check_in-confidence"' not in page


def test_viewer_cannot_post_anything_and_nothing_is_written(client, viewer, objective, metric):
    key_result = _key_result(objective)
    client.force_login(viewer.user)
    assert client.get(NEW_OBJECTIVE).status_code == 403
    assert client.post(NEW_OBJECTIVE, _objective_form()).status_code == 403
    assert client.post(_url("objective-edit", objective.pk), _objective_form()).status_code == 403
    assert (
        client.post(_url("key-result-create", objective.pk), _key_result_form()).status_code == 403
    )
    posts = {
        "key-result-edit": {"title": "Renamed", "direction": "increase", "target": "40"},
        "check-in-create": {"check_in-confidence": "5"},
        "baseline-change": {"baseline-baseline": "20", "baseline-reason": "Because"},
        "initiative-create": {
            "initiative-title": "Ship offline mode",
            "initiative-status": "planned",
        },
        "key-result-measure": {},
    }
    for name, data in posts.items():
        assert client.post(_url(name, key_result.pk), data).status_code == 403, name
    key_result.refresh_from_db()
    objective.refresh_from_db()
    assert (key_result.title, key_result.baseline, key_result.target) == (
        "Raise 7-day activation",
        0.31,
        0.36,
    )
    assert objective.title == "New teams get value in their first week"
    assert Objective.objects.count() == 1
    assert KeyResult.objects.count() == 1
    assert not CheckIn.objects.exists()
    assert not Initiative.objects.exists()
    assert BaselineChange.objects.count() == 1


def test_another_workspaces_objectives_and_key_results_are_not_found(
    client, outsider, objective, metric
):
    key_result = _key_result(objective)
    client.force_login(outsider.user)
    for url in (
        _url("key-result", key_result.pk),
        _url("key-result-edit", key_result.pk),
        _url("objective-edit", objective.pk),
        _url("key-result-create", objective.pk),
    ):
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            _url("check-in-create", key_result.pk), {"check_in-confidence": "9"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            _url("baseline-change", key_result.pk),
            {"baseline-baseline": "1", "baseline-reason": "x"},
        ).status_code
        == 404
    )
    assert client.post(_url("key-result-measure", key_result.pk)).status_code == 404
    assert client.post(_url("objective-edit", objective.pk), _objective_form()).status_code == 404
    board = client.get(BOARD, {"quarter": quarter_of(objective.period_start)}).content.decode()
    assert objective.title not in board
    assert not CheckIn.objects.exists()
    key_result.refresh_from_db()
    assert key_result.baseline == 0.31


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(BOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- the board ----------------------------------------------------------------------------------
def test_board_shows_progress_against_the_pace_and_status_in_words(
    client, viewer, objective, metric
):
    _key_result(objective, title="Activation", current=0.335)  # progress 0.5, pace 0.51
    _key_result(objective, title="Stalled", current=0.31)  # progress 0: far behind
    client.force_login(viewer.user)
    html = client.get(BOARD, {"quarter": quarter_of(objective.period_start)}).content.decode()
    assert "<strong>50%</strong> of the way" in html
    assert "<strong>0%</strong> of the way" in html
    assert "51% of the period gone" in html
    assert "1 on track" in html
    assert "1 off track" in html
    # The objective shows its worst key result, in words.
    assert html.count("Off track") >= 2
    for number in ("31.0%", "36.0%", "33.5%"):
        assert number in html


def test_board_nests_aligned_objectives_and_names_a_parent_of_another_quarter(
    client, editor, workspace, objective
):
    child = objective_create(
        workspace=workspace,
        title="Onboarding team: checklist adoption",
        period_start=objective.period_start,
        period_end=objective.period_end,
        parent_id=objective.pk,
    )
    company = objective_create(
        workspace=workspace, title="Company: grow revenue", quarter="2025-Q1"
    )
    orphan = objective_create(
        workspace=workspace,
        title="Sales: more PQL conversations",
        period_start=objective.period_start,
        period_end=objective.period_end,
        parent_id=company.pk,
    )
    client.force_login(editor.user)
    html = client.get(BOARD, {"quarter": quarter_of(objective.period_start)}).content.decode()
    parent_at = html.index(f'id="objective-{objective.pk}"')
    child_at = html.index(f'id="objective-{child.pk}"')
    assert parent_at < child_at
    assert "Aligned under the objective above" in html
    assert f"Aligned to “{company.title}” (2025-Q1)" in html
    assert f'id="objective-{orphan.pk}"' in html
    assert f'id="objective-{company.pk}"' not in html  # another quarter


def test_a_quarter_that_is_not_one_falls_back_to_the_current_quarter(client, viewer, workspace):
    client.force_login(viewer.user)
    response = client.get(BOARD, {"quarter": "2026-Q9"}, follow=True)
    html = response.content.decode()
    current = quarter_of(local_today(workspace))
    assert f"is not a quarter (YYYY-Qn); showing {current}" in html
    assert f"No objectives in {current}" in html


# --- objectives -----------------------------------------------------------------------------
def test_an_objective_created_for_a_quarter_leads_to_its_first_key_result(client, editor):
    client.force_login(editor.user)
    response = client.post(NEW_OBJECTIVE, _objective_form(owner=str(editor.user.pk)))
    objective = Objective.objects.get(title="Teams collaborate")
    assert response.status_code == 302
    assert response["Location"] == _url("key-result-create", objective.pk)
    assert (objective.quarter, str(objective.period_start), str(objective.period_end)) == (
        "2026-Q4",
        "2026-10-01",
        "2026-12-31",
    )
    assert objective.owner == editor.user
    assert objective.workspace == editor.workspace
    assert AuditLog.objects.filter(action="objective.create", actor=editor.user).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "This field is required."),
        ({"quarter": ""}, "quarter", QUARTER_REQUIRED),
        (
            {"period_kind": "custom", "period_start": "2026-10-10", "period_end": "2026-10-01"},
            "period_end",
            PERIOD_REVERSED.format(start="2026-10-10", end="2026-10-01"),
        ),
        ({"period_kind": "custom", "period_start": "2026-10-10"}, "period_end", "Give a quarter"),
        ({"owner": "99999"}, "owner", "Select a valid choice."),
    ],
)
def test_bad_objective_input_is_shown_beside_its_field_and_nothing_is_written(
    client, editor, overrides, field, message
):
    client.force_login(editor.user)
    response = client.post(NEW_OBJECTIVE, _objective_form(**overrides))
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Objective.objects.exists()


def test_editing_an_objective_refuses_aligning_it_under_its_own_child(
    client, editor, workspace, objective
):
    child = objective_create(
        workspace=workspace,
        title="Child",
        period_start=objective.period_start,
        period_end=objective.period_end,
        parent_id=objective.pk,
    )
    client.force_login(editor.user)
    data = _objective_form(
        title="Renamed",
        period_kind="custom",
        quarter="",
        period_start=str(objective.period_start),
        period_end=str(objective.period_end),
        parent=str(child.pk),
    )
    response = client.post(_url("objective-edit", objective.pk), data)
    assert response.status_code == 200
    assert "cannot be aligned under itself" in " ".join(response.context["form"].errors["parent"])
    objective.refresh_from_db()
    assert (objective.title, objective.parent_id) == (
        "New teams get value in their first week",
        None,
    )


# --- key results --------------------------------------------------------------------------
def test_the_metric_field_says_outputs_are_not_key_results(client, editor, objective, metric):
    client.force_login(editor.user)
    html = client.get(_url("key-result-create", objective.pk)).content.decode()
    assert "Outputs are not key results" in html
    assert 'aria-describedby="id_metric_helptext"' in html


def test_a_deliverable_without_a_metric_is_refused_beside_the_metric_field(
    client, editor, objective, metric
):
    client.force_login(editor.user)
    response = client.post(
        _url("key-result-create", objective.pk),
        _key_result_form(title="Ship offline mode", metric="", target=""),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["metric"] == [OUTPUT_NOT_KEY_RESULT.format(title="Ship offline mode")]
    assert "target" in errors
    html = response.content.decode()
    assert 'id="id_metric_error"' in html
    assert "record it as an initiative" in html
    assert not KeyResult.objects.exists()


def test_a_target_equal_to_the_baseline_is_refused_at_the_target(client, editor, objective, metric):
    client.force_login(editor.user)
    response = client.post(
        _url("key-result-create", objective.pk), _key_result_form(target="31", baseline="31")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["target"] == [
        target_direction_error(direction="increase", baseline=0.31, target=0.31)
    ]
    assert not KeyResult.objects.exists()
    assert not BaselineChange.objects.exists()


def test_a_typed_baseline_needs_a_reason(client, editor, objective, metric):
    client.force_login(editor.user)
    response = client.post(
        _url("key-result-create", objective.pk), _key_result_form(baseline_reason="")
    )
    assert response.context["form"].errors["baseline_reason"] == [REASON_REQUIRED]
    assert not KeyResult.objects.exists()


def test_a_key_result_typed_in_percent_is_stored_as_fractions(client, editor, objective, metric):
    client.force_login(editor.user)
    response = client.post(_url("key-result-create", objective.pk), _key_result_form())
    key_result = KeyResult.objects.get()
    assert response["Location"] == _url("key-result", key_result.pk)
    assert key_result.metric == metric
    assert key_result.baseline == pytest.approx(0.31)
    assert key_result.target == pytest.approx(0.36)
    assert key_result.start_event == "signed_up"
    change = BaselineChange.objects.get(key_result=key_result)
    assert (change.source, change.reason) == (
        ValueSource.MANUAL,
        "Measured by hand before the metric existed",
    )
    page = client.get(_url("key-result", key_result.pk)).content.decode()
    assert 'id="kr-baseline">31.0%' in page
    assert 'id="kr-target">36.0%' in page


def test_editing_a_key_result_checks_the_target_against_the_direction(
    client, editor, objective, metric
):
    key_result = _key_result(objective)
    client.force_login(editor.user)
    url = _url("key-result-edit", key_result.pk)
    assert 'value="36"' in client.get(url).content.decode()  # shown as a percentage
    response = client.post(url, {"title": "Renamed", "direction": "increase", "target": "25"})
    assert response.status_code == 200
    assert response.context["form"].errors["target"] == [
        target_direction_error(direction="increase", baseline=0.31, target=0.25)
    ]
    key_result.refresh_from_db()
    assert (key_result.title, key_result.target) == ("Raise 7-day activation", 0.36)
    response = client.post(url, {"title": "Renamed", "direction": "increase", "target": "40"})
    assert response.status_code == 302
    key_result.refresh_from_db()
    assert (key_result.title, key_result.target) == ("Renamed", pytest.approx(0.40))


# --- check-ins, baselines, initiatives, measuring ------------------------------------------------
def test_a_check_in_records_confidence_comment_and_a_value_in_percent(
    client, editor, objective, metric
):
    key_result = _key_result(objective)
    client.force_login(editor.user)
    url = _url("check-in-create", key_result.pk)
    bad = client.post(url, {"check_in-confidence": "11", "check_in-comment": "Hmm"})
    assert bad.status_code == 200
    assert bad.context["check_in_form"].errors["confidence"] == [CONFIDENCE_RANGE]
    assert 'id="id_check_in-confidence_error"' in bad.content.decode()
    assert not CheckIn.objects.exists()

    response = client.post(
        url,
        {"check_in-confidence": "8", "check_in-value": "33.5", "check_in-comment": "Going well"},
    )
    assert response.status_code == 302
    check_in = CheckIn.objects.get()
    assert (check_in.source, check_in.confidence, check_in.comment, check_in.created_by) == (
        ValueSource.MANUAL,
        8,
        "Going well",
        editor.user,
    )
    assert check_in.value == pytest.approx(0.335)
    page = client.get(_url("key-result", key_result.pk)).content.decode()
    assert 'id="kr-current">33.5%' in page
    assert 'id="kr-progress">50%' in page
    assert "<strong>8/10</strong>" in page


def test_a_baseline_change_needs_a_reason_and_is_kept_in_the_history(
    client, editor, objective, metric
):
    key_result = _key_result(objective)
    client.force_login(editor.user)
    url = _url("baseline-change", key_result.pk)
    bad = client.post(url, {"baseline-baseline": "30", "baseline-reason": " "})
    assert bad.context["baseline_form"].errors["reason"] == [REASON_REQUIRED]
    key_result.refresh_from_db()
    assert key_result.baseline == 0.31

    wrong_side = client.post(url, {"baseline-baseline": "40", "baseline-reason": "Recount"})
    assert wrong_side.context["baseline_form"].errors["baseline"] == [
        target_direction_error(direction="increase", baseline=0.40, target=0.36)
    ]
    key_result.refresh_from_db()
    assert key_result.baseline == 0.31

    client.post(url, {"baseline-baseline": "30", "baseline-reason": "Signup event renamed"})
    key_result.refresh_from_db()
    assert key_result.baseline == pytest.approx(0.30)
    history = list(key_result.baseline_changes.order_by("id"))
    assert [(c.previous, c.baseline, c.reason) for c in history][-1] == (
        0.31,
        pytest.approx(0.30),
        "Signup event renamed",
    )
    page = client.get(_url("key-result", key_result.pk)).content.decode()
    assert "Signup event renamed" in page


def test_an_initiative_is_linked_to_the_key_result(client, editor, objective, metric):
    key_result = _key_result(objective)
    client.force_login(editor.user)
    url = _url("initiative-create", key_result.pk)
    bad = client.post(url, {"initiative-title": "", "initiative-status": "planned"})
    assert "initiative-title" in bad.content.decode()
    assert not Initiative.objects.exists()
    client.post(url, {"initiative-title": "Ship offline mode", "initiative-status": "in_progress"})
    initiative = Initiative.objects.get()
    assert list(initiative.key_results.all()) == [key_result]
    assert initiative.status == "in_progress"
    board = client.get(BOARD, {"quarter": quarter_of(objective.period_start)}).content.decode()
    assert "Ship offline mode" in board


def test_measure_now_queues_todays_computed_check_in(
    client, editor, objective, metric, eager, django_capture_on_commit_callbacks
):
    key_result = _key_result(objective)
    client.force_login(editor.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("key-result-measure", key_result.pk), follow=True)
    assert "Measuring" in response.content.decode()
    computed = CheckIn.objects.get(key_result=key_result, source=ValueSource.COMPUTED)
    assert computed.date == local_today(key_result.workspace)


def test_the_metric_help_names_initiatives_for_deliverables():
    assert "initiative" in METRIC_HELP
