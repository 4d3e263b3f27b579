"""Facet counts of a search, all facets in one pass over the text-matched learnings.

Each facet is counted over the learnings that match the text and every *other* selected
filter (the usual "disjunctive" facets), so a page can show how many learnings each further
choice would add. Product-area counts include sub-areas: Editor counts Editor › Sharing.

Counting every facet with its own SQL query costs one scan of the matches per facet (eleven);
here one query fetches the matches' tag columns and one pass in Python counts the nine column
facets, and one grouped query each counts the free tags and key results (one-to-many).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from experiments.models import FunnelStage
from learnings.models import (
    Effect,
    LearningKeyResult,
    LearningTag,
    LoopStage,
    Outcome,
    ProductArea,
    Source,
)

NONE = "none"  # the facet value of a blank tag ("not measured", "no team", …)
SCALAR_FACETS = (
    "funnel_stage",
    "loop_stage",
    "acquisition_effect",
    "retention_effect",
    "outcome",
    "team",
    "quarter",
    "source",
)
FACETS = (
    "funnel_stage",
    "loop_stage",
    "acquisition_effect",
    "retention_effect",
    "product_area",
    "outcome",
    "team",
    "quarter",
    "key_result",
    "tag",
    "source",
)
MAX_TAG_VALUES = 30
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "funnel_stage": dict(FunnelStage.choices),
    "loop_stage": dict(LoopStage.choices),
    "acquisition_effect": dict(Effect.choices),
    "retention_effect": dict(Effect.choices),
    "outcome": dict(Outcome.choices),
    "source": dict(Source.choices),
}
NONE_LABELS = {
    "funnel_stage": "No stage",
    "loop_stage": "No loop stage",
    "acquisition_effect": "Not measured",
    "retention_effect": "Not measured",
    "outcome": "Not an experiment",
    "team": "No team",
    "product_area": "No area",
}


@dataclass(frozen=True)
class SearchFilters:
    """Selected facet values: OR within a facet, AND across facets. ``"none"`` selects blanks."""

    funnel_stage: tuple[str, ...] = ()
    loop_stage: tuple[str, ...] = ()
    acquisition_effect: tuple[str, ...] = ()
    retention_effect: tuple[str, ...] = ()
    product_area: tuple[str, ...] = ()  # area ids (as text), or "none"
    outcome: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    quarter: tuple[str, ...] = ()
    key_result: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    source: tuple[str, ...] = ()

    def selected(self, facet: str) -> tuple[str, ...]:
        return getattr(self, facet)

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(facet for facet in FACETS if self.selected(facet))


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    depth: int = 0  # product areas: 0 for a top-level area
    parent: str | None = None


def selected_area_ids(filters: SearchFilters, areas: dict[str, ProductArea]) -> set[str]:
    """The area ids (as text, ``none`` for no area) the product-area filter accepts."""
    chosen = [areas[v] for v in filters.product_area if v in areas]
    accepted = {
        area_id
        for area_id, area in areas.items()
        if any(area.id_path.startswith(c.id_path) for c in chosen)
    }
    if NONE in filters.product_area:
        accepted.add(NONE)
    return accepted


# --- Filters ----------------------------------------------------------------------------------


def _field_filter(name: str) -> Callable[[QuerySet, tuple[str, ...], Any], QuerySet]:
    def apply(queryset: QuerySet, values: tuple[str, ...], context: Any) -> QuerySet:
        condition = Q(**{f"{name}__in": [v for v in values if v != NONE]})
        if NONE in values:
            condition |= Q(**{name: ""})
        return queryset.filter(condition)

    return apply


def _area_filter(queryset: QuerySet, values: tuple[str, ...], areas: dict[str, ProductArea]):
    condition = Q(pk__in=[])
    for value in values:
        if value == NONE:
            condition |= Q(product_area__isnull=True)
        elif value in areas:
            condition |= Q(product_area__id_path__startswith=areas[value].id_path)
    return queryset.filter(condition)


def _key_result_filter(queryset: QuerySet, values: tuple[str, ...], context: Any) -> QuerySet:
    return queryset.filter(
        pk__in=LearningKeyResult.objects.filter(key_result_id__in=values).values("learning_id")
    )


def _tag_filter(queryset: QuerySet, values: tuple[str, ...], context: Any) -> QuerySet:
    names = [v.strip().lower() for v in values]
    return queryset.filter(pk__in=LearningTag.objects.filter(name__in=names).values("learning_id"))


_FILTERS: dict[str, Callable[[QuerySet, tuple[str, ...], Any], QuerySet]] = {
    **{
        name: _field_filter(name)
        for name in (
            "funnel_stage",
            "loop_stage",
            "acquisition_effect",
            "retention_effect",
            "outcome",
            "team",
            "quarter",
            "source",
        )
    },
    "product_area": _area_filter,
    "key_result": _key_result_filter,
    "tag": _tag_filter,
}


def apply_filters(
    queryset: QuerySet,
    filters: SearchFilters,
    areas: dict[str, ProductArea],
    *,
    skip: str | None = None,
) -> QuerySet:
    """Filter ``queryset`` by every selected facet but ``skip``."""
    for facet in FACETS:
        values = filters.selected(facet)
        if values and facet != skip:
            queryset = _FILTERS[facet](queryset, values, areas)
    return queryset


_ROW_COLUMNS = ("id", *SCALAR_FACETS, "product_area_id")


def _members(model, field: str, values: tuple[str, ...], base: QuerySet) -> set[int]:
    """Ids of the learnings in ``base`` having any of ``values`` (tags or key results)."""
    return set(
        model.objects.filter(learning_id__in=base.values("id"), **{f"{field}__in": values})
        .values_list("learning_id", flat=True)
        .distinct()
    )


def _related_counts(
    model, field: str, label: str, queryset: QuerySet
) -> tuple[Counter[str], dict[str, str]]:
    rows = (
        model.objects.filter(learning_id__in=queryset.values("id"))
        .values_list(field, label)
        .annotate(n=Count("learning_id", distinct=True))
        .order_by()
    )
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for value, text, n in rows:
        counts[value] += n
        labels.setdefault(value, text)
    return counts, labels


def facet_counts(
    base: QuerySet, filters: SearchFilters, areas: dict[str, ProductArea]
) -> tuple[int, dict[str, list[FacetValue]]]:
    """Return (learnings passing every filter, facet values with counts) for ``base``.

    ``base`` is the workspace's learnings matching the text, before any facet filter. The
    column facets are counted in one pass over ``base``'s rows; free tags and key results
    (one-to-many) by one grouped query each.
    """
    accepted_areas = selected_area_ids(filters, areas)
    tags = tuple(v.strip().lower() for v in filters.tag)
    members = {
        "tag": _members(LearningTag, "name", tags, base) if tags else set(),
        "key_result": (
            _members(LearningKeyResult, "key_result_id", filters.key_result, base)
            if filters.key_result
            else set()
        ),
    }
    rows = list(base.order_by().values_list(*_ROW_COLUMNS))
    columns = {
        name: [row[index] or NONE for row in rows]
        for index, name in enumerate(SCALAR_FACETS, start=1)
    }
    columns["product_area"] = [str(row[-1]) if row[-1] is not None else NONE for row in rows]
    ids = [row[0] for row in rows]
    # Which rows pass each selected facet's filter.
    passes: dict[str, list[bool]] = {}
    for facet in filters.active:
        if facet in members:
            passes[facet] = [pk in members[facet] for pk in ids]
        else:
            accepted = accepted_areas if facet == "product_area" else set(filters.selected(facet))
            passes[facet] = [value in accepted for value in columns[facet]]
    # A row passing every filter counts in every facet; one failing exactly one filter counts
    # only in that facet (whose own filter is ignored for its counts).
    everywhere: list[int] = []
    only_in: dict[str, list[int]] = {facet: [] for facet in passes}
    for index in range(len(rows)):
        failed = [facet for facet, ok in passes.items() if not ok[index]]
        if not failed:
            everywhere.append(index)
        elif len(failed) == 1:
            only_in[failed[0]].append(index)
    counts: dict[str, Counter[str]] = {}
    for facet, column in columns.items():
        if not passes:
            counts[facet] = Counter(column)
        else:
            chosen = everywhere + only_in.get(facet, [])
            counts[facet] = Counter(column[index] for index in chosen)
    matched = len(everywhere)
    facets = {facet: _scalar_values(facet, counts[facet], filters) for facet in SCALAR_FACETS}
    facets["product_area"] = _area_values(counts["product_area"], filters, areas)
    kr_counts, kr_titles = _related_counts(
        LearningKeyResult,
        "key_result_id",
        "title",
        apply_filters(base, filters, areas, skip="key_result"),
    )
    facets["key_result"] = _related_values("key_result", kr_counts, kr_titles, filters)
    tag_counts, _ = _related_counts(
        LearningTag, "name", "name", apply_filters(base, filters, areas, skip="tag")
    )
    facets["tag"] = _related_values("tag", tag_counts, {}, filters)[:MAX_TAG_VALUES]
    return matched, {facet: facets[facet] for facet in FACETS}


def _scalar_values(name: str, counts: Counter[str], filters: SearchFilters) -> list[FacetValue]:
    """Choices in their own order, teams by count, quarters newest first; blank last."""
    labels = CHOICE_LABELS.get(name, {})
    selected = set(filters.selected(name))
    values = [
        FacetValue(
            value,
            NONE_LABELS.get(name, "None") if value == NONE else labels.get(value, value),
            n,
            value in selected,
        )
        for value, n in counts.items()
    ]
    order = {value: index for index, value in enumerate(labels)}
    if name == "quarter":
        values.sort(key=lambda v: v.value, reverse=True)
    elif order:
        values.sort(key=lambda v: order.get(v.value, len(order)))
    else:
        values.sort(key=lambda v: (-v.count, v.value))
    return sorted(values, key=lambda v: v.value == NONE)


def _area_values(
    direct: Counter[str], filters: SearchFilters, areas: dict[str, ProductArea]
) -> list[FacetValue]:
    """Areas in path order, each counting its own learnings and its sub-areas'."""
    selected = set(filters.selected("product_area"))
    by_id_path = {area.id_path: area for area in areas.values()}
    values = []
    for area in sorted(areas.values(), key=lambda a: a.path):
        total = sum(
            n
            for area_id, n in direct.items()
            if area_id != NONE and areas[area_id].id_path.startswith(area.id_path)
        )
        if total:
            parent = by_id_path.get(area.id_path.rsplit("/", 2)[0] + "/")
            values.append(
                FacetValue(
                    str(area.pk),
                    area.path,
                    total,
                    str(area.pk) in selected,
                    depth=area.id_path.count("/") - 2,
                    parent=str(parent.pk) if parent else None,
                )
            )
    if direct.get(NONE):
        values.append(FacetValue(NONE, NONE_LABELS["product_area"], direct[NONE], NONE in selected))
    return values


def _related_values(
    facet: str, counts: Counter[str], labels: dict[str, str], filters: SearchFilters
) -> list[FacetValue]:
    selected = set(filters.selected(facet))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], labels.get(item[0], item[0])))
    return [FacetValue(v, labels.get(v, v), n, v in selected) for v, n in ranked]
