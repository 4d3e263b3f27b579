""" "Did you mean": the closest words of the workspace's own learnings for a query's typos.

A query word the library never uses is replaced by the most similar word it does use:
PostgreSQL ranks candidates by trigram similarity (``pg_trgm``'s ``similarity``, over the
words of the workspace's learnings, split in SQL); SQLite reads the same words in Python and
ranks them by edit distance (rapidfuzz's Levenshtein), more frequent words first on a tie.
Only words of at least ``MIN_WORD_CHARS`` letters are corrected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from django.db import connection
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from learnings.models import Learning
from learnings.search.index import TABLE
from learnings.search.text import STOP_WORDS
from plg_platform.models import Workspace

MIN_WORD_CHARS = 4
MAX_WORDS_CORRECTED = 8
# pg_trgm's own default threshold for "similar" (pg_trgm.similarity_threshold).
MIN_TRIGRAM_SIMILARITY = 0.3
TEXT_COLUMNS = ("title", "hypothesis", "learned", "rationale", "search_extra")
_WORD = re.compile(r"[^\W_]+")


def max_edits(word: str) -> int:
    """Edits allowed to call ``word`` a typo: 1 up to 5 letters, 2 beyond."""
    return 1 if len(word) <= 5 else 2


def query_words(query: str) -> list[str]:
    """The words of ``query`` worth correcting, lower-case, in order, once each."""
    words = [w.lower() for w in _WORD.findall(query or "")]
    candidates = [w for w in words if len(w) >= MIN_WORD_CHARS and w not in STOP_WORDS]
    return list(dict.fromkeys(candidates))[:MAX_WORDS_CORRECTED]


class Vocabulary:
    """The words of one workspace's learnings, and the closest of them to a given word."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def corrections(self, words: Iterable[str]) -> dict[str, str]:
        """``{typo: closest library word}`` for the ``words`` the library does not use."""
        if connection.vendor == "postgresql":
            return self._postgres(list(words))
        return self._python(list(words))

    def _python(self, words: list[str]) -> dict[str, str]:
        counts: Counter[str] = Counter()
        rows = Learning.objects.filter(workspace=self.workspace).values_list(*TEXT_COLUMNS)
        for row in rows.iterator(chunk_size=500):
            for text in row:
                counts.update(w.lower() for w in _WORD.findall(text or ""))
        out = {}
        for word in words:
            if word in counts:
                continue
            matches = process.extract(
                word,
                list(counts),
                scorer=Levenshtein.distance,
                score_cutoff=max_edits(word),
                limit=None,
            )
            if matches:
                best = min(matches, key=lambda m: (m[1], -counts[m[0]], m[0]))
                out[word] = best[0]
        return out

    def _postgres(self, words: list[str]) -> dict[str, str]:
        if not words:
            return {}
        text = ", ".join(f"coalesce({column}, '')" for column in TEXT_COLUMNS)
        # Our identifiers only; the workspace, the words and the threshold are bound.
        sql = f"""
            WITH vocabulary AS (
                SELECT lower(word) AS word, count(*) AS uses
                FROM {TABLE},
                     regexp_split_to_table(concat_ws(' ', {text}), '[^[:alnum:]]+') AS word
                WHERE workspace_id = %s AND length(word) >= 2
                GROUP BY lower(word)
            ),
            asked AS (SELECT unnest(%s::text[]) AS typo)
            SELECT DISTINCT ON (typo) typo, word
            FROM asked
            JOIN vocabulary ON similarity(word, typo) >= %s
            WHERE NOT EXISTS (SELECT 1 FROM vocabulary known WHERE known.word = typo)
            ORDER BY typo, similarity(word, typo) DESC, uses DESC, word
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.workspace.pk, words, MIN_TRIGRAM_SIMILARITY])
            return dict(cursor.fetchall())


def did_you_mean(*, workspace: Workspace, query: str) -> str:
    """The query with its typos replaced by library words, or "" when nothing to correct."""
    corrections = Vocabulary(workspace).corrections(query_words(query))
    if not corrections:
        return ""

    def replace(match: re.Match[str]) -> str:
        return corrections.get(match.group(0).lower(), match.group(0))

    suggestion = _WORD.sub(replace, query)
    return suggestion if suggestion != query else ""
