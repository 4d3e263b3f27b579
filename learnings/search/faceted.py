"""Faceted search over a workspace's learnings: hits with highlights, facet counts, sorting.

Matching, ranking and highlighting are the database's (``learnings.search.text``), with the
workspace's synonyms; facet counts live in ``learnings.search.facets``. Product-area filters
include sub-areas. When no learning has every word of the query, the search widens to any
word (best match first) and says so (``SearchPage.match``); when requiring every word found
nothing it also offers "did you mean" from the library's own words
(``learnings.search.suggest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F, QuerySet

from learnings.models import (
    Learning,
    ProductArea,
)
from learnings.search.facets import (
    FACETS,
    NONE,
    FacetValue,
    SearchFilters,
    apply_filters,
    facet_counts,
)
from learnings.search.suggest import did_you_mean
from learnings.search.synonyms import workspace_synonyms
from learnings.search.terms import Expansion
from learnings.search.text import Highlight, TextBackend, mark_to_html, text_backend
from plg_platform.models import Workspace

SORTS = ("relevance", "date", "impact")
ALL_WORDS, ANY_WORD = "all", "any"


@dataclass(frozen=True)
class SearchHit:
    learning: Learning
    rank: float | None
    title_html: str
    snippet_html: str


@dataclass(frozen=True)
class SearchPage:
    count: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    sort: str = "date"
    match: str = ALL_WORDS  # ANY_WORD: no learning had every word, these have some
    suggestion: str = ""  # "did you mean": the query with its typos corrected
    expansions: list[Expansion] = field(default_factory=list)  # synonyms also searched


# --- The search -------------------------------------------------------------------------------


def _plain_snippet(learning: Learning) -> str:
    text = learning.learned or learning.hypothesis or learning.rationale
    return mark_to_html(" ".join(text.split()), limit=240)


def learnings_search(
    *,
    workspace: Workspace,
    query: str = "",
    filters: SearchFilters | None = None,
    sort: str | None = None,
    offset: int = 0,
    limit: int = 20,
    with_facets: bool = True,
) -> SearchPage:
    """Search the workspace's learnings.

    ``sort``: ``relevance`` (the default with a query), ``date`` (newest first, the default
    without one) or ``impact`` (largest estimated impact first, unknown last).
    """
    filters = filters or SearchFilters()
    areas = {str(a.pk): a for a in ProductArea.objects.filter(workspace=workspace)}
    text, base, matches = _matching(workspace, query, filters, areas)
    suggestion = ""
    if text.active and not matches.exists():
        suggestion = did_you_mean(workspace=workspace, query=query)
        if suggestion and not _matching(workspace, suggestion, filters, areas)[2].exists():
            suggestion = ""  # only offer a correction that finds something
        if text.can_widen:
            text, base, matches = _matching(workspace, query, filters, areas, any_word=True)
    sort = sort or ("relevance" if text.active else "date")
    if sort == "relevance" and text.active:
        ordered = matches.annotate(rank=text.rank()).order_by("-rank", "-learned_on", "-id")
    elif sort == "impact":
        ordered = matches.order_by(F("impact").desc(nulls_last=True), "-learned_on", "-id")
    else:
        ordered = matches.order_by("-learned_on", "-id")
    page = list(
        ordered.select_related("product_area", "author", "experiment").prefetch_related(
            "tag_links", "key_results"
        )[offset : offset + limit]
    )
    highlights = text.highlights([h.pk for h in page]) if text.active else {}
    hits = []
    for learning in page:
        marked = highlights.get(learning.pk)
        if marked is None:
            marked = Highlight(mark_to_html(learning.title), _plain_snippet(learning))
        rank = getattr(learning, "rank", None)
        hits.append(SearchHit(learning, rank, marked.title_html, marked.snippet_html))
    if with_facets:
        count, facets = facet_counts(base, filters, areas)
    else:
        count, facets = matches.count(), {}
    return SearchPage(
        count=count,
        hits=hits,
        facets=facets,
        sort=sort,
        match=ANY_WORD if text.any_word else ALL_WORDS,
        suggestion=suggestion,
        expansions=text.expansions,
    )


def _matching(
    workspace: Workspace,
    query: str,
    filters: SearchFilters,
    areas: dict[str, ProductArea],
    *,
    any_word: bool = False,
) -> tuple[TextBackend, QuerySet[Learning], QuerySet[Learning]]:
    """The text backend, the learnings its text matches, and those the filters keep."""
    text = text_backend(query, synonyms=workspace_synonyms(workspace=workspace), any_word=any_word)
    base = Learning.objects.filter(workspace=workspace)
    if text.active:
        base = text.filter(base)
    return text, base, apply_filters(base, filters, areas)


def learnings_matching(
    *, workspace: Workspace, query: str = "", filters: SearchFilters | None = None
) -> QuerySet[Learning]:
    """All learnings a search matches, newest first (for exports and meta-analysis).

    The same learnings the search page shows, any-word fallback included.
    """
    filters = filters or SearchFilters()
    areas = {str(a.pk): a for a in ProductArea.objects.filter(workspace=workspace)}
    text, _, matches = _matching(workspace, query, filters, areas)
    if text.active and text.can_widen and not matches.exists():
        _, _, matches = _matching(workspace, query, filters, areas, any_word=True)
    return matches.order_by("-learned_on", "-id")


__all__ = [
    "FACETS",
    "NONE",
    "SORTS",
    "FacetValue",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "learnings_matching",
    "learnings_search",
]
