"""Deterministic assignment, bit-for-bit compatible with the open-source GrowthBook SDKs.

A unit's bucket is ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000`` (GrowthBook's
hash version 2); variants own consecutive ranges of ``coverage × weight`` starting at each
variant's cumulative weight, so raising coverage later never moves an assigned unit. Targeting
conditions use GrowthBook's own condition evaluator, so they behave the same on both sides, and
are checked for structure before an experiment is saved (``condition_problem``).

A workspace's global holdout (``HoldoutSpec``) is served as GrowthBook serves holdouts: a
``$holdout:<key>`` feature whose experiment rule splits units into ``holdout`` (the buckets
below the share, hashed with the holdout's own seed) and ``general``; every experiment's rule
names it as a gating prerequisite, so a held-out unit gets no variant, on either side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from growthbook.core import evalCondition

from plg_platform.hashing import bucket

HASH_VERSION = 2


def bucket_ranges(weights: Sequence[float], coverage: float) -> list[tuple[float, float]]:
    """Return each variant's [start, end) range, accumulating weights in the same float order
    as the SDKs so that edges agree exactly."""
    coverage = min(max(coverage, 0.0), 1.0)
    ranges, cumulative = [], 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


@dataclass(frozen=True)
class AssignmentSpec:
    """What assignment needs to know of an experiment (also what the SDK payload carries)."""

    key: str
    seed: str
    variant_keys: tuple[str, ...]
    weights: tuple[float, ...]
    coverage: float
    condition: Mapping[str, Any] = field(default_factory=dict)
    hash_attribute: str = "id"


@dataclass(frozen=True)
class Assignment:
    variant: str | None
    in_experiment: bool
    reason: str


HOLDOUT_ARM = "holdout"
GENERAL_ARM = "general"
HOLDOUT_FEATURE_PREFIX = "$holdout:"


@dataclass(frozen=True)
class HoldoutSpec:
    """What assignment needs of a workspace's active holdout (also what the payload carries)."""

    key: str
    seed: str
    share: float
    hash_attribute: str = "id"

    @property
    def feature_key(self) -> str:
        return f"{HOLDOUT_FEATURE_PREFIX}{self.key}"

    @property
    def ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The holdout's buckets [0, share) and everyone else's [share, 1), as the payload's
        rule states them, so both sides compare a bucket with the same two floats."""
        return ((0.0, self.share), (self.share, 1.0))


def holdout_arm(spec: HoldoutSpec, *, attributes: Mapping[str, Any]) -> str | None:
    """Return the unit's arm, or None when it has no value to hash on (the SDK then falls back
    to the feature's default, ``general``, and the unit is not held out)."""
    value = attributes.get(spec.hash_attribute)
    if value is None or value == "":
        return None
    position = bucket(spec.seed, str(value))
    for arm, (start, end) in zip((HOLDOUT_ARM, GENERAL_ARM), spec.ranges, strict=True):
        if start <= position < end:
            return arm
    return None


def assign(
    spec: AssignmentSpec,
    *,
    unit_id: str,
    attributes: Mapping[str, Any],
    holdout: HoldoutSpec | None = None,
) -> Assignment:
    """Return the variant for ``unit_id``, or why the unit is not in the experiment.

    The holdout gate comes first, as in the SDKs (a rule's prerequisites before its condition).
    """
    if not unit_id:
        return Assignment(None, False, "missing_unit_id")
    if holdout is not None and holdout_arm(holdout, attributes=attributes) == HOLDOUT_ARM:
        return Assignment(None, False, "holdout")
    if spec.condition and not evalCondition(dict(attributes), dict(spec.condition)):
        return Assignment(None, False, "targeting")
    position = bucket(spec.seed, unit_id)
    for variant, (start, end) in zip(
        spec.variant_keys, bucket_ranges(spec.weights, spec.coverage), strict=True
    ):
        if start <= position < end:
            return Assignment(variant, True, "assigned")
    return Assignment(None, False, "coverage")


# --- Validating targeting conditions -----------------------------------------------------------
# The SDKs never raise on a malformed condition: an unknown operator or a wrongly typed argument
# simply never matches, so a typo would silently target no one. We check the structure before
# an experiment is saved instead, with the operators GrowthBook documents for conditions.

MAX_CONDITION_DEPTH = 20
LOGICAL_OPERATORS = frozenset({"$or", "$nor", "$and"})
JSON_TYPES = frozenset({"string", "number", "boolean", "array", "object", "null", "undefined"})
# Our payload serves no saved groups, so a condition using one would never match.
SAVED_GROUP_OPERATORS = frozenset({"$inGroup", "$notInGroup", "$savedGroup", "$savedGroups"})


class MalformedCondition(ValueError):
    """A targeting condition the SDKs could not evaluate as meant."""


def _is_operator_object(value: Any) -> bool:
    return isinstance(value, dict) and all(str(key).startswith("$") for key in value)


