"""The learnings search page: a search box, facets with counts as toggles, highlighted
snippets, sorting, pages, and links exporting (or adding up) exactly what is shown.

Matching, ranking, highlighting and facet counts are ``learnings.search``'s; the page only
turns the query string into filters and back into links.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from learnings.forms import LearningSearchForm, search_filters
from learnings.models import AREA_SEPARATOR, Learning
from learnings.search.faceted import ANY_WORD, FACETS, NONE, SearchHit, learnings_search
from learnings.views.base import impact_text
from plg_platform.models import Membership, Role
from plg_platform.web.pages import workspace_page

PAGE_SIZE = 20
FACETS_SHOWN = 8  # values beyond these fold under "more"
FACET_LABELS = {
    "outcome": "Outcome",
    "funnel_stage": "Funnel stage",
    "acquisition_effect": "Effect on acquisition",
    "retention_effect": "Effect on retention",
    "product_area": "Product area",
    "team": "Team",
    "quarter": "Quarter",
    "key_result": "Key result",
    "tag": "Tags",
    "source": "Source",
    "loop_stage": "Loop stage",
}
FACET_ORDER = tuple(FACET_LABELS)
# Shown even when every learning is blank there: "not measured" is worth knowing.
ALWAYS_SHOWN = ("acquisition_effect", "retention_effect")
# What the search selects, without how it is shown: the export and meta-analysis links carry it.
SELECTION_PARAMS = ("q", *FACETS)


@dataclass(frozen=True)
class FacetLink:
    value: str
    label: str
    count: int
    selected: bool
    depth: int
    url: str  # this search with the value toggled
    within: str = ""  # a sub-area's parent path: shown indented, read out in full

    @property
    def full_label(self) -> str:
        return f"{self.within}{AREA_SEPARATOR}{self.label}" if self.within else self.label


@dataclass(frozen=True)
class FacetGroup:
    name: str
    label: str
    shown: list[FacetLink]
    more: list[FacetLink]


@dataclass(frozen=True)
class Hit:
    """One result, with what the template shows beside the highlighted title and snippet."""

    learning: Learning
    title_html: str  # HTML-escaped by the search, <mark> around matches
    snippet_html: str  # idem
    impact: str


def _with(query: QueryDict, **changes: list[str]) -> str:
    """``query`` as a query string, with the named parameters replaced and ``page`` dropped."""
    copy = query.copy()
    copy.pop("page", None)
    for name, values in changes.items():
        copy.setlist(name, values)
    return copy.urlencode()


def _selection(query: QueryDict) -> str:
    kept = QueryDict(mutable=True)
    for name in SELECTION_PARAMS:
        values = [v for v in query.getlist(name) if v.strip()]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()


def _facet_groups(query: QueryDict, facets: dict, filters) -> list[FacetGroup]:
    groups = []
    for name in FACET_ORDER:
        values = facets.get(name) or []
        chosen = list(filters.selected(name))
        blank_only = all(value.value == NONE for value in values)
        if not values or (blank_only and not chosen and name not in ALWAYS_SHOWN):
            continue  # "no loop stage: 3" alone filters nothing out
        links = []
        for value in values:
            toggled = (
                [v for v in chosen if v != value.value]
                if value.selected
                else [*chosen, value.value]
            )
            within, _, name_only = value.label.rpartition(AREA_SEPARATOR)
            sub_area = name == "product_area" and value.depth > 0 and within
            links.append(
                FacetLink(
                    value=value.value,
                    label=name_only if sub_area else value.label,
                    within=within if sub_area else "",
                    count=value.count,
                    selected=value.selected,
                    depth=value.depth,
                    url="?" + _with(query, **{name: [str(v) for v in toggled]}),
                )
            )
        # Selected values always show, whatever their place in the list.
        shown = links[:FACETS_SHOWN] + [link for link in links[FACETS_SHOWN:] if link.selected]
        more = [link for link in links[FACETS_SHOWN:] if not link.selected]
        groups.append(FacetGroup(name, FACET_LABELS[name], shown, more))
    return groups


def _page_number(query: QueryDict) -> int:
    try:
        return max(int(query.get("page", 1)), 1)
    except ValueError:
        return 1


def _hits(hits: list[SearchHit]) -> list[Hit]:
    return [
        Hit(hit.learning, hit.title_html, hit.snippet_html, impact_text(hit.learning))
        for hit in hits
    ]


@workspace_page()
def learning_search(request: HttpRequest, membership: Membership) -> HttpResponse:
    query = request.GET
    form = LearningSearchForm(query or None)
    values = form.cleaned_data if form.is_valid() else {}
    text, sort = values.get("q", ""), values.get("sort") or None
    filters = search_filters(query)
    number = _page_number(query)

    def run(page_number: int):
        return learnings_search(
            workspace=membership.workspace,
            query=text,
            filters=filters,
            sort=sort,
            offset=(page_number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )

    page = run(number)
    pages = max((page.count + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    if number > pages:  # a stale link past the end: show the last page
        number = pages
        page = run(number)
    selection = _selection(query)
    groups = _facet_groups(query, page.facets, filters)
    active = [(group.label, link) for group in groups for link in group.shown if link.selected]
    base = _with(query)
    page_url = f"?{base}&page=" if base else "?page="
    unfiltered = _with(query, **{facet: [] for facet in FACETS})
    return render(
        request,
        "learnings/search.html",
        {
            "form": form,
            "text": text,
            "sort": page.sort,
            "hits": _hits(page.hits),
            "count": page.count,
            "groups": groups,
            "active": active,
            "page_number": number,
            "pages": pages,
            "first": (number - 1) * PAGE_SIZE + 1,
            "last": min(number * PAGE_SIZE, page.count),
            "previous_url": f"{page_url}{number - 1}" if number > 1 else "",
            "next_url": f"{page_url}{number + 1}" if number < pages else "",
            "clear_url": reverse("learnings_web:search") + (f"?{unfiltered}" if unfiltered else ""),
            "export_csv": reverse("learnings-csv") + (f"?{selection}" if selection else ""),
            "export_md": reverse("learnings-md") + (f"?{selection}" if selection else ""),
            "meta_url": reverse("learnings_web:meta") + (f"?{selection}" if selection else ""),
            "searched": bool(text or filters.active),
            "any_word": page.match == ANY_WORD,
            "suggestion": page.suggestion,
            "suggestion_url": "?" + _with(query, q=[page.suggestion]) if page.suggestion else "",
            "expansions": page.expansions,
            "library_size": Learning.objects.filter(workspace=membership.workspace).count(),
            "can_edit": membership.has_role(Role.EDITOR),
        },
    )
