"""The conclude dialog asks for what we learned, prefilled with the primary metric's verdict,
and the learning stores what the person wrote."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from experiments.models import ExperimentStatus, ResultSnapshot
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from experiments.stats import ENGINE_VERSION
from learnings.models import Learning
from learnings.services.from_experiment import LEARNED_MAX_CHARS
from tests.learnings.test_learning_support import MetricResult, snapshot_outputs

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
INSIGHT = "New users skip a checklist they did not ask for; show the next step in context instead."
RESULT = MetricResult("aha-rate", "primary", control=(1000, 200), treatment=(1000, 260))


@pytest.fixture
def running(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key="checklist",
            name="Checklist",
            hypothesis_change="adding an onboarding checklist",
            variants=(
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("treatment", 0.5, name="Checklist"),
            ),
            primary_metric="aha-rate",
        ),
        actor=None,
    )
    return experiment_start(experiment=experiment, actor=None)


@pytest.fixture
def analysed(running):
    ResultSnapshot.objects.create(
        experiment=running,
        phase=running.phases.get(),
        data_cutoff=timezone.now(),
        engine_version=ENGINE_VERSION,
        settings={"engine": "frequentist", "difference": "relative"},
        inputs={},
        outputs=snapshot_outputs([RESULT]),
        health={"srm": {"flag": False}},
        run_seconds=0.01,
    )
    return running


def _verdict() -> str:
    return snapshot_outputs([RESULT])["metrics"][0]["comparisons"][0]["summary"]


def _learned_field(html: str) -> str:
    match = re.search(r'<textarea name="learned"[^>]*>(.*?)</textarea>', html, re.S)
    assert match is not None, "no 'What we learned' field"
    return unescape(match.group(1)).strip()


def _url(experiment) -> str:
    return reverse("learnings_web:conclude", args=[experiment.key])


def test_dialog_asks_what_we_learned_prefilled_with_the_verdict(client, editor, analysed):
    client.force_login(editor.user)
    html = client.get(_url(analysed), **HTMX).content.decode()
    assert "What we learned" in html
    verdict = _verdict()
    assert "checklist" in verdict.lower() or "aha" in verdict.lower()
    assert _learned_field(html) == verdict


def test_without_an_analysis_the_field_starts_blank(client, editor, running):
    client.force_login(editor.user)
    assert _learned_field(client.get(_url(running), **HTMX).content.decode()) == ""


def test_the_insight_written_is_stored_not_the_verdict(
    client, editor, analysed, django_capture_on_commit_callbacks
):
    client.force_login(editor.user)
    with django_capture_on_commit_callbacks(execute=True):  # the hook records it first
        html = client.post(
            _url(analysed),
            {
                "decision": "ship",
                "variant": "treatment",
                "rationale": "Aha up 6 points",
                "learned": INSIGHT,
            },
            **HTMX,
        ).content.decode()
    learning = Learning.objects.get(experiment=analysed)
    assert learning.learned == INSIGHT
    assert INSIGHT in unescape(html)
    detail = client.get(reverse("learnings_web:detail", args=[learning.pk])).content.decode()
    assert INSIGHT in unescape(detail)


def test_the_verdict_kept_as_it_was_is_stored(client, editor, analysed):
    client.force_login(editor.user)
    client.post(
        _url(analysed),
        {"decision": "rollback", "rationale": "Guardrail", "learned": _verdict()},
    )
    assert Learning.objects.get(experiment=analysed).learned == _verdict()


def test_an_overlong_insight_is_refused_beside_its_field_and_concludes_nothing(
    client, editor, analysed
):
    client.force_login(editor.user)
    html = client.post(
        _url(analysed),
        {"decision": "rollback", "rationale": "x", "learned": "x" * (LEARNED_MAX_CHARS + 1)},
        **HTMX,
    ).content.decode()
    assert re.search(r'id="id_learned_error">.*?at most', html, re.S)
    analysed.refresh_from_db()
    assert analysed.status == ExperimentStatus.RUNNING
    assert not Learning.objects.exists()
