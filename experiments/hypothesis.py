"""The hypothesis template's parts: "We believe [change] for [whom] will [metric] because [why]".

The connecting words belong to the template, not to the parts: a part typed as "for new users"
is stored as "new users", so the sentence never reads "for for new users".
"""

from __future__ import annotations

import re

# Each part and the word the template puts before it.
CONNECTORS = {
    "change": "we believe",
    "audience": "for",
    "outcome": "will",
    "evidence": "because",
}
_SPACE = r"[\s\u00a0]+"


def hypothesis_part(text: str, part: str) -> str:
    """Return ``text`` trimmed, without the template's connecting word(s) in front of it.

    Repeated connectors ("because because …") are all removed; a part that is nothing but the
    connector becomes blank.
    """
    connector = _SPACE.join(re.escape(word) for word in CONNECTORS[part].split())
    pattern = re.compile(rf"^(?:{connector}(?:{_SPACE}|$))+", re.IGNORECASE)
    return pattern.sub("", (text or "").strip()).strip()
