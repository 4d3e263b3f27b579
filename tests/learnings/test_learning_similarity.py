"""'Have we tried this before?': similar past learnings for a draft hypothesis.

The paraphrase set pairs twelve past learnings with a draft hypothesis each, written in other
words (as a colleague would phrase the same idea months later).
"""

from __future__ import annotations

import pytest

from learnings.models import Learning
from learnings.services.areas import product_area_get_or_create_path
from learnings.services.learnings import learning_update
from learnings.similarity import TextIndex, document_text, similar_learnings
from tests.learnings.test_learning_support import manual_learning

pytestmark = pytest.mark.django_db

PAST = {
    "checklist": (
        "Onboarding checklist for new workspaces",
        "We believe a three-step onboarding checklist will raise week-one activation.",
        "The checklist lifted activation by 12%; new users completed setup faster.",
    ),
    "templates": (
        "Template gallery on the empty state",
        "Showing document templates on an empty workspace will get people to create sooner.",
        "Templates cut time to first document in half.",
    ),
    "pricing": (
        "Annual billing emphasis on the pricing page",
        "Highlighting the annual plan will raise paid upgrades.",
        "Upgrades fell 5%: people were confused by the yearly price.",
    ),
    "share-prompt": (
        "Prompt to share after the first document",
        "Asking users to share right after they create a document will grow invites.",
        "Invites per user grew by 8% with no drop in retention.",
    ),
    "dark-mode": (
        "Dark mode toggle in settings",
        "Offering a dark theme will increase daily usage among power users.",
        "No measurable change in daily active usage.",
    ),
    "email-digest": (
        "Weekly digest email",
        "A weekly summary email of workspace activity will bring lapsed users back.",
        "Reactivation of dormant accounts rose 3%.",
    ),
    "sso": (
        "Single sign-on for the team plan",
        "Adding SAML single sign-on will unblock enterprise admins from rolling out.",
        "Enterprise trials converted more often once SSO was available.",
    ),
    "trial-length": (
        "Shorter free trial",
        "Cutting the free trial from 30 to 14 days will increase conversion to paid.",
        "Conversion to paid was flat; fewer trials started.",
    ),
    "mobile-nav": (
        "Bottom navigation bar in the mobile app",
        "Moving navigation to a bottom bar will make the phone app easier to use.",
        "Mobile sessions per user rose 4%.",
    ),
    "referral-credit": (
        "Referral credit for inviting a friend",
        "Giving account credit for each referred signup will drive word of mouth.",
        "Referred signups doubled but most churned within a month.",
    ),
    "export-pdf": (
        "Faster PDF export",
        "Making PDF export twice as fast will reduce support tickets.",
        "Export tickets fell by a third.",
    ),
    "search-bar": (
        "Global search in the top bar",
        "A search box always visible at the top will help users find documents.",
        "Search usage tripled and time to open a document dropped.",
    ),
}
DRAFTS = {
    "checklist": "A setup to-do list for fresh signups should boost activation in their first week",
    "templates": "Offer ready-made templates when a workspace is empty so people create documents",
    "pricing": "Make the yearly plan more prominent on pricing to increase upgrades",
    "share-prompt": "Nudge people to share their doc immediately after creating it to get invites",
    "dark-mode": "Let users switch to a dark theme to increase daily use",
    "email-digest": "Send a weekly email summarizing activity to re-engage lapsed users",
    "sso": "Enterprise admins need SAML SSO before they roll out to the team",
    "trial-length": "Reduce the trial to two weeks to push more people to pay",
    "mobile-nav": "Put the app navigation at the bottom of the screen on phones",
    "referral-credit": "Reward users with credit when a friend they referred signs up",
    "export-pdf": "Speed up exporting to PDF so fewer people contact support",
    "search-bar": "Add an always-visible search field at the top to find docs quickly",
}


@pytest.fixture
def library(workspace):
    return {
        key: manual_learning(workspace, title, hypothesis=hypothesis, learned=learned)
        for key, (title, hypothesis, learned) in PAST.items()
    }


def test_paraphrased_drafts_find_the_learning_they_repeat(workspace, library):
    ranks = {}
    for key, draft in DRAFTS.items():
        found = [s.learning.pk for s in similar_learnings(workspace=workspace, hypothesis=draft)]
        ranks[key] = found.index(library[key].pk) + 1 if library[key].pk in found else None

    top1 = sum(rank == 1 for rank in ranks.values())
    reciprocal = sum(1 / rank for rank in ranks.values() if rank) / len(ranks)
    assert top1 == 12, ranks
    assert reciprocal == 1.0


def test_both_text_views_rank_every_paraphrase_first_on_their_own_too(workspace, library):
    """Measured for docs/learnings.md: on this set each view alone is already 12/12 at top 1;
    the mean of the two is kept for robustness (stemmed words vs. spelling variants)."""
    rows = [(lr.pk, document_text(lr), "") for lr in library.values()]
    index = TextIndex.build(rows)
    keys = list(library)

    def top1(view: str) -> int:
        matrix = getattr(index, f"{view}_matrix")
        vectorizer = getattr(index, f"{view}_vectorizer")
        hits = 0
        for position, key in enumerate(keys):
            scores = (matrix @ vectorizer.transform([DRAFTS[key]]).T).toarray().ravel()
            hits += int(scores.argmax() == position)
        return hits

    assert (top1("word"), top1("char")) == (12, 12)


def test_the_draft_product_area_breaks_ties(workspace):
    editor = product_area_get_or_create_path(workspace=workspace, path="Editor", actor=None)
    mobile = product_area_get_or_create_path(workspace=workspace, path="Mobile", actor=None)
    a = manual_learning(workspace, "Inline comments", learned="Comments raised engagement.")
    learning_update(learning=a, actor=None, changes={"product_area": mobile})
    b = manual_learning(workspace, "Inline comments", learned="Comments raised engagement.")
    learning_update(learning=b, actor=None, changes={"product_area": editor})
    sharing = product_area_get_or_create_path(
        workspace=workspace, path="Editor › Sharing", actor=None
    )

    in_editor = similar_learnings(
        workspace=workspace, hypothesis="inline comments", product_area=editor
    )
    in_sharing = similar_learnings(
        workspace=workspace, hypothesis="inline comments", product_area=sharing
    )

    assert [(s.learning.pk, s.area_match) for s in in_editor] == [(b.pk, "same"), (a.pk, "")]
    assert in_editor[0].score == pytest.approx(in_editor[0].text_score + 0.10)
    assert [(s.learning.pk, s.area_match) for s in in_sharing] == [(b.pk, "related"), (a.pk, "")]


def test_unrelated_drafts_find_nothing_and_new_learnings_are_seen(workspace, library):
    assert similar_learnings(workspace=workspace, hypothesis="quantum blockchain synergy") == []
    assert similar_learnings(workspace=workspace, hypothesis="the and of") == []

    new = manual_learning(workspace, "Quantum blockchain pilot", learned="Nobody used it.")

    found = similar_learnings(workspace=workspace, hypothesis="quantum blockchain synergy")
    assert [s.learning.pk for s in found] == [new.pk]
    excluded = similar_learnings(
        workspace=workspace, hypothesis="quantum blockchain", exclude_ids=(new.pk,)
    )
    assert excluded == []
    assert Learning.objects.count() == 13


def test_other_workspaces_are_never_suggested(workspace, other_workspace, library):
    assert similar_learnings(workspace=other_workspace, hypothesis=DRAFTS["sso"]) == []
