"""What a JSON value from a client may hold: bounded depth, summable numbers, storable text.

One iterative walk (never recursion, so a value nested 100,000 deep cannot raise
``RecursionError``) finds the first value that breaks a rule and names its path
(``properties.cart.0.price``). The request parser applies the API-wide bounds to every JSON
body; event ingestion applies the stricter event bounds to each event's properties and traits,
so one bad event is rejected alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The largest magnitude a stored event number may have. Integers up to it are exact in a float64
# (2**53 ≈ 9.007e15), and a sum of squares of a billion such values (1e39) is far inside both
# float64 (≈1.8e308) and PostgreSQL numeric, so every engine sums them without overflow.
MAX_EVENT_NUMBER = 10**15
# Any other API body: numbers must at least be finite float64 values.
MAX_API_NUMBER = 1.7976931348623157e308
# Event properties and Segment traits: deeper than this is refused, per event.
MAX_EVENT_DEPTH = 32
# Any other API body (experiment designs, metric filters...): no real body nests deeper.
MAX_API_DEPTH = 64

NUL_CHARACTER = "Text must not contain the NUL character (\\u0000)."
INVALID_UNICODE = "Text must be valid Unicode (a lone surrogate such as \\ud800 is not)."
NUMBER_OUT_OF_RANGE = (
    "Numbers must be finite and at most {limit:g} in absolute value; send larger values, "
    "such as identifiers, as strings."
)
TOO_DEEP = "Nested deeper than {limit} levels."
NOT_JSON = "Must hold JSON values only (objects, arrays, strings, numbers, booleans, null)."


@dataclass(frozen=True)
class JsonBounds:
    """The limits one walk checks."""

    max_depth: int
    max_number: float


EVENT_BOUNDS = JsonBounds(max_depth=MAX_EVENT_DEPTH, max_number=MAX_EVENT_NUMBER)
API_BOUNDS = JsonBounds(max_depth=MAX_API_DEPTH, max_number=MAX_API_NUMBER)


@dataclass(frozen=True)
class JsonProblem:
    """The first value breaking a rule: where it is (path parts) and why."""

    path: tuple[str | int, ...]
    message: str

    def dotted(self, prefix: str = "") -> str:
        parts = [prefix, *(str(part) for part in self.path)] if prefix else list(self.path)
        return ".".join(str(part) for part in parts) or "body"


def text_problem(text: str) -> str | None:
    """Return why ``text`` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return NUL_CHARACTER
    try:
        text.encode()
    except UnicodeEncodeError:
        return INVALID_UNICODE
    return None


def _printable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as escapes, to name it in a message."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")


def _number_problem(value: int | float, bounds: JsonBounds) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return NUMBER_OUT_OF_RANGE.format(limit=bounds.max_number)
    if abs(value) > bounds.max_number:
        return NUMBER_OUT_OF_RANGE.format(limit=bounds.max_number)
    return None


def _scalar_problem(item: Any, bounds: JsonBounds) -> str | None:
    """Why a non-container value breaks ``bounds`` (or is no JSON value at all), or None."""
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, int | float):
        return _number_problem(item, bounds)
    return NOT_JSON


def first_problem(value: Any, bounds: JsonBounds) -> JsonProblem | None:
    """Return the first value in ``value`` that breaks ``bounds``, or None when all is well.

    Depth counts containers: ``{"a": 1}`` is depth 1, ``{"a": [1]}`` depth 2.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if not isinstance(item, Mapping | list | tuple):
            if (message := _scalar_problem(item, bounds)) is not None:
                return JsonProblem(path, message)
            continue
        if len(path) >= bounds.max_depth:
            return JsonProblem(path, TOO_DEEP.format(limit=bounds.max_depth))
        if not isinstance(item, Mapping):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
            continue
        for key, child in item.items():
            if not isinstance(key, str):
                return JsonProblem(path, NOT_JSON)
            if message := text_problem(key):
                return JsonProblem((*path, _printable(key)), message)
            stack.append((child, (*path, key)))
    return None
