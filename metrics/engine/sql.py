"""SQL building blocks shared by every statement of the metric layer: the event store's tables,
the dialects we render, bound parameters and a few sqlglot shorthands.

Every value that comes from a user goes through ``Params.bind``; nothing else puts a value
into SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from metrics.engine.dialects import DIALECT_NAMES

SUPPORTED_DIALECTS = DIALECT_NAMES


# Physical names of the event store (plg_platform's Event and Person tables).
EVENTS_TABLE = "plg_platform_event"
PERSONS_TABLE = "plg_platform_person"


class CompilerError(ValueError):
    """The compiler was asked for something it cannot build."""


@dataclass
class Params:
    """Collects bound parameters; each ``bind`` gives a named placeholder."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> exp.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return exp.Placeholder(this=name)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def num(value: int | float) -> exp.Expr:
    return exp.Literal.number(value)


def case(condition: exp.Expr, then: exp.Expr, default: exp.Expr | None = None) -> exp.Expr:
    """Return ``CASE WHEN condition THEN then [ELSE default] END``."""
    built: exp.Case = exp.Case().when(condition, then)
    if default is not None:
        built = built.else_(default)
    return built


def and_(*conditions: exp.Expr | None) -> exp.Expr:
    present = [c for c in conditions if c is not None]
    return exp.and_(*present) if present else exp.true()
