"""Search that forgives how people write: "sign-up" vs "signup", synonyms per workspace, an
any-word fallback when no learning has every word, and "did you mean" from the library's own
words. Every test runs on whichever database ``DATABASE_URL`` names (CI: PostgreSQL; locally
SQLite by default): both engines must give the same answers."""

from __future__ import annotations

import pytest
from django.db import connection

from learnings.search.faceted import ALL_WORDS, ANY_WORD, learnings_matching, learnings_search
from learnings.search.suggest import Vocabulary, did_you_mean, max_edits
from learnings.search.synonyms import workspace_synonyms
from learnings.search.terms import DEFAULT_SYNONYMS, TermExpander, compound_forms
from learnings.services.synonyms import (
    BAD_TERM,
    GROUP_TOO_SMALL,
    search_synonyms_reset,
    search_synonyms_update,
    synonyms_parse,
)
from plg_platform.errors import ValidationFailed
from plg_platform.models import AuditLog
from tests.factories import WorkspaceFactory
from tests.learnings.test_learning_support import manual_learning

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(workspace):
    rows = {
        "form": manual_learning(
            workspace,
            "Shorter signup form",
            learned="Cutting the signup form from six fields to three raised completed signups.",
        ),
        "hyphen": manual_learning(
            workspace,
            "Social sign-up buttons",
            learned="Google sign-up buttons doubled mobile registrations.",
        ),
        "annual": manual_learning(
            workspace,
            "Annual plan discount",
            learned="Showing the annual price per month moved upgrades to the annual plan.",
        ),
        "onboarding": manual_learning(
            workspace,
            "Onboarding checklist",
            learned="A three-step onboarding checklist raised week-one activation.",
        ),
    }
    return rows


def _titles(workspace, query, **kwargs) -> set[str]:
    page = learnings_search(workspace=workspace, query=query, **kwargs)
    return {hit.learning.title for hit in page.hits}


# --- Hyphens and compounds --------------------------------------------------------------------


def test_compound_forms_join_hyphenated_words():
    assert compound_forms("Google sign-up buttons, an add-on and Sign-Up again") == [
        "signup",
        "addon",
    ]


def test_sign_up_with_a_hyphen_finds_signup_and_the_reverse(workspace, library):
    assert _titles(workspace, "sign-up") == {"Shorter signup form", "Social sign-up buttons"}
    assert _titles(workspace, "signup") == {"Shorter signup form", "Social sign-up buttons"}
    assert _titles(workspace, "signup buttons") == {"Social sign-up buttons"}


def test_a_hyphenated_word_added_by_an_edit_is_found_by_its_compound(workspace, library, editor):
    from learnings.services.learnings import learning_update

    learning_update(
        learning=library["onboarding"],
        actor=None,
        changes={"learned": "The check-list raised activation."},
    )
    assert _titles(workspace, "checklist activation") == {"Onboarding checklist"}
    assert _titles(workspace, "check-list") == {"Onboarding checklist"}


# --- Synonyms ---------------------------------------------------------------------------------


def test_yearly_finds_annual_with_the_default_synonyms(workspace, library):
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS
    page = learnings_search(workspace=workspace, query="yearly")
    assert {hit.learning.title for hit in page.hits} == {"Annual plan discount"}
    assert [(e.term, e.also) for e in page.expansions] == [("yearly", ("annual",))]
    assert "<mark>" in page.hits[0].title_html  # "Annual" is highlighted as the match


def test_a_workspace_edits_its_own_synonyms_and_others_keep_the_defaults(
    workspace, library, editor
):
    other = WorkspaceFactory()
    manual_learning(other, "Annual billing", learned="Annual billing")
    search_synonyms_update(
        workspace=workspace, text="onboarding, first run\n\nplan , tier, Tier", actor=editor.user
    )
    assert workspace_synonyms(workspace=workspace) == (
        ("onboarding", "first run"),
        ("plan", "tier"),
    )
    assert _titles(workspace, "yearly") == set()  # no longer a synonym here
    assert _titles(workspace, "tier discount") == {"Annual plan discount"}
    assert _titles(workspace, '"first run"') == {"Onboarding checklist"}
    assert _titles(other, "yearly") == {"Annual billing"}
    assert AuditLog.objects.filter(action="learnings.synonyms_update").count() == 1
    search_synonyms_reset(workspace=workspace, actor=editor.user)
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("annual", GROUP_TOO_SMALL.format(line=1)),
        ("annual, yearly\nplan, plan", GROUP_TOO_SMALL.format(line=2)),
        ('annual, "yearly"', BAD_TERM.format(line=1, term='"yearly"')),
        ("annual, " + "x" * 51, BAD_TERM.format(line=1, term="x" * 51)),
    ],
)
def test_bad_synonym_lines_are_refused_naming_the_line(workspace, text, message):
    with pytest.raises(ValidationFailed) as error:
        search_synonyms_update(workspace=workspace, text=text, actor=None)
    assert error.value.message == message
    assert error.value.field == "synonyms"
    assert workspace_synonyms(workspace=workspace) == DEFAULT_SYNONYMS  # nothing half-written


