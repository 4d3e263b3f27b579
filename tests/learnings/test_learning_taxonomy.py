"""The product-area taxonomy: hierarchy, rename, move and merge without losing tags."""

from __future__ import annotations

import pytest

from learnings.models import Learning, ProductArea
from learnings.search.faceted import SearchFilters, learnings_search
from learnings.services.areas import (
    AREA_NOT_EMPTY,
    MERGE_INTO_ITSELF,
    MOVE_UNDER_ITSELF,
    PATH_TAKEN,
    product_area_create,
    product_area_delete,
    product_area_get_or_create_path,
    product_area_merge,
    product_area_update,
)
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import AuditLog
from tests.learnings.test_learning_support import manual_learning

pytestmark = pytest.mark.django_db


def _area(workspace, path: str) -> ProductArea:
    return product_area_get_or_create_path(workspace=workspace, path=path, actor=None)


def _paths(workspace) -> list[str]:
    return list(ProductArea.objects.filter(workspace=workspace).values_list("path", flat=True))


def _area_of(title: str) -> str:
    return Learning.objects.select_related("product_area").get(title=title).product_area.path


def test_paths_with_any_separator_name_the_same_area(workspace):
    sharing = _area(workspace, "Editor › Sharing")

    assert _area(workspace, "Editor > Sharing") == sharing
    assert _area(workspace, " editor/Sharing ") != sharing  # names are case-sensitive
    assert sharing.parent.path == "Editor"
    assert sharing.id_path == f"/{sharing.parent_id}/{sharing.pk}/"


def test_rename_updates_sub_area_paths_and_search_text_and_keeps_tags(workspace):
    manual_learning(workspace, "Share dialog", area="Editor › Sharing")
    editor = ProductArea.objects.get(path="Editor")

    product_area_update(area=editor, name="Canvas", actor=None)

    assert _paths(workspace) == ["Canvas", "Canvas › Sharing"]
    assert _area_of("Share dialog") == "Canvas › Sharing"
    hits = learnings_search(workspace=workspace, query="canvas").hits
    assert [h.learning.title for h in hits] == ["Share dialog"]
    assert AuditLog.objects.filter(action="product_area.update").get().changes == {
        "path": ["Editor", "Canvas"]
    }


def test_move_reparents_the_subtree(workspace):
    manual_learning(workspace, "Comment threads", area="Editor › Comments › Threads")
    collaboration = _area(workspace, "Collaboration")
    comments = ProductArea.objects.get(path="Editor › Comments")

    product_area_update(area=comments, parent=collaboration, move=True, actor=None)

    assert _area_of("Comment threads") == "Collaboration › Comments › Threads"
    facets = learnings_search(workspace=workspace).facets["product_area"]
    assert [(f.label, f.count) for f in facets] == [
        ("Collaboration", 1),
        ("Collaboration › Comments", 1),
        ("Collaboration › Comments › Threads", 1),
    ]


def test_merge_moves_learnings_and_merges_sub_areas_of_the_same_name(workspace):
    manual_learning(workspace, "Editor itself", area="Editor")
    manual_learning(workspace, "Editor sharing", area="Editor › Sharing")
    manual_learning(workspace, "Canvas itself", area="Canvas")
    manual_learning(workspace, "Canvas sharing", area="Canvas › Sharing")
    manual_learning(workspace, "Canvas sharing links", area="Canvas › Sharing › Links")
    manual_learning(workspace, "Canvas export", area="Canvas › Export")
    canvas = ProductArea.objects.get(path="Canvas")
    editor = ProductArea.objects.get(path="Editor")

    product_area_merge(source=canvas, target=editor, actor=None)

    assert _paths(workspace) == [
        "Editor",
        "Editor › Export",
        "Editor › Sharing",
        "Editor › Sharing › Links",
    ]
    assert {lr.title: lr.product_area.path for lr in Learning.objects.all()} == {
        "Editor itself": "Editor",
        "Canvas itself": "Editor",
        "Editor sharing": "Editor › Sharing",
        "Canvas sharing": "Editor › Sharing",
        "Canvas sharing links": "Editor › Sharing › Links",
        "Canvas export": "Editor › Export",
    }
    counts = {
        f.label: f.count for f in learnings_search(workspace=workspace).facets["product_area"]
    }
    assert counts == {
        "Editor": 6,
        "Editor › Export": 1,
        "Editor › Sharing": 3,
        "Editor › Sharing › Links": 1,
    }
    merged = AuditLog.objects.get(action="product_area.merge")
    assert (merged.changes["merged"], merged.changes["learnings_moved"]) == ("Canvas", 4)
    # Searching by the merged area's old name no longer finds the old path text.
    editor_id = str(editor.pk)
    filtered = learnings_search(
        workspace=workspace, filters=SearchFilters(product_area=(editor_id,))
    )
    assert filtered.count == 6


def test_merging_into_a_sub_area_of_itself_is_refused(workspace):
    sharing = _area(workspace, "Editor › Sharing")

    with pytest.raises(ValidationFailed) as error:
        product_area_merge(source=sharing.parent, target=sharing, actor=None)

    assert (error.value.field, error.value.message) == ("into", MERGE_INTO_ITSELF)
    assert _paths(workspace) == ["Editor", "Editor › Sharing"]


def test_moving_under_itself_is_refused(workspace):
    sharing = _area(workspace, "Editor › Sharing")

    with pytest.raises(ValidationFailed) as error:
        product_area_update(area=sharing.parent, parent=sharing, move=True, actor=None)

    assert (error.value.field, error.value.message) == ("parent", MOVE_UNDER_ITSELF)


def test_renaming_onto_an_existing_path_asks_for_a_merge(workspace):
    _area(workspace, "Editor")
    canvas = _area(workspace, "Canvas")

    with pytest.raises(ValidationFailed) as error:
        product_area_update(area=canvas, name="Editor", actor=None)

    assert error.value.message == PATH_TAKEN.format(path="Editor")


def test_only_empty_areas_can_be_deleted(workspace):
    manual_learning(workspace, "Kept", area="Editor")
    editor = ProductArea.objects.get(path="Editor")
    empty = product_area_create(workspace=workspace, name="Billing", actor=None)

    with pytest.raises(Conflict) as error:
        product_area_delete(area=editor, actor=None)
    product_area_delete(area=empty, actor=None)

    assert error.value.message == AREA_NOT_EMPTY
    assert _paths(workspace) == ["Editor"]


def test_deleting_a_workspace_deletes_its_taxonomy(workspace):
    manual_learning(workspace, "Gone", area="Editor › Sharing › Links")

    workspace.delete()

    assert not ProductArea.objects.exists()
    assert not Learning.objects.exists()
