"""GrowthBook's deterministic hash (version 2): the one place assignment and the demo hash units.

A unit's bucket is ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000``, computed over
UTF-16 code units as the JavaScript SDK sees strings, so every GrowthBook SDK picks what we pick.
"""

from __future__ import annotations

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
