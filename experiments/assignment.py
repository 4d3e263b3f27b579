"""Deterministic assignment, bit-for-bit compatible with the open-source GrowthBook SDKs.

A unit's bucket is ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000`` (GrowthBook's
hash version 2); variants own consecutive ranges of ``coverage × weight`` starting at each
variant's cumulative weight, so raising coverage later never moves an assigned unit. Targeting
conditions use GrowthBook's own condition evaluator, so they behave the same on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from growthbook.core import evalCondition

HASH_VERSION = 2
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a32(text: str) -> int:
    """Return FNV-1a (32 bit) over the UTF-16 code units of ``text``, as JavaScript sees it."""
    value = FNV_OFFSET
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        value = ((value ^ (data[i] | (data[i + 1] << 8))) * FNV_PRIME) & 0xFFFFFFFF
    return value


def bucket(seed: str, unit_id: str) -> float:
    """Return the unit's position in [0, 1) for this seed (GrowthBook hash version 2)."""
    return (fnv1a32(str(fnv1a32(seed + unit_id))) % 10000) / 10000


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


def assign(spec: AssignmentSpec, *, unit_id: str, attributes: Mapping[str, Any]) -> Assignment:
    """Return the variant for ``unit_id``, or why the unit is not in the experiment."""
    if not unit_id:
        return Assignment(None, False, "missing_unit_id")
    if spec.condition and not evalCondition(dict(attributes), dict(spec.condition)):
        return Assignment(None, False, "targeting")
    position = bucket(spec.seed, unit_id)
    for variant, (start, end) in zip(
        spec.variant_keys, bucket_ranges(spec.weights, spec.coverage), strict=True
    ):
        if start <= position < end:
            return Assignment(variant, True, "assigned")
    return Assignment(None, False, "coverage")


def condition_is_valid(condition: Any) -> bool:
    """Return whether ``condition`` is a well-formed GrowthBook condition object."""
    if not isinstance(condition, dict):
        return False
    try:
        evalCondition({}, condition)
    except Exception:  # noqa: BLE001 - any failure means the condition is malformed
        return False
    return True
