"""Full-text matching, ranking and highlighting, one backend per database engine.

The user's query reads like a web search on both engines: words are all required, ``"two
words"`` is a phrase, ``or`` between words accepts either, ``-word`` excludes. ``parse_query``
splits it once; each term then also matches its compound/hyphen spellings and its synonyms
(``learnings.search.terms``). With ``any_word`` every term is optional instead (ranked by how
many match): the search falls back to that when requiring every word finds nothing.

PostgreSQL builds the ``tsquery`` from ``phraseto_tsquery('english', …)`` per term joined with
``||``, ``&&`` and ``!!``; for SQLite ``fts5_query`` builds the same thing as an FTS5
expression. Both stem ("onboard" matches "onboarding"). Highlights come back HTML-escaped
with ``<mark>`` around the matched words.
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, FloatField, QuerySet
from django.db.models.expressions import Expression, RawSQL

from learnings.search.index import FTS_TABLE, TABLE
from learnings.search.terms import Expansion, TermExpander

MARK_START, MARK_END = "\x02", "\x03"
SNIPPET_CHARS = 240
# Common English words PostgreSQL's english configuration drops; dropped on SQLite too, so
# "the onboarding" finds the same learnings on both engines.
STOP_WORDS = frozenset(
    "a an and are as at be but by did do for from had has have how i if in into is it its "
    "of on or our so than that the their then there these they this to was we were what when "
    "which who why will with you your".split()
)
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORDLIKE = re.compile(r"\w")


@dataclass(frozen=True)
class ParsedQuery:
    """A query as groups of alternatives (all groups required) and excluded terms."""

    groups: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not self.groups and not self.excluded


def parse_query(text: str) -> ParsedQuery:
    """Split a web-search style query into required groups and exclusions."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    pending_or = False
    for match in _TOKEN.finditer(text or ""):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None:
            negated = "-" if word.startswith("-") and len(word) > 1 else ""
            word = word[1:] if negated else word
            if word.lower() == "or" and not negated:
                pending_or = bool(groups)
                continue
            if word.lower() in STOP_WORDS:
                continue
        term = " ".join((phrase if phrase is not None else word).split())
        if not _WORDLIKE.search(term):
            continue
        if negated:
            excluded.append(term)
        elif pending_or:
            groups[-1].append(term)
        else:
            groups.append([term])
        pending_or = False
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))


