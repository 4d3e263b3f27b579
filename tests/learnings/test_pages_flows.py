"""Learnings pages that span experiments: concluding an experiment from its page (and the
learning it leaves), archiving, "have we tried this before?" while drafting, the product-area
taxonomy, and the meta-analysis with the selector's numbers."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.urls import reverse

from experiments.models import Experiment, ExperimentStatus
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import (
    RATIONALE_REQUIRED,
    SHIP_NEEDS_VARIANT,
    experiment_start,
)
from learnings.models import Learning, ProductArea
from learnings.selectors import meta_analysis
from learnings.services.areas import PATH_TAKEN
from learnings.shrinkage import METHOD_NAMES
from tests.learnings.test_learning_support import (
    MetricResult,
    at,
    concluded_experiment,
    manual_learning,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def running(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    experiment = experiment_create(
        workspace=workspace,
        design=ExperimentDesign(
            key="onboarding-checklist",
            name="Onboarding checklist",
            hypothesis_change="adding an onboarding checklist",
            hypothesis_outcome="raise the Aha rate",
            variants=(
                VariantSpec("control", 0.5, is_control=True),
                VariantSpec("checklist", 0.5, name="Checklist"),
            ),
            primary_metric="aha-rate",
            product_area="Onboarding",
        ),
        actor=None,
    )
    return experiment_start(experiment=experiment, actor=None)


def _conclude_url(key: str = "onboarding-checklist") -> str:
    return reverse("learnings_web:conclude", args=[key])


# --- Concluding -------------------------------------------------------------------------------


def test_experiment_page_offers_the_conclude_dialog_to_editors_only(
    client, editor, viewer, running
):
    detail = reverse("experiments_web:detail", args=[running.key])
    client.force_login(editor.user)
    html = _html(client.get(detail))
    assert f'hx-get="{_conclude_url()}"' in html
    assert '<dialog id="conclude-dialog"' in html
    client.force_login(viewer.user)
    html = _html(client.get(detail))
    assert _conclude_url() not in html
    assert reverse("experiments_web:archive", args=[running.key]) not in html


def test_the_dialog_form_comes_as_a_fragment_for_htmx_and_a_page_without(client, editor, running):
    client.force_login(editor.user)
    fragment = _html(client.get(_conclude_url(), **HTMX))
    assert fragment.lstrip().startswith("<form")
    assert 'value="checklist" selected' in fragment  # the only variant to ship is chosen
    page = _html(client.get(_conclude_url()))
    assert "<!doctype html>" in page
    assert 'id="conclude-form"' in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"decision": "ship", "variant": "", "rationale": "Won"}, "variant", SHIP_NEEDS_VARIANT),
        ({"decision": "iterate", "rationale": " "}, "rationale", RATIONALE_REQUIRED),
        ({"decision": "ship", "variant": "nope", "rationale": "x"}, "variant", "valid choice"),
    ],
)
def test_a_refused_conclusion_is_shown_beside_its_field_and_changes_nothing(
    client, editor, running, data, field, message, django_capture_on_commit_callbacks
):
    client.force_login(editor.user)
    with django_capture_on_commit_callbacks(execute=True):
        html = _html(client.post(_conclude_url(), data, **HTMX))
    error = re.search(rf'id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert error is not None
    assert message in error.group(1)
    running.refresh_from_db()
    assert running.status == ExperimentStatus.RUNNING
    assert not Learning.objects.exists()


def test_concluding_in_the_dialog_links_to_the_recorded_learning(
    client, editor, running, django_capture_on_commit_callbacks
):
    client.force_login(editor.user)
    with django_capture_on_commit_callbacks(execute=True):
        html = _html(
            client.post(
                _conclude_url(),
                {"decision": "ship", "variant": "checklist", "rationale": "Aha rate up 15%"},
                **HTMX,
            )
        )
    learning = Learning.objects.get(experiment=running)
    assert learning.decision == "ship"
    assert learning.decision_variant == "checklist"
    assert learning.author == editor.user
    assert f'href="{reverse("learnings_web:detail", args=[learning.pk])}"' in html
    assert "is concluded" in html
    running.refresh_from_db()
    assert running.status == ExperimentStatus.CONCLUDED
    # The experiment page now shows the decision and leads to its learning.
    detail = _html(client.get(reverse("experiments_web:detail", args=[running.key])))
    assert "Aha rate up 15%" in detail
    learning_link = reverse("learnings_web:experiment-learning", args=[running.key])
    assert learning_link in detail
    assert client.get(learning_link)["Location"] == reverse(
        "learnings_web:detail", args=[learning.pk]
    )


def test_concluding_without_javascript_lands_on_the_learning(client, editor, running):
    """Without the post-commit hook having run (the test's transaction never commits), the
    view records the learning itself."""
    client.force_login(editor.user)
    response = client.post(_conclude_url(), {"decision": "rollback", "rationale": "No effect"})
    learning = Learning.objects.get(experiment=running)
    assert response.status_code == 302
    assert response["Location"] == reverse("learnings_web:detail", args=[learning.pk])
    assert learning.decision == "rollback"


def test_a_concluded_experiment_cannot_be_concluded_again(client, editor, running):
    client.force_login(editor.user)
    client.post(_conclude_url(), {"decision": "iterate", "rationale": "Try a shorter list"})
    html = _html(client.get(_conclude_url(), **HTMX))
    assert "only a running or stopped experiment can be concluded" in html
    html = _html(client.post(_conclude_url(), {"decision": "rollback", "rationale": "x"}, **HTMX))
    assert "only a running or stopped experiment can be concluded" in html
    assert Experiment.objects.get(pk=running.pk).decision == "iterate"


def test_viewers_and_other_workspaces_cannot_conclude_or_archive(client, viewer, outsider, running):
    archive = reverse("experiments_web:archive", args=[running.key])
    client.force_login(viewer.user)
    assert client.get(_conclude_url()).status_code == 403
    assert (
        client.post(_conclude_url(), {"decision": "iterate", "rationale": "x"}).status_code == 403
    )
    assert client.post(archive).status_code == 403
    client.force_login(outsider.user)
    assert client.get(_conclude_url()).status_code == 404
    assert (
        client.post(_conclude_url(), {"decision": "iterate", "rationale": "x"}).status_code == 404
    )
    assert client.post(archive).status_code == 404
    running.refresh_from_db()
    assert running.status == ExperimentStatus.RUNNING
    assert not Learning.objects.exists()


def test_archive_from_the_experiment_page(client, editor, running):
    client.force_login(editor.user)
    archive = reverse("experiments_web:archive", args=[running.key])
    # A running experiment cannot be archived: the page says why.
    client.post(archive)
    running.refresh_from_db()
    assert running.status == ExperimentStatus.RUNNING
    client.post(_conclude_url(), {"decision": "rollback", "rationale": "Flat"})
    response = client.post(archive, follow=True)
    assert "is now archived" in response.content.decode()
    running.refresh_from_db()
    assert running.status == ExperimentStatus.ARCHIVED


# --- Have we tried this before? ---------------------------------------------------------------


def test_the_design_form_has_the_tried_before_panel(client, editor, make_metric, workspace):
    make_metric(workspace, "aha-rate")
    client.force_login(editor.user)
    html = _html(client.get(reverse("experiments_web:create")))
    assert f'hx-get="{reverse("learnings_web:tried-before")}"' in html
    assert "input delay:500ms from:#hypothesis-card" in html


def test_tried_before_shows_similar_learnings_for_a_draft(client, editor, workspace):
    checklist = manual_learning(
        workspace,
        "Onboarding checklist lifts activation",
        hypothesis="Showing new owners an onboarding checklist raises activation",
        learned="Owners with the checklist reached the Aha moment sooner.",
        area="Onboarding",
    )
    manual_learning(workspace, "Annual pricing", learned="Admins want annual billing.")
    client.force_login(editor.user)
    url = reverse("learnings_web:tried-before")
    html = _html(
        client.get(
            url,
            {
                "hypothesis_change": "an onboarding checklist for new owners",
                "hypothesis_outcome": "raise activation",
                "product_area": "onboarding",
            },
        )
    )
    assert reverse("learnings_web:detail", args=[checklist.pk]) in html
    assert "same area" in html
    assert "Annual pricing" not in html
    assert 'target="_blank"' in html
    assert "as you write the hypothesis" in _html(client.get(url))
    assert "Nothing like this" in _html(client.get(url, {"hypothesis_change": "quantum foo"}))


def test_tried_before_reads_only_this_workspace(client, outsider, workspace):
    manual_learning(workspace, "Onboarding checklist", learned="An onboarding checklist helps.")
    client.force_login(outsider.user)
    html = _html(
        client.get(reverse("learnings_web:tried-before"), {"hypothesis_change": "onboarding"})
    )
    assert "Onboarding checklist" not in html


# --- Product areas ----------------------------------------------------------------------------


@pytest.fixture
def areas(workspace):
    manual_learning(workspace, "Sharing links", area="Editor › Sharing")
    manual_learning(workspace, "Editor speed", area="Editor")
    manual_learning(workspace, "Old share menu", area="Collaboration › Sharing")
    return {a.path: a for a in ProductArea.objects.filter(workspace=workspace)}


def test_areas_page_lists_the_tree_with_counts(client, viewer, areas):
    client.force_login(viewer.user)
    html = _html(client.get(reverse("learnings_web:areas")))
    editor = areas["Editor"]
    assert re.search(
        rf'\?product_area={editor.pk}"[^>]*>2</a> <span class="muted small">\(1 here\)', html
    )
    assert "(in Editor)" in html


def test_rename_keeps_the_learnings_tagged(client, editor, areas):
    area = areas["Editor"]
    client.force_login(editor.user)
    url = reverse("learnings_web:area-rename", args=[area.pk])
    response = client.post(url, {f"rename-{area.pk}-name": "Document editor"})
    assert response.status_code == 302
    assert Learning.objects.get(title="Sharing links").product_area.path == (
        "Document editor › Sharing"
    )


def test_rename_onto_an_existing_path_is_refused_in_its_row(client, editor, areas):
    area = areas["Editor"]
    client.force_login(editor.user)
    url = reverse("learnings_web:area-rename", args=[area.pk])
    html = _html(client.post(url, {f"rename-{area.pk}-name": "Collaboration"}))
    error = re.search(rf'id="id_rename-{area.pk}-name_error">(.*?)</ul>', html, re.S)
    assert error is not None
    assert unescape(error.group(1)).count(PATH_TAKEN.format(path="Collaboration"))
    area.refresh_from_db()
    assert area.name == "Editor"


def test_merge_moves_learnings_and_sub_areas(client, editor, areas):
    source, target = areas["Collaboration"], areas["Editor"]
    client.force_login(editor.user)
    url = reverse("learnings_web:area-merge", args=[source.pk])
    response = client.post(url, {f"merge-{source.pk}-into": str(target.pk)})
    assert response.status_code == 302
    assert not ProductArea.objects.filter(pk=source.pk).exists()
    assert Learning.objects.get(title="Old share menu").product_area == areas["Editor › Sharing"]


def test_merge_into_its_own_sub_area_is_not_offered_nor_accepted(client, editor, areas):
    source, child = areas["Editor"], areas["Editor › Sharing"]
    client.force_login(editor.user)
    page = _html(client.get(reverse("learnings_web:areas")))
    merge_select = re.search(rf'<select name="merge-{source.pk}-into".*?</select>', page, re.S)
    assert f'value="{child.pk}"' not in merge_select.group(0)
    url = reverse("learnings_web:area-merge", args=[source.pk])
    html = _html(client.post(url, {f"merge-{source.pk}-into": str(child.pk)}))
    assert re.search(rf'id="id_merge-{source.pk}-into_error">.*?valid choice', html, re.S)
    assert ProductArea.objects.filter(pk=source.pk).exists()


def test_only_empty_areas_can_be_deleted(client, editor, areas, workspace):
    client.force_login(editor.user)
    full = areas["Editor"]
    response = client.post(reverse("learnings_web:area-delete", args=[full.pk]), follow=True)
    assert "still has learnings" in response.content.decode()
    client.post(reverse("learnings_web:area-create"), {"name": "Billing", "parent": ""})
    empty = ProductArea.objects.get(workspace=workspace, path="Billing")
    client.post(reverse("learnings_web:area-delete", args=[empty.pk]))
    assert not ProductArea.objects.filter(pk=empty.pk).exists()
    assert ProductArea.objects.filter(pk=full.pk).exists()


# --- Meta-analysis ----------------------------------------------------------------------------


@pytest.fixture
def experiments(workspace, make_metric, django_capture_on_commit_callbacks):
    arms = [
        ("checklist", "Onboarding", (10000, 1000), (10000, 1150), "ship"),
        ("tooltip", "Onboarding", (10000, 1000), (10000, 1040), "ship"),
        ("share-button", "Editor › Sharing", (8000, 800), (8000, 880), "ship"),
        ("dark-mode", "Editor", (8000, 800), (8000, 770), "rollback"),
        ("pricing-copy", "Billing", (5000, 500), (5000, 520), "iterate"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        for key, area, control, treatment, decision in arms:
            concluded_experiment(
                workspace,
                make_metric,
                key=key,
                product_area=area,
                results=[MetricResult("aha", "primary", control, treatment)],
                decision=decision,
                concluded_at=at(2026, 2, 10),
            )


def test_meta_analysis_page_shows_raw_and_shrunk_with_the_method(client, viewer, experiments):
    client.force_login(viewer.user)
    html = _html(client.get(reverse("learnings_web:meta")))
    result = meta_analysis(workspace=viewer.workspace)
    assert f"Method: {METHOD_NAMES['empirical_bayes']}" in html
    total = result.total
    assert f"{total.wins / total.experiments * 100:.0f}%" in html
    assert f"+{total.cumulative_impact * 100:.1f}%" in html
    assert f"+{total.cumulative_impact_shrunk * 100:.1f}%" in html
    impact = re.search(r'id="impact-chart" data-chart="bars" data-config="([^"]*)"', html)
    config = json.loads(unescape(impact.group(1)))
    assert config["labels"] == [group.label for group in result.groups]
    raw, shrunk = config["series"]
    assert raw["values"] == pytest.approx([g.cumulative_impact for g in result.groups])
    assert shrunk["values"] == pytest.approx([g.cumulative_impact_shrunk for g in result.groups])
    assert 'role="img"' in html
    assert 'aria-describedby="meta-table"' in html
    assert '<table id="meta-table">' in html


def test_meta_analysis_by_another_tag_and_method(client, viewer, experiments):
    client.force_login(viewer.user)
    html = _html(
        client.get(reverse("learnings_web:meta"), {"group_by": "quarter", "method": "james_stein"})
    )
    assert "Win rate by quarter" in html
    assert "2026-Q1" in html
    assert METHOD_NAMES["james_stein"] in html


def test_meta_analysis_follows_the_search_it_came_from(client, viewer, experiments):
    onboarding = ProductArea.objects.get(workspace=viewer.workspace, path="Onboarding")
    client.force_login(viewer.user)
    html = _html(client.get(reverse("learnings_web:meta"), {"product_area": onboarding.pk}))
    assert '<span class="value">2</span><span class="label">experiments</span>' in html
    assert f'name="product_area" value="{onboarding.pk}"' in html
    assert "Only the learnings of" in html


def test_meta_analysis_without_experiments_says_so(client, viewer):
    client.force_login(viewer.user)
    assert "No concluded experiments yet" in _html(client.get(reverse("learnings_web:meta")))
