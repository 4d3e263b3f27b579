"""The workspace's product-area taxonomy: create, rename, move, merge and delete areas.

Learnings point at an area by id, so a rename or move changes only the areas' cached paths
(and the learnings' search text); a merge moves the learnings and the sub-areas over, merging
sub-areas of the same name, so no learning loses its tag.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from learnings.models import AREA_SEPARATOR, Learning, ProductArea
from learnings.services.search_text import learnings_search_text_refresh
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

NAME_REQUIRED = "An area needs a name."
NAME_TOO_LONG = "An area name has at most 100 characters."
NAME_HAS_SEPARATOR = "An area name cannot contain '›' or '>': use a sub-area instead."
PATH_TAKEN = "An area {path!r} already exists: merge into it instead."
PARENT_OTHER_WORKSPACE = "No such parent area in this workspace."
MOVE_UNDER_ITSELF = "An area cannot be moved under itself or one of its sub-areas."
MERGE_INTO_ITSELF = "An area cannot be merged into itself or one of its sub-areas."
AREA_NOT_EMPTY = "This area still has learnings or sub-areas: merge it into another area."

# "Editor › Sharing", "Editor > Sharing" and "Editor/Sharing" all name the same path.
_PATH_SPLIT = re.compile(r"\s*(?:›|>|/)\s*")


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed(NAME_REQUIRED, field="name")
    if len(name) > 100:
        raise ValidationFailed(NAME_TOO_LONG, field="name")
    if "›" in name or ">" in name:
        raise ValidationFailed(NAME_HAS_SEPARATOR, field="name")
    return name


def _path_for(name: str, parent: ProductArea | None) -> str:
    return f"{parent.path}{AREA_SEPARATOR}{name}" if parent else name


def _ensure_free(workspace: Workspace, path: str, *, exclude: ProductArea | None = None) -> None:
    taken = ProductArea.objects.filter(workspace=workspace, path=path)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationFailed(PATH_TAKEN.format(path=path), field="name")


def _refresh_subtree_paths(area: ProductArea, old_path: str, old_id_path: str) -> None:
    """Rewrite the cached paths of ``area``'s descendants after its own path changed."""
    descendants = list(
        ProductArea.objects.filter(
            workspace_id=area.workspace_id, id_path__startswith=old_id_path
        ).exclude(pk=area.pk)
    )
    for child in descendants:
        child.path = area.path + child.path[len(old_path) :]
        child.id_path = area.id_path + child.id_path[len(old_id_path) :]
    ProductArea.objects.bulk_update(descendants, ["path", "id_path", "updated_at"])


def _refresh_learnings_under(area: ProductArea) -> None:
    learnings_search_text_refresh(
        Learning.objects.filter(
            workspace_id=area.workspace_id, product_area__id_path__startswith=area.id_path
        )
    )


@transaction.atomic
def product_area_create(
    *,
    workspace: Workspace,
    name: str,
    parent: ProductArea | None = None,
    actor: AbstractBaseUser | None,
) -> ProductArea:
    name = _clean_name(name)
    if parent is not None and parent.workspace_id != workspace.pk:
        raise ValidationFailed(PARENT_OTHER_WORKSPACE, field="parent")
    path = _path_for(name, parent)
    _ensure_free(workspace, path)
    area = ProductArea(workspace=workspace, name=name, parent=parent, path=path, id_path="")
    area.save()
    area.id_path = f"{parent.id_path if parent else '/'}{area.pk}/"
    area.save(update_fields=["id_path"])
    audit_record(
        workspace=workspace,
        actor=actor,
        action="product_area.create",
        obj=area,
        changes={"path": path},
    )
    return area


@transaction.atomic
def product_area_get_or_create_path(
    *, workspace: Workspace, path: str, actor: AbstractBaseUser | None
) -> ProductArea | None:
    """Return the area at ``path`` ("Editor › Sharing"), creating the missing levels."""
    names = [" ".join(part.split()) for part in _PATH_SPLIT.split(path.strip())]
    names = [name for name in names if name]
    area: ProductArea | None = None
    for name in names:
        existing = ProductArea.objects.filter(
            workspace=workspace, path=_path_for(name, area)
        ).first()
        area = existing or product_area_create(
            workspace=workspace, name=name, parent=area, actor=actor
        )
    return area


