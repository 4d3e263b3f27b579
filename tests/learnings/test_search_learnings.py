"""Full-text search (PostgreSQL FTS / SQLite FTS5), highlights, facets and sorting.

Every test here runs on whichever database ``DATABASE_URL`` names; the last two check each
engine's own index machinery.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from learnings.models import Learning, LearningKeyResult, LearningTag, ProductArea
from learnings.search.faceted import SearchFilters, learnings_search
from learnings.search.index import FTS_TABLE, SQLITE_TRIGGERS, sqlite_index_ensure
from learnings.search.text import parse_query
from learnings.services.areas import product_area_get_or_create_path
from learnings.services.learnings import learning_delete, learning_update
from learnings.services.search_text import learnings_search_text_refresh
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

ROWS = [
    dict(
        title="Onboarding checklist lifts activation",
        learned="A three-step onboarding checklist raised week-one activation.",
        area="Editor › Onboarding",
        funnel_stage="activation",
        team="Growth",
        outcome="win",
        impact=0.12,
        acquisition_effect="positive",
        retention_effect="inconclusive",
        learned_on=date(2026, 2, 10),
        key_results=[("7", "Activation to 40%")],
        tags=["checklist"],
    ),
    dict(
        title="Templates gallery",
        learned="Users who onboard with templates create documents sooner.",
        area="Editor",
        funnel_stage="activation",
        team="Growth",
        outcome="flat",
        impact=0.01,
        acquisition_effect="neutral",
        learned_on=date(2026, 4, 3),
        key_results=[("7", "Activation to 40%")],
    ),
    dict(
        title="Pricing page redesign",
        learned="Annual plan emphasis reduced upgrades.",
        rationale="Roll back; the onboarding email sequence was unaffected.",
        area="Billing",
        funnel_stage="revenue",
        team="Monetization",
        outcome="loss",
        impact=-0.05,
        retention_effect="negative",
        learned_on=date(2026, 5, 15),
    ),
    dict(
        title="Sharing prompt",
        learned="Prompting to share after the first document grew invites.",
        area="Editor › Sharing",
        funnel_stage="referral",
        team="Growth",
        outcome="win",
        impact=0.08,
        acquisition_effect="positive",
        retention_effect="positive",
        learned_on=date(2026, 7, 1),
        key_results=[("9", "Invites per user 1.5")],
    ),
    dict(
        title="Support: export confusion",
        learned="Tickets about PDF export doubled after the toolbar change.",
        source="support",
        learned_on=date(2026, 8, 20),
        tags=["export", "support"],
    ),
]


def make_learning(workspace, *, area="", key_results=(), tags=(), **fields) -> Learning:
    """Insert a learning as a read-side fixture (outcomes and impacts set directly)."""
    fields.setdefault("source", "experiment")
    product_area = (
        product_area_get_or_create_path(workspace=workspace, path=area, actor=None)
        if area
        else None
    )
    learning = Learning.objects.create(
        workspace=workspace,
        product_area=product_area,
        quarter=f"{fields['learned_on'].year}-Q{(fields['learned_on'].month - 1) // 3 + 1}",
        **fields,
    )
    LearningKeyResult.objects.bulk_create(
        LearningKeyResult(learning=learning, key_result_id=i, title=t) for i, t in key_results
    )
    LearningTag.objects.bulk_create(LearningTag(learning=learning, name=n) for n in tags)
    learnings_search_text_refresh(Learning.objects.filter(pk=learning.pk))
    return learning


@pytest.fixture
def library(workspace, other_workspace):
    learnings = [make_learning(workspace, **row) for row in ROWS]
    make_learning(
        other_workspace,
        title="Onboarding checklist (another workspace)",
        learned="Onboarding checklist everywhere.",
        area="Editor",
        funnel_stage="activation",
        learned_on=date(2026, 2, 1),
    )
    return learnings


def titles(page) -> list[str]:
    return [hit.learning.title for hit in page.hits]


def counts(page, facet: str) -> dict[str, int]:
    return {value.label: value.count for value in page.facets[facet]}


def test_onboard_finds_onboarding_by_stemming_ranked_by_where_it_matched(workspace, library):
    page = learnings_search(workspace=workspace, query="onboard")

    # Title match first, then "what we learned" (weight B), then the rationale (weight C).
    assert titles(page) == [
        "Onboarding checklist lifts activation",
        "Templates gallery",
        "Pricing page redesign",
    ]
    assert page.count == 3
    assert page.sort == "relevance"
    assert page.hits[0].rank > page.hits[1].rank > page.hits[2].rank


def test_plural_and_inflected_queries_match(workspace, library):
    assert titles(learnings_search(workspace=workspace, query="checklists")) == [
        "Onboarding checklist lifts activation"
    ]
    assert titles(learnings_search(workspace=workspace, query="prompted sharing")) == [
        "Sharing prompt"
    ]


def test_phrases_alternatives_and_exclusions(workspace, library):
    def found(query: str) -> list[str]:
        return sorted(titles(learnings_search(workspace=workspace, query=query)))

    assert found('"onboarding checklist"') == ["Onboarding checklist lifts activation"]
    assert found('"checklist onboarding"') == []
    assert found("pricing or sharing") == ["Pricing page redesign", "Sharing prompt"]
    assert found("onboard -pricing") == [
        "Onboarding checklist lifts activation",
        "Templates gallery",
    ]
    assert found("the") == sorted(row["title"] for row in ROWS)  # stop words only: everything


def test_free_tags_area_and_key_results_are_searchable(workspace, library):
    assert titles(learnings_search(workspace=workspace, query="support")) == [
        "Support: export confusion"
    ]
    assert titles(learnings_search(workspace=workspace, query="invites per user")) == [
        "Sharing prompt"
    ]
    assert sorted(titles(learnings_search(workspace=workspace, query="sharing"))) == [
        "Sharing prompt"
    ]


def test_highlights_mark_matches_and_escape_html(workspace, library):
    make_learning(
        workspace,
        title="Risky <script>alert(1)</script> onboarding copy",
        learned="We tried <b>bold</b> onboarding copy & emojis.",
        learned_on=date(2026, 1, 5),
    )
    page = learnings_search(workspace=workspace, query="onboard")
    by_title = {hit.learning.title: hit for hit in page.hits}

    first = by_title["Onboarding checklist lifts activation"]
    assert first.title_html == "<mark>Onboarding</mark> checklist lifts activation"
    assert "three-step <mark>onboarding</mark> checklist" in first.snippet_html
    pricing = by_title["Pricing page redesign"]
    assert "the <mark>onboarding</mark> email sequence" in pricing.snippet_html
    risky = by_title["Risky <script>alert(1)</script> onboarding copy"]
    for html in (risky.title_html, risky.snippet_html):
        assert "<script>" not in html
        assert "<b>" not in html
    assert "<mark>onboarding</mark>" in risky.title_html
    assert "<mark>onboarding</mark> copy" in risky.snippet_html


def test_facet_counts_over_everything(workspace, library):
    page = learnings_search(workspace=workspace)

    assert page.count == 5
    assert counts(page, "funnel_stage") == {
        "Activation": 2,
        "Referral": 1,
        "Revenue": 1,
        "No stage": 1,
    }
    assert counts(page, "product_area") == {
        "Billing": 1,
        "Editor": 3,  # itself and its sub-areas
        "Editor › Onboarding": 1,
        "Editor › Sharing": 1,
        "No area": 1,
    }
    assert counts(page, "outcome") == {"Win": 2, "Loss": 1, "Flat": 1, "Not an experiment": 1}
    assert counts(page, "acquisition_effect") == {"Positive": 2, "Neutral": 1, "Not measured": 2}
    assert counts(page, "retention_effect") == {
        "Positive": 1,
        "Negative": 1,
        "Inconclusive": 1,
        "Not measured": 2,
    }
    assert counts(page, "team") == {"Growth": 3, "Monetization": 1, "No team": 1}
    assert counts(page, "quarter") == {"2026-Q3": 2, "2026-Q2": 2, "2026-Q1": 1}
    assert counts(page, "key_result") == {"Activation to 40%": 2, "Invites per user 1.5": 1}
    assert counts(page, "tag") == {"checklist": 1, "export": 1, "support": 1}
    assert counts(page, "source") == {"Experiment": 4, "Support trends": 1}
    editor = next(v for v in page.facets["product_area"] if v.label == "Editor")
    sharing = next(v for v in page.facets["product_area"] if v.label == "Editor › Sharing")
    assert (editor.depth, editor.parent, sharing.depth, sharing.parent) == (
        0,
        None,
        1,
        editor.value,
    )


def test_facets_are_counted_with_the_other_filters_and_the_text(workspace, library):
    page = learnings_search(
        workspace=workspace, query="onboard", filters=SearchFilters(funnel_stage=("activation",))
    )

    assert titles(page) == ["Onboarding checklist lifts activation", "Templates gallery"]
    # The funnel facet ignores its own selection (so other stages can be added)...
    assert counts(page, "funnel_stage") == {"Activation": 2, "Revenue": 1}
    assert [v.selected for v in page.facets["funnel_stage"]] == [True, False]
    # ...every other facet is counted within it.
    assert counts(page, "team") == {"Growth": 2}
    assert counts(page, "outcome") == {"Win": 1, "Flat": 1}


def test_filters_combine_and_an_area_includes_its_sub_areas(workspace, library):
    editor = ProductArea.objects.get(workspace=workspace, path="Editor")

    def found(**filters) -> list[str]:
        page = learnings_search(workspace=workspace, filters=SearchFilters(**filters))
        return sorted(titles(page))

    assert found(product_area=(str(editor.pk),)) == [
        "Onboarding checklist lifts activation",
        "Sharing prompt",
        "Templates gallery",
    ]
    assert found(product_area=("none",)) == ["Support: export confusion"]
    assert found(product_area=(str(editor.pk),), outcome=("win",), key_result=("9",)) == [
        "Sharing prompt"
    ]
    assert found(acquisition_effect=("positive", "none"), team=("Growth",)) == [
        "Onboarding checklist lifts activation",
        "Sharing prompt",
    ]
    assert found(quarter=("2026-Q2",), tag=("checklist",)) == []


def test_sort_by_impact_or_date_and_paginate(workspace, library):
    by_impact = learnings_search(workspace=workspace, sort="impact")
    by_date = learnings_search(workspace=workspace, sort="date", offset=2, limit=2)

    assert [h.learning.impact for h in by_impact.hits] == [0.12, 0.08, 0.01, -0.05, None]
    assert titles(by_date) == ["Pricing page redesign", "Templates gallery"]
    assert by_date.count == 5


def test_nothing_crosses_workspaces(workspace, other_workspace, library):
    page = learnings_search(workspace=workspace, query="onboarding checklist")
    other = learnings_search(workspace=other_workspace, query="onboarding checklist")

    assert titles(page) == ["Onboarding checklist lifts activation"]
    assert titles(other) == ["Onboarding checklist (another workspace)"]
    assert counts(other, "product_area") == {"Editor": 1}


def test_the_index_follows_edits_and_deletes(workspace, library):
    support = library[4]
    learning_update(
        learning=support, actor=None, changes={"learned": "Onboarding emails confuse users."}
    )
    learning_delete(learning=library[0], actor=None)

    assert sorted(titles(learnings_search(workspace=workspace, query="onboard"))) == [
        "Pricing page redesign",
        "Support: export confusion",
        "Templates gallery",
    ]
    assert titles(learnings_search(workspace=workspace, query="toolbar")) == []


def test_query_parsing_keeps_phrases_alternatives_and_exclusions():
    parsed = parse_query('onboarding "share dialog" or invites -pricing the')

    assert parsed.groups == (("onboarding",), ("share dialog", "invites"))
    assert parsed.excluded == ("pricing",)
    assert parse_query('" " - -- the').is_empty


def test_postgres_search_uses_the_gin_index(workspace, library, postgres_only):
    WorkspaceFactory()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM learnings_learning "
            "WHERE search_vector @@ websearch_to_tsquery('english', %s)",
            ["onboard"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT search_vector::text FROM learnings_learning WHERE id = %s", [library[1].pk]
        )
        vector = cursor.fetchone()[0]

    assert "learning_search_gin" in plan
    assert "'onboard':" in vector  # stemmed by the english configuration


def test_sqlite_index_heals_after_a_table_rebuild_dropped_its_triggers(workspace, library):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's FTS5 machinery")
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")

    assert learnings_search(workspace=workspace, query="onboard").count == 0
    assert sqlite_index_ensure(connection) is True
    assert learnings_search(workspace=workspace, query="onboard").count == 3
    assert sqlite_index_ensure(connection) is False  # nothing missing any more
