"""Insights across learnings: the meta-analysis page (win rate and cumulative impact, raw and
shrunk, by a tag) and the "have we tried this before?" panel of the experiment design form.

The numbers are ``learnings.selectors.meta_analysis``'s and ``learnings.similarity``'s; the
page only lays them out as charts with tables beside them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from statistics import NormalDist
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from learnings.forms import MetaAnalysisForm, TriedBeforeForm, search_filters
from learnings.meta_evidence import meta_evidence
from learnings.models import AREA_SEPARATOR, Learning, ProductArea, Source
from learnings.search.faceted import learnings_matching
from learnings.search.facets import FACETS
from learnings.selectors import GroupStats, meta_analysis
from learnings.similarity import similar_learnings
from learnings.views.base import impact_text, lift_text
from plg_platform.models import Membership, Workspace
from plg_platform.web.pages import workspace_page

SIMILAR_SHOWN = 5
Z_95 = NormalDist().inv_cdf(0.975)
WIN_COLOUR = "#1f7a3d"
RAW_COLOUR = "#6b7a93"
SHRUNK_COLOUR = "#2f54c8"
# "Editor › Sharing", "Editor > Sharing" and "Editor/Sharing" name the same area.
_PATH_SPLIT = re.compile(r"\s*(?:›|>|/)\s*")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _bars(
    groups: list[GroupStats], series: list[tuple[str, str, str]], *, axis: str, **extra: Any
) -> str:
    """The JSON a ``<canvas data-chart="bars">`` reads: one bar per group and series."""
    return json.dumps(
        {
            "labels": [group.label for group in groups],
            "series": [
                {
                    "label": label,
                    "colour": colour,
                    "values": [getattr(group, attribute) for group in groups],
                }
                for label, attribute, colour in series
            ],
            "unit": "percent",
            "axis": axis,
            **extra,
        }
    )


def _chart_height(groups: int, series: int) -> int:
    return max(160, groups * (18 * series + 14) + 80)


@workspace_page()
def meta(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = MetaAnalysisForm(request.GET or None)
    options = form.cleaned_data if form.is_valid() else {}
    group_by = options.get("group_by") or "product_area"
    method = options.get("method") or "empirical_bayes"
    query = request.GET.get("q", "")[:500]
    filters = search_filters(request.GET)
    result = meta_analysis(
        workspace=membership.workspace,
        group_by=group_by,
        query=query,
        filters=filters,
        method=method,
    )
    groups = result.groups
    rows = [
        {
            "group": group,
            "win_rate": _percent(group.win_rate),
            "average": lift_text(group.average_impact),
            "average_shrunk": lift_text(group.average_impact_shrunk),
            "cumulative": lift_text(group.cumulative_impact) if group.shipped else "—",
            "cumulative_shrunk": lift_text(group.cumulative_impact_shrunk)
            if group.shipped
            else "—",
            "retention": (
                f"{group.retention_moved} of {group.retention_measured}"
                if group.retention_measured
                else "not measured"
            ),
        }
        for group in [*groups, result.total]
    ]
    shrinkage = result.shrinkage
    evidence = meta_evidence(
        experiments=result.total.experiments, wins=result.total.wins, method=method
    )
    few = (
        []
        if evidence.enough_for_win_rate
        else _experiment_rows(
            learnings_matching(workspace=membership.workspace, query=query, filters=filters)
            .filter(source=Source.EXPERIMENT)
            .select_related("experiment")[: evidence.experiments_needed]
        )
    )
    kept = request.GET.copy()
    for name in ("group_by", "method"):
        kept.pop(name, None)
    return render(
        request,
        "learnings/meta.html",
        {
            "form": form,
            "group_by": group_by,
            "group_label": dict(form.fields["group_by"].choices)[group_by],
            "result": result,
            "rows": rows,
            "total": result.total,
            "total_row": rows[-1],
            "win_chart": _bars(
                groups,
                [("Win rate", "win_rate", WIN_COLOUR)],
                axis="Share of experiments that won",
                unit="share",
                max=1,
            ),
            "impact_chart": _bars(
                groups,
                [
                    ("Raw", "cumulative_impact", RAW_COLOUR),
                    ("Shrunk", "cumulative_impact_shrunk", SHRUNK_COLOUR),
                ],
                axis="Cumulative lift of shipped experiments (Σ relative lift)",
            ),
            "chart_height": _chart_height(len(groups), 2),  # both charts, side by side
            "evidence": evidence,
            "win_interval": f"{_percent(evidence.win_low)}–{_percent(evidence.win_high)}",
            "few": few,
            "method_name": shrinkage.method_name,
            "prior_mean": lift_text(shrinkage.prior_mean),
            "prior_sd": (
                lift_text(shrinkage.tau2**0.5, signed=False) if shrinkage.tau2 is not None else ""
            ),
            "hidden_query": [
                (name, value) for name in ("q", *FACETS) for value in kept.getlist(name)
            ],
            "filtered": bool(query or filters.active),
            "search_url": reverse("learnings_web:search")
            + (f"?{kept.urlencode()}" if kept else ""),
        },
    )


def _experiment_rows(learnings: Iterable[Learning]) -> list[dict[str, Any]]:
    """The experiments themselves, while there are too few to add up meaningfully."""
    rows = []
    for learning in learnings:
        interval = ""
        if learning.impact is not None and learning.impact_se:
            half = Z_95 * learning.impact_se
            low, high = learning.impact - half, learning.impact + half
            interval = f"{lift_text(low)} to {lift_text(high)}"
        rows.append({"learning": learning, "lift": impact_text(learning), "interval": interval})
    return rows


def area_at_path(workspace: Workspace, text: str) -> ProductArea | None:
    """The workspace's area a draft names ("Editor › Sharing", any case), if it exists."""
    names = [" ".join(part.split()) for part in _PATH_SPLIT.split(text.strip())]
    path = AREA_SEPARATOR.join(name for name in names if name)
    if not path:
        return None
    return ProductArea.objects.filter(workspace=workspace, path__iexact=path).first()


@workspace_page()
def tried_before(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The design form's panel (htmx, as the hypothesis is typed): similar past learnings."""
    form = TriedBeforeForm(request.GET)
    results: list[Any] = []
    draft = ""
    area = None
    if form.is_valid():
        draft = form.draft_text()
        area = area_at_path(membership.workspace, form.cleaned_data["product_area"])
        own = (
            tuple(
                Learning.objects.filter(
                    workspace=membership.workspace, experiment__key=form.cleaned_data["key"]
                ).values_list("pk", flat=True)
            )
            if form.cleaned_data["key"]
            else ()
        )
        if draft:
            results = similar_learnings(
                workspace=membership.workspace,
                hypothesis=draft,
                product_area=area,
                limit=SIMILAR_SHOWN,
                exclude_ids=own,
            )
    return render(
        request,
        "learnings/_tried_before.html",
        {
            "results": [(r, impact_text(r.learning)) for r in results],
            "draft": draft,
            "area": area,
        },
    )