def _where(path: str) -> str:
    return f"at {path!r}" if path else "at the top level"


def _saved_groups_unsupported(operator: str, path: str) -> MalformedCondition:
    return MalformedCondition(f"saved groups ({operator}) are not supported {_where(path)}")


def _needs(operator: str, what: str, path: str) -> MalformedCondition:
    return MalformedCondition(f"{operator} needs {what} {_where(path)}")


def _check_scalar(operator: str, argument: Any, path: str, depth: int) -> None:
    if isinstance(argument, dict | list):
        raise _needs(operator, "one value, not a list or object", path)


def _check_orderable(operator: str, argument: Any, path: str, depth: int) -> None:
    if isinstance(argument, bool) or not isinstance(argument, int | float | str):
        raise _needs(operator, "a number or a string", path)


def _check_regex(operator: str, argument: Any, path: str, depth: int) -> None:
    if not isinstance(argument, str):
        raise _needs(operator, "a regular expression as a string", path)
    try:
        re.compile(argument)
    except re.error as exc:
        raise _needs(operator, f"a pattern that compiles ({exc})", path) from exc


def _check_list(operator: str, argument: Any, path: str, depth: int) -> None:
    if not isinstance(argument, list):
        raise _needs(operator, "a list", path)


def _check_bool(operator: str, argument: Any, path: str, depth: int) -> None:
    if not isinstance(argument, bool):
        raise _needs(operator, "true or false", path)


def _check_type_name(operator: str, argument: Any, path: str, depth: int) -> None:
    if argument not in JSON_TYPES:
        raise _needs(operator, f"one of {', '.join(sorted(JSON_TYPES))}", path)


def _check_nested_value(operator: str, argument: Any, path: str, depth: int) -> None:
    _check_value(argument, path=path, depth=depth + 1)


def _check_elem_match(operator: str, argument: Any, path: str, depth: int) -> None:
    # As the SDKs read it: operators test each element; anything else is a condition on the
    # fields of each element.
    if _is_operator_object(argument) and not LOGICAL_OPERATORS.intersection(argument):
        _check_value(argument, path=path, depth=depth + 1)
    else:
        _check_condition(argument, path=path, depth=depth + 1)


_OPERATOR_CHECKS = {
    "$eq": _check_scalar,
    "$ne": _check_scalar,
    **dict.fromkeys(("$lt", "$lte", "$gt", "$gte"), _check_orderable),
    **dict.fromkeys(("$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"), _check_orderable),
    **dict.fromkeys(("$regex", "$regexi", "$notRegex", "$notRegexi"), _check_regex),
    **dict.fromkeys(("$in", "$nin", "$ini", "$nini", "$all", "$alli"), _check_list),
    "$exists": _check_bool,
    "$type": _check_type_name,
    "$size": _check_nested_value,
    "$not": _check_nested_value,
    "$elemMatch": _check_elem_match,
}


def _check_value(value: Any, *, path: str, depth: int) -> None:
    """Check what an attribute is compared with: a literal, or an object of operators."""
    if depth > MAX_CONDITION_DEPTH:
        raise MalformedCondition(f"nested more than {MAX_CONDITION_DEPTH} levels deep")
    if not _is_operator_object(value):
        return  # a literal, compared for (deep) equality
    for operator, argument in value.items():
        if operator in SAVED_GROUP_OPERATORS:
            raise _saved_groups_unsupported(operator, path)
        check = _OPERATOR_CHECKS.get(operator)
        if check is None:
            raise MalformedCondition(f"unknown operator {operator!r} {_where(path)}")
        check(operator, argument, path, depth)


def _check_condition(condition: Any, *, path: str, depth: int) -> None:
    """Check a condition: attribute paths mapped to values, combined by logical operators."""
    if depth > MAX_CONDITION_DEPTH:
        raise MalformedCondition(f"nested more than {MAX_CONDITION_DEPTH} levels deep")
    if not isinstance(condition, dict):
        raise MalformedCondition(f"expected an object {_where(path)}")
    for key, value in condition.items():
        here = f"{path}.{key}" if path else key
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list):
                raise MalformedCondition(f"{key} needs a list of conditions {_where(path)}")
            for index, item in enumerate(value):
                _check_condition(item, path=f"{here}.{index}", depth=depth + 1)
        elif key == "$not":
            _check_condition(value, path=here, depth=depth + 1)
        elif key in SAVED_GROUP_OPERATORS:
            raise _saved_groups_unsupported(key, path)
        elif key.startswith("$"):
            # Not an attribute: our unit properties never start with "$"; a typo'd operator.
            raise MalformedCondition(f"unknown operator {key!r} {_where(path)}")
        else:
            _check_value(value, path=here, depth=depth + 1)


def condition_problem(condition: Any) -> str | None:
    """Return what is wrong with a GrowthBook condition, or None when it is well formed."""
    try:
        _check_condition(condition, path="", depth=0)
    except MalformedCondition as exc:
        return str(exc)
    return None