@transaction.atomic
def product_area_update(
    *,
    area: ProductArea,
    actor: AbstractBaseUser | None,
    name: str | None = None,
    parent: ProductArea | None = None,
    move: bool = False,
) -> ProductArea:
    """Rename the area and/or move it under ``parent`` (``move=True``; ``None`` is the root)."""
    area = ProductArea.objects.select_for_update().get(pk=area.pk)
    old_path, old_id_path = area.path, area.id_path
    new_name = _clean_name(name) if name is not None else area.name
    new_parent = parent if move else area.parent
    if new_parent is not None:
        if new_parent.workspace_id != area.workspace_id:
            raise ValidationFailed(PARENT_OTHER_WORKSPACE, field="parent")
        if new_parent.id_path.startswith(area.id_path):
            raise ValidationFailed(MOVE_UNDER_ITSELF, field="parent")
    new_path = _path_for(new_name, new_parent)
    _ensure_free(area.workspace, new_path, exclude=area)
    area.name, area.parent, area.path = new_name, new_parent, new_path
    area.id_path = f"{new_parent.id_path if new_parent else '/'}{area.pk}/"
    area.save(update_fields=["name", "parent", "path", "id_path", "updated_at"])
    if (area.path, area.id_path) != (old_path, old_id_path):
        _refresh_subtree_paths(area, old_path, old_id_path)
        _refresh_learnings_under(area)
    audit_record(
        workspace=area.workspace,
        actor=actor,
        action="product_area.update",
        obj=area,
        changes={"path": [old_path, area.path]},
    )
    return area


def _merge(source: ProductArea, target: ProductArea) -> None:
    """Move ``source``'s learnings and sub-areas into ``target``, merging same-name sub-areas."""
    Learning.objects.filter(product_area=source).update(product_area=target)
    for child in list(source.children.all()):
        twin = target.children.filter(name=child.name).first()
        if twin is not None:
            _merge(child, twin)
        else:
            old_path, old_id_path = child.path, child.id_path
            child.parent = target
            child.path = _path_for(child.name, target)
            child.id_path = f"{target.id_path}{child.pk}/"
            child.save(update_fields=["parent", "path", "id_path", "updated_at"])
            _refresh_subtree_paths(child, old_path, old_id_path)
    source.delete()


@transaction.atomic
def product_area_merge(
    *, source: ProductArea, target: ProductArea, actor: AbstractBaseUser | None
) -> ProductArea:
    """Merge ``source`` (and its sub-areas) into ``target``; ``source`` ceases to exist."""
    if target.workspace_id != source.workspace_id:
        raise ValidationFailed(PARENT_OTHER_WORKSPACE, field="into")
    if target.id_path.startswith(source.id_path):
        raise ValidationFailed(MERGE_INTO_ITSELF, field="into")
    locked = list(
        ProductArea.objects.select_for_update().filter(
            workspace_id=source.workspace_id, pk__in=[source.pk, target.pk]
        )
    )
    source_path, source_id = source.path, source.pk
    moved = Learning.objects.filter(
        workspace_id=source.workspace_id, product_area__id_path__startswith=source.id_path
    ).count()
    _merge(next(a for a in locked if a.pk == source.pk), target)
    target.refresh_from_db()
    _refresh_learnings_under(target)
    audit_record(
        workspace=target.workspace,
        actor=actor,
        action="product_area.merge",
        obj=target,
        changes={"merged": source_path, "merged_id": source_id, "learnings_moved": moved},
    )
    return target


@transaction.atomic
def product_area_delete(*, area: ProductArea, actor: AbstractBaseUser | None) -> None:
    """Delete an empty area; one with learnings or sub-areas must be merged instead."""
    if area.children.exists() or Learning.objects.filter(product_area=area).exists():
        raise Conflict(AREA_NOT_EMPTY, field="id")
    audit_record(
        workspace=area.workspace,
        actor=actor,
        action="product_area.delete",
        obj=area,
        changes={"path": area.path},
    )
    area.delete()
