"""Reading a workspace's search synonyms: its own groups, or the defaults until an editor
changes them (``learnings.services.synonyms`` writes them)."""

from __future__ import annotations

from learnings.models import SearchSynonyms
from learnings.search.terms import DEFAULT_SYNONYMS
from plg_platform.models import Workspace

Groups = tuple[tuple[str, ...], ...]


def workspace_synonyms(*, workspace: Workspace) -> Groups:
    """The synonym groups the workspace's search uses."""
    row = SearchSynonyms.objects.filter(workspace=workspace).only("groups").first()
    if row is None:
        return DEFAULT_SYNONYMS
    return tuple(tuple(group) for group in row.groups)


def synonyms_are_default(*, workspace: Workspace) -> bool:
    return not SearchSynonyms.objects.filter(workspace=workspace).exists()


def synonyms_as_text(groups: Groups) -> str:
    """One group a line, terms separated by commas: how the page edits them."""
    return "\n".join(", ".join(group) for group in groups)
