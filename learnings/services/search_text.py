"""The extra text a learning is found by: its product-area path, tags, key results and team,
and the compounds of the hyphenated words in its own text.

Titles, hypotheses, what we learned and rationales are indexed straight from their columns;
this module keeps ``Learning.search_extra`` in step with the tags that live elsewhere, and adds
"signup" for a text that says "sign-up" so that either spelling finds it
(``learnings.search.terms``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from learnings.models import Learning, LearningKeyResult, LearningTag
from learnings.search.terms import compound_forms

_BATCH = 500


def learning_search_text(
    *,
    area_path: str,
    team: str,
    tags: Iterable[str],
    key_results: Iterable[str],
    extra: str = "",
    own_text: Iterable[str] = (),
) -> str:
    """Return the text indexed beside the learning's own fields (``own_text``: those fields,
    whose hyphenated words are added as compounds)."""
    parts = [area_path, team, *tags, *key_results, extra]
    compounds = compound_forms("\n".join([*parts, *own_text]))
    return "\n".join([*(part for part in parts if part), *compounds])


def _search_text_of(learning: Learning) -> str:
    return learning_search_text(
        area_path=learning.product_area.path if learning.product_area else "",
        team=learning.team,
        tags=[tag.name for tag in learning.tag_links.all()],
        key_results=[kr.title for kr in learning.key_results.all()],
        extra=learning.experiment.key if learning.experiment else "",
        own_text=(learning.title, learning.hypothesis, learning.learned, learning.rationale),
    )


def learnings_search_text_refresh(queryset: QuerySet[Learning]) -> int:
    """Recompute ``search_extra`` for the learnings in ``queryset``; return how many changed."""
    queryset = queryset.select_related("product_area", "experiment").prefetch_related(
        Prefetch("tag_links", queryset=LearningTag.objects.order_by("name")),
        Prefetch("key_results", queryset=LearningKeyResult.objects.order_by("key_result_id")),
    )
    changed: list[Learning] = []
    for learning in queryset.iterator(chunk_size=_BATCH):
        text = _search_text_of(learning)
        if text != learning.search_extra:
            learning.search_extra = text
            changed.append(learning)
    Learning.objects.bulk_update(changed, ["search_extra"], batch_size=_BATCH)
    return len(changed)
