"""What a query word also matches: its hyphen/compound forms and the workspace's synonyms.

Both engines tokenise "sign-up" into "sign" + "up" and keep "signup" whole, so neither finds
the other by itself. Each side is normalised here:

- the query: a hyphenated word also matches its compound ("sign-up" → "signup"), and every
  word or phrase also matches the other members of its synonym group;
- the documents: ``compound_forms`` lists the compounds of the hyphenated words a learning's
  text contains, and ``learnings.services.search_text`` indexes them beside the text, so
  "signup" finds a learning that wrote "sign-up".

Synonym groups are the workspace's (``learnings.selectors.search_synonyms``), by default
``DEFAULT_SYNONYMS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A word joined to the next by a hyphen (or a non-breaking one): "sign-up", "e-mail", "add-on".
_HYPHENATED = re.compile(r"\b\w+(?:[-\u2010\u2011]\w+)+\b")
_HYPHEN = re.compile(r"[-\u2010\u2011]")

# Groups of words and phrases a reader means interchangeably in a product-growth library.
# Stemming already joins "annual"/"annually", "invite"/"invites": only real synonyms here.
DEFAULT_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("annual", "yearly"),
    ("monthly", "per month"),
    ("signup", "registration"),
    ("cancel", "cancellation", "churn"),
    ("invite", "invitation"),
    ("onboarding", "getting started"),
    ("checkout", "payment"),
    ("upgrade", "upsell"),
    ("email", "e-mail"),
    ("trial", "free trial"),
)


def normalise_term(term: str) -> str:
    """Lower-case ``term`` with single spaces: how groups and query words are compared."""
    return " ".join(term.lower().split())


def compound_forms(text: str) -> list[str]:
    """The compounds of ``text``'s hyphenated words, in order, once each ("sign-up" → "signup")."""
    seen: dict[str, None] = {}
    for match in _HYPHENATED.finditer(text or ""):
        seen.setdefault(_HYPHEN.sub("", match.group(0)).lower(), None)
    return list(seen)


def _spellings(term: str) -> list[str]:
    """``term`` and, for a hyphenated one, its compound.

    The hyphenated term itself matches "sign-up" on both engines (and "sign up" on SQLite,
    whose tokenizer splits at the hyphen); it is not also searched as the phrase "sign up",
    which PostgreSQL would reduce to "sign" ("up" is one of its stop words).
    """
    if not _HYPHEN.search(term):
        return [term]
    return [term, _HYPHEN.sub("", term)]


@dataclass(frozen=True)
class Expansion:
    """A term of the query and what else it matched (shown on the page)."""

    term: str
    also: tuple[str, ...]


class TermExpander:
    """Expand query terms with compound forms and synonym groups."""

    def __init__(self, synonyms: Iterable[Sequence[str]] = ()) -> None:
        self._groups: dict[str, tuple[str, ...]] = {}
        for group in synonyms:
            members = tuple(dict.fromkeys(normalise_term(t) for t in group if t.strip()))
            for member in members:
                for key in {member, *(_HYPHEN.sub("", s) for s in _spellings(member))}:
                    merged = self._groups.get(key, ())
                    self._groups[key] = tuple(dict.fromkeys((*merged, *members)))

    def alternatives(self, term: str) -> tuple[str, ...]:
        """Every spelling ``term`` stands for: itself first, then compounds and synonyms."""
        key = normalise_term(term)
        found: list[str] = list(_spellings(term))
        for spelling in (key, _HYPHEN.sub("", key)):
            for synonym in self._groups.get(spelling, ()):
                found.extend(_spellings(synonym))
        out: dict[str, None] = {}
        for spelling in found:
            if normalise_term(spelling) not in {normalise_term(s) for s in out}:
                out[spelling] = None
        return tuple(out)

    def expand(self, groups: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
        """Each group with every alternative of every term, order kept, duplicates dropped."""
        expanded = []
        for group in groups:
            terms: dict[str, None] = {}
            for term in group:
                for alternative in self.alternatives(term):
                    terms.setdefault(alternative, None)
            expanded.append(tuple(terms))
        return tuple(expanded)

    def expansions(self, groups: Sequence[Sequence[str]]) -> list[Expansion]:
        """The terms that gained a synonym (not mere spellings), for the page to say so."""
        out = []
        for group in groups:
            for term in group:
                spellings = {normalise_term(s) for s in _spellings(term)}
                also = tuple(
                    a for a in self.alternatives(term) if normalise_term(a) not in spellings
                )
                if also:
                    out.append(Expansion(term, also))
        return out
