"""The results page: numbers equal the stored snapshot's, banners, history, segments, the
refresh flow with its progress fragment, roles and workspaces."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from experiments.models import PendingAnalysis, ResultSnapshot
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.services.lifecycle import experiment_conclude
from experiments.stats.summaries import format_effect, format_p_value, format_probability
from plg_platform.celery import app as celery_app
from plg_platform.models import BackgroundJob
from tests.experiments.test_exp_analysis_support import CUTOFF, generate, planted_experiment

pytestmark = [
    pytest.mark.django_db,
]


@pytest.fixture(scope="module")
def small():
    return generate(units_per_variant=(1500, 1500), activation_lift=0.3)


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _snapshot(experiment, cutoff=CUTOFF) -> ResultSnapshot:
    computed = experiment_analyze(experiment=experiment, cutoff=cutoff, sync_exposures=False)
    return snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)


def _client(actor) -> Client:
    client = Client()
    client.force_login(actor.user)
    return client


def _url(name: str, experiment, **kwargs) -> str:
    return reverse(f"results_web:{name}", kwargs={"key": experiment.key, **kwargs})


def _row(page: str, table_id: str, variant: str) -> dict[str, str]:
    """The cells of one variant's row of a metric table, as text, by data-col."""
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    row = table.split(f'data-variant="{variant}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'data-col="(\w+)">(.*?)</td>', row, flags=re.S)
    return {col: html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for col, text in cells}


def _effect(value: float, difference: str = "relative", metric_type: str = "proportion") -> str:
    return format_effect(value, difference, metric_type).replace(" percentage points", " pp")


def test_results_show_every_metric_with_the_snapshots_numbers(editor, small):
    experiment = planted_experiment(editor.workspace, small, segments=("country",))
    first = _snapshot(experiment, cutoff=CUTOFF - timedelta(days=4))
    latest = _snapshot(experiment)

    response = _client(editor).get(_url("page", experiment))

    assert response.status_code == 200
    page = response.content.decode()
    assert html.escape(latest.outputs["verdict"], quote=False) in page
    assert f"version {latest.engine_version}" in page
    assert latest.data_cutoff.strftime("%Y-%m-%d %H:%M") in page
    assert "Refresh now" in page
    for metric in latest.outputs["metrics"]:
        (comparison,) = metric["comparisons"]
        control, treatment = metric["variants"]
        table = f"table-{metric['key']}"
        control_row = _row(page, table, "control")
        treatment_row = _row(page, table, "treatment")
        value = (
            (lambda v: f"{v * 100:.2f}%")
            if metric["metric_type"] == "proportion"
            else (lambda v: f"{v:,.4g}")
        )
        assert control_row["units"] == str(control["units"])
        assert control_row["value"] == value(control["value"])
        assert treatment_row["units"] == str(treatment["units"])
        assert treatment_row["value"] == value(treatment["value"])
        sign = "+" if comparison["effect"] > 0 else ""
        assert treatment_row["effect"] == sign + _effect(comparison["effect"])
        level = f"{comparison['ci_level'] * 100:.1f}".removesuffix(".0")
        # A level other than 1 − α says which correction made it (Holm, the default).
        by = ", Holm" if abs(comparison["ci_level"] - 0.95) > 1e-9 else ""
        assert treatment_row["interval"] == (
            f"{_effect(comparison['ci_low'])} to {_effect(comparison['ci_high'])} ({level}%{by})"
        )
        assert treatment_row["p"] == format_p_value(comparison["p_value"])
        assert "chance" not in treatment_row  # a frequentist analysis has no chance to win
        assert html.escape(comparison["summary"], quote=False) in page
        # The forest plot draws the same lift and interval.
        forest = json.loads(
            html.unescape(
                re.search(
                    rf'id="metric-{metric["key"]}".*?data-chart="forest" data-config="([^"]+)"',
                    page,
                    flags=re.S,
                ).group(1)
            )
        )
        assert forest["labels"] == ["Treatment"]  # variants show by name, not key
        assert forest["effects"] == [pytest.approx(comparison["effect"])]
        assert (forest["lows"], forest["highs"]) == (
            [pytest.approx(comparison["ci_low"])],
            [pytest.approx(comparison["ci_high"])],
        )
    # Lift over time: one row per day of first exposure (issue 13: not one per analysis),
    # the cumulative lift of the latest snapshot; its last day is the headline result.
    activation = next(m for m in latest.outputs["metrics"] if m["role"] == "primary")
    history = page.split(f'id="history-{activation["key"]}"', 1)[1].split("</table>", 1)[0]
    points = [
        p
        for p in latest.outputs["cumulative"]
        if (p["metric"], p["variant"]) == (activation["key"], "treatment")
    ]
    assert len(points) == 10  # exposures spread over 10 days
    lifts = re.findall(
        r'<tr data-day="([^"]+)"><td>[^<]+</td><td>Treatment</td><td class="num">([^<]+)</td>',
        history,
    )
    assert lifts == [
        (p["day"], html.escape(("+" if p["effect"] > 0 else "") + _effect(p["effect"])))
        for p in points
    ]
    assert points[-1]["effect"] == pytest.approx(activation["comparisons"][0]["effect"])
    assert first.pk != latest.pk
    # Segments: one collapsible table per property, every value present.
    assert '<details class="segment" id="segment-country">' in page
    for country in ("US", "DE", "FR", "BR"):
        assert f"<tr><td>{country}</td>" in page
    assert 'id="health-ok"' in page


def test_metrics_are_ordered_primary_secondary_guardrail(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    roles = re.findall(r'class="card metric-block"[^>]*data-role="(\w+)"', page)
    assert roles == ["primary", "secondary", "guardrail"]


def test_bayesian_results_show_chance_to_win_and_risk_never_a_p_value(editor, small):
    experiment = planted_experiment(editor.workspace, small, engine="bayesian")
    snapshot = _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    metric = next(m for m in snapshot.outputs["metrics"] if m["role"] == "primary")
    (comparison,) = metric["comparisons"]
    row = _row(page, f"table-{metric['key']}", "treatment")
    assert row["chance"] == format_probability(comparison["chance_to_win"])
    assert row["risk"] == _effect(comparison["risk"])
    assert "p" not in row
    assert "p-value" not in page
    assert "Chance to win" in page
    assert "Credible interval" in page


def test_a_sample_ratio_mismatch_shows_its_banner(editor):
    data = generate(units_per_variant=(1500, 1100), seed=3)
    experiment = planted_experiment(editor.workspace, data)
    snapshot = _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    (srm,) = [b for b in snapshot.health["banners"] if b["check"] == "srm"]
    assert 'data-check="srm"' in page
    assert "Sample ratio mismatch." in page
    assert html.escape(srm["message"], quote=False) in page
    assert 'id="health-ok"' not in page


def test_before_the_first_analysis_the_page_is_an_empty_state(editor, small):
    experiment = planted_experiment(editor.workspace, small, write_data=False)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    assert 'id="results-empty"' in page
    assert "No results yet" in page
    assert 'id="refresh-button"' in page
    assert "metric-block" not in page


def test_refresh_queues_an_analysis_and_the_progress_reaches_the_new_results(
    editor, small, eager, django_capture_on_commit_callbacks
):
    experiment = planted_experiment(editor.workspace, small)
    client = _client(editor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("refresh", experiment), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    job = BackgroundJob.objects.get(subject=experiment.key)
    fragment = response.content.decode()
    # The task is queued after the commit, so the first fragment shows a queued job polling.
    assert 'id="refresh-progress"' in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert _url("job", experiment, job_id=job.pk) in fragment
    # The eager worker has finished by the next poll: the bar is full, polling stops and the
    # fragment asks for the new results.
    done = client.get(_url("job", experiment, job_id=job.pk)).content.decode()
    assert 'aria-valuenow="100"' in done
    assert 'hx-trigger="every 1s"' not in done
    assert _url("body", experiment) in done
    snapshot = ResultSnapshot.objects.get(experiment=experiment)
    assert snapshot.job_id == job.pk
    body = client.get(_url("body", experiment)).content.decode()
    assert f'data-snapshot="{snapshot.pk}"' in body
    assert html.escape(snapshot.outputs["verdict"], quote=False) in body


def test_a_queued_analysis_polls_every_second_and_shows_on_the_page(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    client = _client(editor)

    response = client.post(_url("refresh", experiment))  # without htmx: back to the page

    job = BackgroundJob.objects.get(subject=experiment.key)
    assert response.status_code == 302
    assert response["Location"] == f"{_url('page', experiment)}?job={job.pk}"
    BackgroundJob.objects.filter(pk=job.pk).update(status="running", progress=0.42)
    fragment = client.get(_url("job", experiment, job_id=job.pk)).content.decode()
    assert 'aria-valuenow="42"' in fragment
    assert 'hx-trigger="every 1s"' in fragment
    # A pending analysis shows on the page itself, started here or elsewhere.
    assert PendingAnalysis.objects.filter(experiment=experiment).exists()
    page = client.get(_url("page", experiment)).content.decode()
    assert 'id="refresh-progress"' in page
    assert 'aria-valuenow="42"' in page


def test_a_draft_cannot_be_refreshed_and_says_why(editor, small):
    experiment = planted_experiment(editor.workspace, small, write_data=False)
    experiment.status = "draft"
    experiment.save(update_fields=["status"])

    response = _client(editor).post(_url("refresh", experiment))

    assert response.status_code == 409
    assert 'id="refresh-error"' in response.content.decode()
    assert not BackgroundJob.objects.filter(subject=experiment.key).exists()


def test_viewers_see_results_without_the_refresh_button_and_cannot_refresh(viewer, small):
    experiment = planted_experiment(viewer.workspace, small)
    snapshot = _snapshot(experiment)
    client = _client(viewer)

    page = client.get(_url("page", experiment)).content.decode()
    response = client.post(_url("refresh", experiment), HTTP_HX_REQUEST="true")

    assert html.escape(snapshot.outputs["verdict"], quote=False) in page
    assert "Refresh now" not in page
    assert response.status_code == 403
    assert not BackgroundJob.objects.filter(subject=experiment.key).exists()


def test_another_workspaces_results_are_404(editor, outsider, small):
    experiment = planted_experiment(editor.workspace, small)
    _snapshot(experiment)
    job = BackgroundJob.objects.create(
        workspace=editor.workspace, kind="experiment_analysis", subject=experiment.key
    )
    client = _client(outsider)

    assert client.get(_url("page", experiment)).status_code == 404
    assert client.get(_url("body", experiment)).status_code == 404
    assert client.get(_url("job", experiment, job_id=job.pk)).status_code == 404
    assert client.post(_url("refresh", experiment)).status_code == 404
    assert BackgroundJob.objects.filter(subject=experiment.key).count() == 1


def test_signed_out_visitors_are_sent_to_sign_in(small, editor):
    experiment = planted_experiment(editor.workspace, small, write_data=False)

    response = Client().get(_url("page", experiment))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _by_id(page: str, element_id: str, tag: str = "(?:section|p|dd|span|ul)") -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</{tag}>', page, re.S)
    assert match, element_id
    return _text(match.group(1))


def test_health_checks_show_srm_and_the_others_beside_any_banner(editor):
    """A "too little data" banner shows, and the SRM result (passed, with its p-value), the
    multiple-exposure share and the guardrails are still listed."""
    data = generate(units_per_variant=(300, 300), activation_lift=0.0, seed=5)
    experiment = planted_experiment(editor.workspace, data, planned_mde=0.05)
    snapshot = _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    assert re.search(r'class="banner info" data-check="power"', page)  # the banner
    checks = dict(re.findall(r'<li data-check="(\w+)" data-status="(\w+)"', page))
    assert checks == {
        "srm": "passed",
        "multiple_exposures": "passed",
        "guardrail": "passed",
        "power": "info",
    }
    srm_p = snapshot.health["srm"]["p_value"]
    assert f"p = {srm_p:.3g}" in _by_id(page, "health-checks", "ul")
    assert "Control 300, Treatment 300" in _by_id(page, "health-checks", "ul")
    assert _by_id(page, "decision-action") == "Keep running"


def test_a_clear_win_shows_ship_and_no_keep_collecting_banner(editor):
    data = generate(units_per_variant=(1500, 1500), activation_lift=0.3)
    experiment = planted_experiment(editor.workspace, data, planned_mde=0.05)
    snapshot = _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    primary = next(m for m in snapshot.outputs["metrics"] if m["role"] == "primary")
    (comparison,) = primary["comparisons"]
    assert comparison["verdict"] == "win"
    assert _by_id(page, "decision-action") == "Ship"
    reason = _by_id(page, "decision-reason")
    assert f"{comparison['effect'] * 100:+.1f}%" in reason
    assert format_p_value(comparison["p_value"]) in reason
    assert "keep collecting" not in page
    assert not re.search(r'class="banner \w+" data-check="power"', page)


def test_a_concluded_experiment_reads_as_finished_with_variant_names(editor):
    data = generate(units_per_variant=(300, 300), activation_lift=0.0, seed=5)
    experiment = planted_experiment(editor.workspace, data, planned_mde=0.05)
    _snapshot(experiment)
    experiment_conclude(experiment=experiment, decision="rollback", rationale="Flat.", actor=None)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    assert "Refresh now" not in page
    assert "not enough evidence yet" not in page
    assert "keep collecting" not in page
    assert _by_id(page, "decision-action") == "Inconclusive"
    table = page.split('id="table-onboarding-activated"', 1)[1].split("</table>", 1)[0]
    heads = [_text(h) for h in re.findall(r'<th scope="row">(.*?)</th>', table, re.S)]
    assert heads == ["Control", "Treatment"]  # by name; no "control control"


def test_interval_levels_that_differ_by_row_are_explained(editor, small):
    experiment = planted_experiment(editor.workspace, small)
    snapshot = _snapshot(experiment)

    page = _client(editor).get(_url("page", experiment)).content.decode()

    levels = {
        f"{c['ci_level'] * 100:.1f}".removesuffix(".0")
        for m in snapshot.outputs["metrics"]
        for c in m["comparisons"]
    }
    assert len(levels) > 1
    note = _by_id(page, "levels-note")
    assert "Holm" in note
    assert "1 − α·p/p̃" in note
    for level in levels:
        assert f"{level}%" in note
    for m in snapshot.outputs["metrics"]:
        (c,) = m["comparisons"]
        row = _row(page, f"table-{m['key']}", "treatment")
        if abs(c["ci_level"] - 0.95) > 1e-9:
            assert row["interval"].endswith(", Holm)")
