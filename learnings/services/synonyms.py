"""Editing a workspace's search synonyms (editors only, checked by the caller's role).

The page edits them as text, one group a line ("annual, yearly"); ``synonyms_parse`` turns
that into groups or fails naming the line. Every change writes an audit record.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from learnings.models import SearchSynonyms
from learnings.search.terms import normalise_term
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

MAX_GROUPS = 200
MAX_TERMS_PER_GROUP = 20
MAX_TERM_CHARS = 50
TOO_MANY_GROUPS = f"At most {MAX_GROUPS} synonym groups."
GROUP_TOO_SMALL = "Line {line}: a group needs at least two different words, separated by commas."
GROUP_TOO_LARGE = f"Line {{line}}: at most {MAX_TERMS_PER_GROUP} words in a group."
BAD_TERM = (
    f"Line {{line}}: {{term!r}} is not a word or phrase of at most {MAX_TERM_CHARS} characters."
)
_WORDLIKE = re.compile(r"\w")
_FORBIDDEN = re.compile(r'["()*:^]')  # query syntax, not words


def synonyms_parse(text: str) -> list[list[str]]:
    """Parse one group a line, terms separated by commas; blank lines are skipped."""
    groups: list[list[str]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        terms: list[str] = []
        for raw in line.split(","):
            term = normalise_term(raw)
            if not term:
                continue
            if len(term) > MAX_TERM_CHARS or not _WORDLIKE.search(term) or _FORBIDDEN.search(term):
                raise ValidationFailed(BAD_TERM.format(line=number, term=term), field="synonyms")
            if term not in terms:
                terms.append(term)
        if len(terms) < 2:
            raise ValidationFailed(GROUP_TOO_SMALL.format(line=number), field="synonyms")
        if len(terms) > MAX_TERMS_PER_GROUP:
            raise ValidationFailed(GROUP_TOO_LARGE.format(line=number), field="synonyms")
        groups.append(terms)
    if len(groups) > MAX_GROUPS:
        raise ValidationFailed(TOO_MANY_GROUPS, field="synonyms")
    return groups


@transaction.atomic
def search_synonyms_update(
    *, workspace: Workspace, text: str, actor: AbstractBaseUser | None
) -> SearchSynonyms:
    """Replace the workspace's synonym groups with those ``text`` lists."""
    groups = synonyms_parse(text)
    row, _ = SearchSynonyms.objects.select_for_update().get_or_create(workspace=workspace)
    previous = row.groups
    row.groups = groups
    row.updated_by = actor if actor is not None and actor.is_authenticated else None
    row.full_clean()
    row.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="learnings.synonyms_update",
        obj=row,
        changes={"before": previous, "after": groups},
    )
    return row


@transaction.atomic
def search_synonyms_reset(*, workspace: Workspace, actor: AbstractBaseUser | None) -> None:
    """Go back to the default synonym groups."""
    row = SearchSynonyms.objects.select_for_update().filter(workspace=workspace).first()
    if row is None:
        return
    audit_record(
        workspace=workspace,
        actor=actor,
        action="learnings.synonyms_reset",
        obj=row,
        changes={"before": row.groups},
    )
    row.delete()
