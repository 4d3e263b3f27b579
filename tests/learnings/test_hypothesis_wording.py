"""A hypothesis reads "We believe … for … will … because …" with each connecting word once,
whether the parts were typed with it (the demo did) or without."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from experiments.hypothesis import CONNECTORS, hypothesis_part
from experiments.models import Experiment
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from learnings.demo import CHECKLIST_DESIGN, TOOLBAR_DESIGN

pytestmark = pytest.mark.django_db

DOUBLED = re.compile(r"\b(we believe|for|will|because)\s+\1\b", re.IGNORECASE)


@pytest.mark.parametrize("design", [CHECKLIST_DESIGN, TOOLBAR_DESIGN], ids=lambda d: d.key)
def test_demo_hypothesis_parts_do_not_start_with_their_connecting_word(design):
    for part, connector in CONNECTORS.items():
        text = getattr(design, f"hypothesis_{part}")
        assert not text.lower().startswith(connector + " "), (part, text)


@pytest.mark.parametrize(
    ("text", "part", "expected"),
    [
        ("for every new user", "audience", "every new user"),
        ("For  For new users", "audience", "new users"),
        ("formal users", "audience", "formal users"),  # a word that merely starts with "for"
        ("will will raise Aha", "outcome", "raise Aha"),
        ("willing users", "outcome", "willing users"),
        ("because because users said so.", "evidence", "users said so."),
        ("We believe adding a checklist", "change", "adding a checklist"),
        ("because", "evidence", ""),
    ],
)
def test_hypothesis_part_drops_only_a_leading_connector(text, part, expected):
    assert hypothesis_part(text, part) == expected


def test_sentence_from_parts_stored_with_their_connectors_reads_each_word_once(workspace):
    experiment = Experiment(
        workspace=workspace,
        key="x",
        name="X",
        hypothesis_change="We believe showing a checklist.",
        hypothesis_audience="for new users",
        hypothesis_outcome="will raise Aha",
        hypothesis_evidence="because because interviews said so.",
    )
    assert experiment.hypothesis == (
        "We believe showing a checklist for new users will raise Aha because interviews said so."
    )


def test_design_stores_parts_without_their_connectors(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key="checklist",
            name="Checklist",
            hypothesis_change="adding a checklist",
            hypothesis_audience="for new owners",
            hypothesis_outcome="will raise the Aha rate",
            hypothesis_evidence="because interviews say so",
            variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("b", 0.5)),
            primary_metric="aha-rate",
        ),
        actor=None,
    )
    experiment.refresh_from_db()
    assert experiment.hypothesis_audience == "new owners"
    assert experiment.hypothesis_outcome == "raise the Aha rate"
    assert experiment.hypothesis_evidence == "interviews say so"


def test_experiment_page_of_a_demo_design_reads_each_connector_once(
    client, editor, workspace, make_metric
):
    make_metric(workspace, CHECKLIST_DESIGN.primary_metric)
    for key in (*CHECKLIST_DESIGN.secondary_metrics, *CHECKLIST_DESIGN.guardrail_metrics):
        make_metric(workspace, key)
    experiment = experiment_create(workspace=workspace, design=CHECKLIST_DESIGN, actor=None)
    client.force_login(editor.user)
    response = client.get(reverse("experiments_web:detail", args=[experiment.key]))
    html = response.content.decode()
    assert "for every new user in their first week will raise 7-day Aha" in html
    assert not DOUBLED.search(html)
