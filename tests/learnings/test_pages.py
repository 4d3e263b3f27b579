"""Learnings pages with Django's test client: search (stemming, safe highlights, facets, sort,
pages, export links), a learning's page with its numbers, edits and effect overrides, adding
a learning by hand; who may see and do what; nothing crosses workspaces; bad input is shown
beside its field and nothing is written."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from learnings.models import EffectOverride, Learning, ProductArea, Source
from learnings.services.areas import product_area_create
from learnings.services.effects import REASON_REQUIRED
from learnings.views.base import EDITORS_ONLY
from tests.learnings.test_learning_support import (
    MetricResult,
    concluded_experiment,
    manual_learning,
)

pytestmark = pytest.mark.django_db

SEARCH = reverse("learnings_web:search")
NEW = reverse("learnings_web:create")
AREAS = reverse("learnings_web:areas")


def _detail(learning: Learning) -> str:
    return reverse("learnings_web:detail", args=[learning.pk])


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def library(workspace):
    """Three learnings by hand in two areas, with tags and effects."""
    return [
        manual_learning(
            workspace,
            "Onboarding checklist lifts activation",
            learned="New owners who saw the onboarding checklist reached the Aha moment sooner.",
            area="Onboarding",
            funnel_stage="activation",
            tags=["checklist"],
            learned_on=date(2026, 2, 1),
        ),
        manual_learning(
            workspace,
            "Share dialog confuses viewers",
            learned="Support tickets about sharing doubled after the redesign.",
            area="Editor › Sharing",
            funnel_stage="retention",
            source=Source.SUPPORT,
            learned_on=date(2026, 3, 1),
        ),
        manual_learning(
            workspace,
            "Pricing page interviews",
            learned="Teams compare us with spreadsheets, not competitors.",
            area="Editor",
            funnel_stage="revenue",
            source=Source.INTERVIEW,
            learned_on=date(2026, 1, 10),
        ),
    ]


@pytest.fixture
def analysed(workspace, make_metric, django_capture_on_commit_callbacks):
    """A concluded experiment with a primary metric, a guardrail and a retention metric."""
    with django_capture_on_commit_callbacks(execute=True):
        experiment = concluded_experiment(
            workspace,
            make_metric,
            key="onboarding-checklist",
            name="Onboarding checklist",
            product_area="Onboarding",
            funnel_stage="activation",
            team="Growth",
            results=[
                MetricResult("aha", "primary", (10000, 1000), (10000, 1150)),
                MetricResult(
                    "unsubscribes",
                    "guardrail",
                    (10000, 200),
                    (10000, 205),
                    higher_is_better=False,
                ),
                MetricResult(
                    "week-2-return", "secondary", (10000, 3000), (10000, 3250), tags=("retention",)
                ),
            ],
        )
    return Learning.objects.get(experiment=experiment)


# --- Search -----------------------------------------------------------------------------------


def test_a_stemmed_query_finds_and_highlights_the_learning(client, viewer, library):
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH, {"q": "onboard"}))
    assert "1 learning" in html
    assert "<mark>Onboarding</mark> checklist lifts activation" in html
    assert "Share dialog" not in html


def test_highlights_are_escaped_and_only_the_marks_are_html(client, viewer, workspace):
    """The search returns title and snippet HTML-escaped with <mark> around matches; the page
    shows exactly that (PostgreSQL's ts_headline also drops tag-like text from snippets)."""
    manual_learning(
        workspace,
        "<script>alert('title')</script> onboarding",
        learned="<b>bold</b> onboarding & <img src=x onerror=alert(1)>",
    )
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH, {"q": "onboarding"}))
    hit = re.search(r'<li class="card hit">(.*?)</li>', html, re.S).group(1)
    for raw in ("<script", "<img", "<b>"):
        assert raw not in hit
    assert (
        "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; <mark>onboarding</mark>" in hit
        or ("&lt;script&gt;alert('title')&lt;/script&gt; <mark>onboarding</mark>" in hit)
    )
    snippet = re.search(r'<p class="snippet">(.*?)</p>', hit, re.S).group(1)
    assert "<mark>onboarding</mark> &amp; &lt;img src=x" in snippet
    assert re.sub(r"</?mark>", "", snippet).count("<") == 0


