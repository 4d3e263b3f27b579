"""'Have we tried this before?': the past learnings most similar to a draft hypothesis.

Text similarity: TF-IDF cosine (scikit-learn) over each learning's title, hypothesis, what we
learned and rationale, as the mean of two views: stemmed words (so "onboard" meets
"onboarding") and character 3–5-grams within words (so "sign-up", "signup" and "signups"
meet). A learning in the draft's product area gets a bonus, one in a parent or sub-area a
smaller one; area alone never makes a match.

The fitted vectors are cached per workspace and rebuilt when a learning is added, changed or
deleted (the cache key is the count and the latest ``updated_at``). Semantic embeddings were
considered; see docs/learnings.md for why text similarity is what ships.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Count, Max
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from learnings.models import Learning, ProductArea
from plg_platform.models import Workspace

SAME_AREA_BONUS = 0.10
RELATED_AREA_BONUS = 0.05
MIN_TEXT_SCORE = 0.08
CACHE_SIZE = 8
_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ers", "ies", "ied", "ed", "es", "er")
_SUFFIXES += ("ly", "s")
_REPLACEMENT = {"ations": "at", "ation": "at", "ies": "y", "ied": "y"}


def stem(word: str) -> str:
    """Strip one common English suffix and a final "e" (a light stemmer: "share", "shared",
    "sharing" and "shares" all become "shar")."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + _REPLACEMENT.get(suffix, "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def words(text: str) -> list[str]:
    """Lower-case, split, drop English stop words, stem."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


def document_text(learning: Learning) -> str:
    return "\n".join(
        part
        for part in (learning.title, learning.hypothesis, learning.learned, learning.rationale)
        if part
    )


@dataclass(frozen=True)
class TextIndex:
    """TF-IDF matrices of a workspace's learnings, in ``ids`` order."""

    ids: np.ndarray
    area_id_paths: list[str]
    word_vectorizer: TfidfVectorizer
    char_vectorizer: TfidfVectorizer
    word_matrix: object  # scipy.sparse CSR, rows L2-normalised
    char_matrix: object

    @classmethod
    def build(cls, rows: list[tuple[int, str, str]]) -> TextIndex:
        """Fit on ``(id, text, area id_path)`` rows."""
        texts = [text for _, text, _ in rows]
        word = TfidfVectorizer(analyzer=words, sublinear_tf=True, min_df=1)
        char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True
        )
        return cls(
            ids=np.array([pk for pk, _, _ in rows], dtype=np.int64),
            area_id_paths=[path for _, _, path in rows],
            word_vectorizer=word,
            char_vectorizer=char,
            word_matrix=word.fit_transform(texts),
            char_matrix=char.fit_transform(texts),
        )

    def scores(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every learning: the mean of the two views."""
        word = (self.word_matrix @ self.word_vectorizer.transform([text]).T).toarray().ravel()
        char = (self.char_matrix @ self.char_vectorizer.transform([text]).T).toarray().ravel()
        return (word + char) / 2


_cache: OrderedDict[tuple[int, int, datetime | None], TextIndex] = OrderedDict()
_cache_lock = threading.Lock()


def _index_for(workspace: Workspace) -> TextIndex | None:
    state = Learning.objects.filter(workspace=workspace).aggregate(
        n=Count("id"), latest=Max("updated_at")
    )
    if not state["n"]:
        return None
    key = (workspace.pk, state["n"], state["latest"])
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    rows = [
        (
            learning.pk,
            document_text(learning),
            learning.product_area.id_path if learning.product_area else "",
        )
        for learning in Learning.objects.filter(workspace=workspace)
        .select_related("product_area")
        .only("id", "title", "hypothesis", "learned", "rationale", "product_area__id_path")
        .order_by("id")
    ]
    index = TextIndex.build(rows)
    with _cache_lock:
        for stale in [k for k in _cache if k[0] == workspace.pk]:
            del _cache[stale]
        _cache[key] = index
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return index


@dataclass(frozen=True)
class SimilarLearning:
    learning: Learning
    score: float
    text_score: float
    area_match: str  # "same" | "related" | ""


def _area_bonus(candidate: str, draft: ProductArea | None) -> tuple[float, str]:
    if draft is None or not candidate:
        return 0.0, ""
    if candidate == draft.id_path:
        return SAME_AREA_BONUS, "same"
    if candidate.startswith(draft.id_path) or draft.id_path.startswith(candidate):
        return RELATED_AREA_BONUS, "related"
    return 0.0, ""


def similar_learnings(
    *,
    workspace: Workspace,
    hypothesis: str,
    product_area: ProductArea | None = None,
    limit: int = 5,
    exclude_ids: tuple[int, ...] = (),
) -> list[SimilarLearning]:
    """Return up to ``limit`` learnings most similar to a draft, best first."""
    index = _index_for(workspace)
    if index is None or not words(hypothesis):
        return []
    text_scores = index.scores(hypothesis)
    candidates = np.flatnonzero(text_scores >= MIN_TEXT_SCORE)
    scored = []
    for position in candidates:
        pk = int(index.ids[position])
        if pk in exclude_ids:
            continue
        bonus, match = _area_bonus(index.area_id_paths[position], product_area)
        text_score = float(text_scores[position])
        scored.append((text_score + bonus, text_score, pk, match))
    scored.sort(key=lambda item: (-item[0], -item[1], -item[2]))
    top = scored[:limit]
    learnings = Learning.objects.select_related("product_area").in_bulk([pk for *_, pk, _ in top])
    return [
        SimilarLearning(learnings[pk], round(score, 4), round(text, 4), match)
        for score, text, pk, match in top
        if pk in learnings
    ]