def test_synonym_expansion_keeps_groups_and_spellings():
    expander = TermExpander([("signup", "registration"), ("annual", "yearly")])
    assert expander.alternatives("sign-up") == ("sign-up", "signup", "registration")
    assert expander.expand([["Yearly"], ["plan"]]) == (("Yearly", "annual"), ("plan",))
    assert synonyms_parse("A, b\n") == [["a", "b"]]


# --- Any-word fallback -------------------------------------------------------------------------


def test_a_question_finds_the_signup_form_learning_by_any_word(workspace, library):
    page = learnings_search(workspace=workspace, query="does a shorter signup form help")
    assert page.match == ANY_WORD
    assert page.hits[0].learning.title == "Shorter signup form"  # most words matched, first
    assert page.count == len(page.hits) == 2  # the other one has "sign-up" only
    assert {h.learning.title for h in page.hits} == {
        "Shorter signup form",
        "Social sign-up buttons",
    }
    exported = set(learnings_matching(workspace=workspace, query="does a shorter signup form help"))
    assert {lrn.title for lrn in exported} == {h.learning.title for h in page.hits}


def test_all_words_stay_required_while_some_learning_has_them_all(workspace, library):
    page = learnings_search(workspace=workspace, query="signup form")
    assert page.match == ALL_WORDS
    assert {h.learning.title for h in page.hits} == {"Shorter signup form"}


def test_excluded_words_stay_excluded_in_the_fallback(workspace, library):
    page = learnings_search(workspace=workspace, query="shorter signup help -google")
    assert page.match == ANY_WORD
    assert {h.learning.title for h in page.hits} == {"Shorter signup form"}


# --- Did you mean ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("onbaording", "onboarding"),
        ("chekclist", "checklist"),
        ("anual discount", "annual discount"),
        ("Onboardng checklist", "onboarding checklist"),
    ],
)
def test_a_typo_gets_the_closest_library_word(workspace, library, query, expected):
    page = learnings_search(workspace=workspace, query=query)
    assert page.suggestion.lower() == expected
    assert learnings_search(workspace=workspace, query=page.suggestion).count >= 1


def test_no_suggestion_for_words_the_library_uses_or_nothing_near(workspace, library):
    assert did_you_mean(workspace=workspace, query="onboarding") == ""
    assert did_you_mean(workspace=workspace, query="zebra") == ""
    other = WorkspaceFactory()  # another workspace's words are not suggested
    assert did_you_mean(workspace=other, query="onbaording") == ""


def test_suggestions_follow_edit_distance_on_every_engine(workspace, library):
    """Brute force: every suggestion is a library word within the allowed edits."""
    corrections = Vocabulary(workspace).corrections(["onbaording", "signp", "discont"])
    words = {"onboarding", "signup", "sign", "discount"}  # "sign" from "sign-up"
    assert set(corrections.values()) <= words
    for typo, word in corrections.items():
        distance = _levenshtein(typo, word)
        limit = max_edits(typo) if connection.vendor != "postgresql" else 3
        assert distance <= limit, (typo, word, distance)
    assert corrections["onbaording"] == "onboarding"


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_a_correction_that_would_find_nothing_is_not_offered(workspace, library):
    # "onbaording" alone would become "onboarding", but no learning has it with "annual".
    assert did_you_mean(workspace=workspace, query="annual onbaording") == "annual onboarding"
    page = learnings_search(workspace=workspace, query="annual onbaording")
    assert page.suggestion == ""
    assert page.match == ANY_WORD
    assert {h.learning.title for h in page.hits} == {"Annual plan discount"}


# --- The API says what the page says ------------------------------------------------------------


def test_the_search_api_reports_the_fallback_the_suggestion_and_the_synonyms(viewer, library):
    fallback = viewer.client.get("/api/v1/learnings/", {"q": "does a shorter signup form help"})
    body = fallback.json()
    assert fallback.status_code == 200
    assert body["match"] == ANY_WORD
    assert [hit["title"] for hit in body["results"]][0] == "Shorter signup form"
    typo = viewer.client.get("/api/v1/learnings/", {"q": "onbaording"}).json()
    assert (typo["match"], typo["suggestion"].lower(), typo["count"]) == (
        ALL_WORDS,
        "onboarding",
        0,
    )
    yearly = viewer.client.get("/api/v1/learnings/", {"q": "yearly"}).json()
    assert yearly["suggestion"] == ""
    assert {"term": "yearly", "also": ["annual"]} in yearly["expansions"]
    assert [hit["title"] for hit in yearly["results"]] == ["Annual plan discount"]