def test_facets_show_counts_and_toggle_on_and_off(client, viewer, library):
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH))
    assert "3 learnings" in html
    editor_area = ProductArea.objects.get(workspace=viewer.workspace, path="Editor")
    # Editor counts its sub-area: 2 learnings.
    link = re.search(
        rf'href="\?product_area={editor_area.pk}"[^>]*>.*?<span class="count">(\d+)', html
    )
    assert link is not None
    assert link.group(1) == "2"

    html = _html(client.get(SEARCH, {"product_area": editor_area.pk}))
    assert "2 learnings" in html
    assert "Share dialog confuses viewers" in html
    assert "Pricing page interviews" in html
    assert "Onboarding checklist" not in html
    assert "(remove this filter)" in html
    # The selected value's link removes it again; the others add to it (OR within a facet).
    assert re.search(r'class="facet-link selected" href="\?"', html)

    html = _html(client.get(SEARCH, {"product_area": editor_area.pk, "source": "support"}))
    assert "1 learning" in html
    assert "Share dialog confuses viewers" in html


def test_bad_facet_values_are_ignored_not_an_error(client, viewer, library):
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH, {"funnel_stage": "nonsense", "product_area": "x1"}))
    assert "3 learnings" in html


def test_sort_by_impact_puts_the_largest_first(client, viewer, workspace, library):
    Learning.objects.filter(pk=library[2].pk).update(impact=0.30)
    Learning.objects.filter(pk=library[0].pk).update(impact=0.05)
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH, {"sort": "impact"}))
    order = [html.index(lr.title) for lr in (library[2], library[0], library[1])]
    assert order == sorted(order)
    assert "+30.0%" in html


def test_results_come_in_pages_of_twenty(client, viewer, workspace):
    for n in range(23):
        manual_learning(workspace, f"Learning number {n:02d}", learned_on=date(2026, 1, n + 1))
    client.force_login(viewer.user)
    first = _html(client.get(SEARCH))
    assert "23 learnings" in first
    assert "(showing 1–20)" in first
    assert "Learning number 22" in first
    assert "Learning number 02" not in first
    second = _html(client.get(SEARCH, {"page": 2}))
    assert "(showing 21–23)" in second
    assert "Learning number 02" in second
    assert "Learning number 22" not in second
    # A page past the end shows the last one.
    assert "(showing 21–23)" in _html(client.get(SEARCH, {"page": 9}))


def test_export_links_export_exactly_this_search(client, viewer, library):
    client.force_login(viewer.user)
    html = _html(client.get(SEARCH, {"q": "sharing", "funnel_stage": "retention", "page": "1"}))
    csv_link = re.search(r'href="(/api/v1/learnings/export\.csv[^"]*)"', html).group(1)
    assert "q=sharing" in csv_link
    assert "funnel_stage=retention" in csv_link
    assert "page=" not in csv_link
    exported = client.get(csv_link.replace("&amp;", "&"))
    assert exported.status_code == 200
    text = exported.content.decode()
    assert "Share dialog confuses viewers" in text
    assert "Onboarding checklist" not in text
    md_link = re.search(r'href="(/api/v1/learnings/export\.md[^"]*)"', html).group(1)
    assert client.get(md_link.replace("&amp;", "&")).status_code == 200


# --- A learning's page ------------------------------------------------------------------------


def test_learning_page_shows_the_numbers_behind_the_effects(client, viewer, analysed):
    client.force_login(viewer.user)
    html = _html(client.get(_detail(analysed)))
    primary = analysed.primary_result
    assert f"+{primary['effect'] * 100:.1f}%" in html
    assert f"+{primary['ci_low'] * 100:.1f}% to +{primary['ci_high'] * 100:.1f}%" in html
    assert f"p = {primary['p_value']:.2g}" in html
    guardrail = analysed.guardrail_results[0]
    assert re.search(
        r"<th scope=\"row\">unsubscribes<br><span class=\"muted small\">guardrail · lower is "
        r"better, variant <code>treatment</code></span></th>.*?"
        + re.escape(f"+{guardrail['effect'] * 100:.1f}%"),
        html,
        re.S,
    )
    assert 'data-chart="forest"' in html
    # Retention came from the retention-tagged metric; acquisition was not measured.
    assert analysed.retention_effect == "positive"
    assert re.search(r'class="effect positive">Positive<', html)
    assert "No acquisition metric measured this experiment." in html
    assert reverse("experiments_web:detail", args=["onboarding-checklist"]) in html