def _fts5_term(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_query(terms: Sequence[Sequence[str]]) -> str:
    """Return the FTS5 expression requiring every group (``(a OR b) AND c``)."""
    return " AND ".join("(" + " OR ".join(_fts5_term(t) for t in group) + ")" for group in terms)


def mark_to_html(text: str, *, limit: int | None = None) -> str:
    """Escape ``text`` for HTML and turn the highlight markers into ``<mark>`` elements."""
    if limit is not None and len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = cut + ("" if cut.count(MARK_START) == cut.count(MARK_END) else MARK_END) + " …"
    escaped = html.escape(text, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


class OnLearningTable(Expression):
    """SQL over the columns of the query's own ``learnings_learning`` row.

    ``{table}`` in ``template`` becomes that table's alias in the query being compiled (Django
    renames it, e.g. to ``U0``, inside subqueries), so the expression works at any depth.
    Only our own identifiers go into ``template``; user input goes into ``params``.
    """

    def __init__(self, template: str, params: Sequence[object], output_field) -> None:
        super().__init__(output_field=output_field)
        self.template = template
        self.params = list(params)

    def as_sql(self, compiler, connection):
        alias = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return self.template.format(table=alias), self.params


@dataclass(frozen=True)
class Highlight:
    title_html: str
    snippet_html: str


class TextBackend(ABC):
    """Match, rank and highlight learnings for one parsed query.

    ``filter`` and ``rank`` work on any queryset of learnings, also inside subqueries.
    """

    def __init__(
        self, query: str, *, synonyms: Sequence[Sequence[str]] = (), any_word: bool = False
    ) -> None:
        self.query = query
        self.parsed = parse_query(query)
        self.any_word = any_word
        expander = TermExpander(synonyms)
        groups = expander.expand(self.parsed.groups)
        if any_word and groups:
            groups = (tuple(dict.fromkeys(term for group in groups for term in group)),)
        self.groups: tuple[tuple[str, ...], ...] = groups
        excluded = expander.expand([[term] for term in self.parsed.excluded])
        self.excluded: tuple[str, ...] = tuple(dict.fromkeys(t for g in excluded for t in g))
        self.expansions: list[Expansion] = expander.expansions(self.parsed.groups)

    @property
    def active(self) -> bool:
        return not self.parsed.is_empty

    @property
    def can_widen(self) -> bool:
        """Whether an any-word search would differ (several required groups)."""
        return not self.any_word and len(self.parsed.groups) > 1

    @abstractmethod
    def filter(self, queryset: QuerySet) -> QuerySet:
        """Return ``queryset`` narrowed to the learnings matching the query."""

    @abstractmethod
    def rank(self) -> Expression:
        """Return an expression ranking a learning's match (higher is better)."""

    @abstractmethod
    def highlights(self, ids: Sequence[int]) -> dict[int, Highlight]:
        """Return the highlighted title and snippet of each learning in ``ids``."""


class PostgresText(TextBackend):
    """A ``tsquery`` of phrases against the generated ``search_vector`` (GIN index)."""

    _PHRASE = "phraseto_tsquery('english', %s)"
    _TITLE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true"
    _SNIPPET_OPTIONS = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
        'ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
    )

    def __init__(
        self, query: str, *, synonyms: Sequence[Sequence[str]] = (), any_word: bool = False
    ) -> None:
        super().__init__(query, synonyms=synonyms, any_word=any_word)
        self._tsquery, self._params = self._build()
        if self.active:
            # PostgreSQL's own stop words may leave nothing of the query: then no text filter.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT numnode({self._tsquery})", self._params)
                self._empty = cursor.fetchone()[0] == 0
        else:
            self._empty = True

    def _build(self) -> tuple[str, list[str]]:
        """The ``tsquery`` expression (our SQL, one placeholder per term) and its terms."""
        params: list[str] = []

        def any_of(terms: Sequence[str]) -> str:
            params.extend(terms)
            return "(" + " || ".join(self._PHRASE for _ in terms) + ")"

        sql = " && ".join(any_of(group) for group in self.groups)
        if self.excluded:
            negated = "!!" + any_of(self.excluded)
            sql = f"({sql}) && {negated}" if sql else negated
        return sql or "''::tsquery", params

    @property
    def active(self) -> bool:
        return super().active and not getattr(self, "_empty", False)

    def filter(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(
            OnLearningTable(
                "{table}.search_vector @@ (" + self._tsquery + ")", self._params, BooleanField()
            )
        )

    def rank(self) -> Expression:
        return OnLearningTable(
            "ts_rank({table}.search_vector, " + self._tsquery + ")", self._params, FloatField()
        )

    def highlights(self, ids: Sequence[int]) -> dict[int, Highlight]:
        if not ids:
            return {}
        sql = (  # our identifiers only; the query, options and ids are bound parameters
            f"SELECT id, ts_headline('english', title, q, %s), "  # noqa: S608
            f"ts_headline('english', concat_ws(E'\\n', nullif(learned, ''), "
            f"nullif(hypothesis, ''), nullif(rationale, '')), q, %s) "
            f"FROM {TABLE} CROSS JOIN (SELECT {self._tsquery} AS q) AS query WHERE id = ANY(%s)"
        )
        params = [self._TITLE_OPTIONS, self._SNIPPET_OPTIONS, *self._params, list(ids)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return {
            pk: Highlight(mark_to_html(title), mark_to_html(snippet, limit=SNIPPET_CHARS))
            for pk, title, snippet in rows
        }


class SqliteText(TextBackend):
    """FTS5 (porter tokenizer) over the external-content index of ``learnings_learning``."""

    _BM25 = f"bm25({FTS_TABLE}, 10.0, 4.0, 4.0, 2.0, 2.0)"
    _SNIPPET_COLUMNS = (2, 1, 3)  # learned, hypothesis, rationale: the first with a match

    def __init__(
        self, query: str, *, synonyms: Sequence[Sequence[str]] = (), any_word: bool = False
    ) -> None:
        super().__init__(query, synonyms=synonyms, any_word=any_word)
        self.required = fts5_query(self.groups) if self.groups else ""
        self.excluding = fts5_query([self.excluded]) if self.excluded else ""

    def filter(self, queryset: QuerySet) -> QuerySet:
        # Our identifiers only; the FTS5 expression is a bound parameter.
        match = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"  # noqa: S608
        if self.required:
            queryset = queryset.filter(pk__in=RawSQL(match, [self.required]))  # noqa: S611
        if self.excluding:
            queryset = queryset.exclude(pk__in=RawSQL(match, [self.excluding]))  # noqa: S611
        return queryset

    def rank(self) -> Expression:
        if not self.required:
            return OnLearningTable("0.0", [], FloatField())
        return OnLearningTable(
            f"(SELECT -{self._BM25} FROM {FTS_TABLE} "  # noqa: S608 - our identifiers only
            f"WHERE {FTS_TABLE} MATCH %s AND rowid = {{table}}.id)",
            [self.required],
            FloatField(),
        )

    def highlights(self, ids: Sequence[int]) -> dict[int, Highlight]:
        if not ids or not self.required:
            return {}
        snippets = ", ".join(
            f"snippet({FTS_TABLE}, {column}, char(2), char(3), ' … ', 24)"
            for column in self._SNIPPET_COLUMNS
        )
        placeholders = ", ".join("%s" for _ in ids)
        sql = (  # our identifiers only; the expression and ids are bound parameters
            f"SELECT rowid, highlight({FTS_TABLE}, 0, char(2), char(3)), {snippets} "  # noqa: S608
            f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid IN ({placeholders})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.required, *ids])
            rows = cursor.fetchall()
        out = {}
        for pk, title, *candidates in rows:
            marked = [c for c in candidates if c and MARK_START in c]
            snippet = marked[0] if marked else next((c for c in candidates if c), "")
            out[pk] = Highlight(mark_to_html(title), mark_to_html(snippet, limit=SNIPPET_CHARS))
        return out


def text_backend(
    query: str, *, synonyms: Sequence[Sequence[str]] = (), any_word: bool = False
) -> TextBackend:
    """Return the backend of the default database's engine for ``query``."""
    backend = PostgresText if connection.vendor == "postgresql" else SqliteText
    return backend(query, synonyms=synonyms, any_word=any_word)
