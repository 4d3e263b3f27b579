"""Statements written as fixed SQL templates, parsed once by sqlglot and rendered per dialect.

Templates are SQLite-dialect text (integer division stays integer on every engine) where the
words ``EVENTS`` and ``PERSONS`` name the event store's tables and ``:name`` placeholders take
parts: sqlglot expressions are put in as they are, any other value as a bound parameter. The
KPI library's statements are built this way; the metric compiler builds its trees directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from metrics.engine.dialects import get_dialect
from metrics.engine.json_access import JsonAccess
from metrics.engine.sql import (
    EVENTS_TABLE,
    PERSONS_TABLE,
    SUPPORTED_DIALECTS,
    CompilerError,
    Params,
)

PLACEHOLDER_RESERVED = "Template placeholders may not be named like bound parameters: {name}."

_TABLES = {"EVENTS": EVENTS_TABLE, "PERSONS": PERSONS_TABLE}
_LEAVES = (exp.Placeholder, exp.Literal, exp.Column, exp.Null, exp.Boolean)


@dataclass(frozen=True)
class RenderedQuery:
    """One statement ready to run: SQL text, its bound parameters and its output columns."""

    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]


@functools.lru_cache(maxsize=64)
def parse_template(template: str) -> exp.Expr:
    """Parse a template (SQLite dialect); the words EVENTS and PERSONS name the event store."""
    named = re.sub(r"\b(EVENTS|PERSONS)\b", lambda m: _TABLES[m.group(1)], template)
    return sqlglot.parse_one(named, read="sqlite")


def with_ctes(final: str, ctes: Mapping[str, str], recursive: bool = False) -> str:
    """Return the template ``WITH name AS (body), ... final``."""
    head = "WITH RECURSIVE " if recursive else "WITH "
    return head + ",\n".join(f"{name} AS ({body})" for name, body in ctes.items()) + "\n" + final


class Statement:
    """One statement under construction: its bound parameters, JSON access and templates."""

    def __init__(self, *, dialect: str, workspace_id: int) -> None:
        if dialect not in SUPPORTED_DIALECTS:
            raise CompilerError(f"Unsupported dialect {dialect!r}.")
        self.dialect = dialect
        self.workspace_id = workspace_id
        self.params = Params()
        self.json = JsonAccess(dialect, self.params)

    def bind(self, value: Any) -> exp.Placeholder:
        return self.params.bind(value)

    def fill(self, template: str, **parts: Any) -> exp.Expr:
        """Parse ``template`` and put each part in its ``:name``: expressions as they are
        (parenthesised), anything else as a bound parameter."""
        bound: dict[str, exp.Expr] = {}
        for name, part in parts.items():
            if name[:1] == "p" and name[1:].isdigit():
                raise CompilerError(PLACEHOLDER_RESERVED.format(name=name))
            if isinstance(part, exp.Expression):
                bound[name] = part if isinstance(part, _LEAVES) else exp.paren(part, copy=False)
            else:
                bound[name] = self.bind(part)
        tree = parse_template(template)
        missing = {p.name for p in tree.find_all(exp.Placeholder)} - set(bound)
        if missing:
            raise CompilerError(f"Template parts missing: {sorted(missing)}.")

        def substitute(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in bound:
                return bound[node.name].copy()
            return node

        return tree.transform(substitute)

    def render(self, tree: exp.Expr, columns: Sequence[str]) -> RenderedQuery:
        return RenderedQuery(
            sql=get_dialect(self.dialect).render(tree, self.params.values),
            params=dict(self.params.values),
            columns=tuple(columns),
        )