def test_viewer_sees_no_edit_actions(client, viewer, analysed, library):
    client.force_login(viewer.user)
    html = _html(client.get(_detail(analysed)))
    assert reverse("learnings_web:edit", args=[analysed.pk]) not in html
    assert reverse("learnings_web:effect-override", args=[analysed.pk]) not in html
    assert "Override this tag" not in html
    assert NEW not in _html(client.get(SEARCH))
    areas = _html(client.get(AREAS))
    assert "Onboarding" in areas
    assert "Rename" not in areas
    assert reverse("learnings_web:area-create") not in areas


def test_viewer_posts_are_forbidden_and_write_nothing(client, viewer, analysed, library):
    client.force_login(viewer.user)
    area = ProductArea.objects.get(workspace=viewer.workspace, path="Editor")
    posts = {
        NEW: {"title": "Sneaky", "source": "research"},
        reverse("learnings_web:edit", args=[analysed.pk]): {"title": "Renamed"},
        reverse("learnings_web:effect-override", args=[analysed.pk]): {
            "dimension": "acquisition",
            "acquisition-value": "negative",
            "acquisition-reason": "because",
        },
        reverse("learnings_web:area-create"): {"name": "New"},
        reverse("learnings_web:area-rename", args=[area.pk]): {f"rename-{area.pk}-name": "X"},
        reverse("learnings_web:area-delete", args=[area.pk]): {},
        reverse("learnings_web:conclude", args=["onboarding-checklist"]): {"decision": "iterate"},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert EDITORS_ONLY in response.content.decode() or "conclude" in url
    for url in (NEW, reverse("learnings_web:edit", args=[analysed.pk])):
        assert client.get(url).status_code == 403
    analysed.refresh_from_db()
    assert analysed.title == "Onboarding checklist"
    assert analysed.acquisition_effect == ""
    assert not EffectOverride.objects.exists()
    assert not Learning.objects.filter(title="Sneaky").exists()
    assert ProductArea.objects.filter(pk=area.pk, name="Editor").exists()


def test_another_workspaces_learnings_are_not_found(client, outsider, analysed, library):
    client.force_login(outsider.user)
    for url in (_detail(analysed), reverse("learnings_web:edit", args=[analysed.pk])):
        assert client.get(url).status_code == 404
    response = client.post(
        reverse("learnings_web:effect-override", args=[analysed.pk]),
        {"dimension": "retention", "retention-value": "negative", "retention-reason": "x"},
    )
    assert response.status_code == 404
    area = ProductArea.objects.get(workspace=analysed.workspace, path="Editor")
    rename = reverse("learnings_web:area-rename", args=[area.pk])
    assert client.post(rename, {f"rename-{area.pk}-name": "Mine"}).status_code == 404
    html = _html(client.get(SEARCH, {"q": "onboarding"}))
    assert "Onboarding checklist" not in html
    assert "Onboarding" not in _html(client.get(AREAS))
    assert (
        client.get(
            reverse("learnings_web:experiment-learning", args=["onboarding-checklist"])
        ).status_code
        == 404
    )
    analysed.refresh_from_db()
    assert analysed.retention_effect == "positive"
    area.refresh_from_db()
    assert area.name == "Editor"


def test_override_without_a_reason_is_refused_beside_the_field(client, editor, analysed):
    client.force_login(editor.user)
    url = reverse("learnings_web:effect-override", args=[analysed.pk])
    response = client.post(
        url, {"dimension": "retention", "retention-value": "neutral", "retention-reason": "  "}
    )
    html = _html(response)
    error = re.search(r'<ul class="errorlist" id="id_retention-reason_error">(.*?)</ul>', html)
    assert error is not None
    assert REASON_REQUIRED in error.group(1)
    assert 'aria-invalid="true"' in html
    assert re.search(r'<details class="override" open>', html)
    analysed.refresh_from_db()
    assert analysed.retention_effect == "positive"
    assert not EffectOverride.objects.exists()


def test_override_with_a_reason_changes_the_tag_and_keeps_the_history(client, editor, analysed):
    client.force_login(editor.user)
    url = reverse("learnings_web:effect-override", args=[analysed.pk])
    response = client.post(
        url,
        {
            "dimension": "retention",
            "retention-value": "neutral",
            "retention-reason": "Week-2 return was a novelty spike",
        },
    )
    assert response.status_code == 302
    analysed.refresh_from_db()
    assert analysed.retention_effect == "neutral"
    html = _html(client.get(_detail(analysed)))
    assert "overridden" in html
    assert "Week-2 return was a novelty spike" in html
    assert "The analysis says: positive." in html


def test_edit_with_a_blank_title_is_refused_and_changes_nothing(client, editor, library):
    learning = library[0]
    client.force_login(editor.user)
    url = reverse("learnings_web:edit", args=[learning.pk])
    html = _html(client.post(url, {"title": "", "learned": "Changed", "tags": "x"}))
    assert re.search(r'id="id_title_error">.*?This field is required', html, re.S)
    learning.refresh_from_db()
    assert learning.learned.startswith("New owners")


def test_edit_changes_title_learned_tags_and_area(client, editor, library):
    learning = library[0]
    area = ProductArea.objects.get(workspace=editor.workspace, path="Editor › Sharing")
    client.force_login(editor.user)
    url = reverse("learnings_web:edit", args=[learning.pk])
    form = _html(client.get(url))
    assert 'value="checklist"' in form
    response = client.post(
        url,
        {
            "title": "Checklists help new owners",
            "learned": "They reach the Aha moment a day sooner.",
            "tags": "Checklist, Onboarding, checklist",
            "product_area": str(area.pk),
            "funnel_stage": "activation",
            "attachments": "https://example.com/deck.pdf Research deck",
        },
    )
    assert response.status_code == 302
    learning.refresh_from_db()
    assert learning.title == "Checklists help new owners"
    assert learning.product_area == area
    assert sorted(t.name for t in learning.tag_links.all()) == ["checklist", "onboarding"]
    assert learning.attachments == [
        {"url": "https://example.com/deck.pdf", "title": "Research deck"}
    ]
    html = _html(client.get(_detail(learning)))
    assert (
        'href="https://example.com/deck.pdf" rel="noopener noreferrer nofollow">Research deck'
        in html
    )


def test_an_experiments_own_fields_cannot_be_edited_here(client, editor, analysed):
    client.force_login(editor.user)
    form = _html(client.get(reverse("learnings_web:edit", args=[analysed.pk])))
    assert 'name="hypothesis"' not in form
    assert "change only there" in form


def test_adding_a_learning_by_hand(client, editor, workspace):
    area = product_area_create(workspace=workspace, name="Billing", parent=None, actor=None)
    client.force_login(editor.user)
    assert "Add a learning" in _html(client.get(NEW))
    response = client.post(
        NEW,
        {
            "title": "Annual plans are hard to find",
            "source": "interview",
            "learned_on": "2026-04-02",
            "learned": "Five of eight admins looked for annual billing in settings.",
            "product_area": str(area.pk),
            "tags": "pricing",
            "retention_effect": "negative",
            "effect_reason": "Admins said they would churn over it",
        },
    )
    learning = Learning.objects.get(title="Annual plans are hard to find")
    assert response.status_code == 302
    assert response["Location"] == _detail(learning)
    assert learning.source == "interview"
    assert learning.quarter == "2026-Q2"
    assert learning.retention_effect == "negative"
    assert learning.effect_overrides.get().reason == "Admins said they would churn over it"
    html = _html(client.get(_detail(learning)))
    assert "User interviews" in html
    assert "Judged by whoever added this learning" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"retention_effect": "positive"}, "effect_reason", REASON_REQUIRED),
        ({"attachments": "ftp://example.com/x"}, "attachments", "Line 1: start with the link"),
        ({"attachments": "https://exa mple.com"}, "attachments", "valid http(s) URL"),
        ({"title": "   "}, "title", "This field is required"),
        ({"tags": "a" * 60}, "tags", "1–50 characters"),
    ],
)
def test_bad_input_for_a_new_learning_is_shown_beside_its_field(
    client, editor, data, field, message
):
    client.force_login(editor.user)
    html = _html(client.post(NEW, {"title": "A learning", "source": "research", **data}))
    error = re.search(rf'id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert error is not None
    assert message in error.group(1)
    assert "need another look" in html
    assert not Learning.objects.exists()
