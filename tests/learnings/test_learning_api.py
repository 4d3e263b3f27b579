"""The learnings API: permissions, workspace isolation, 400s naming the field, exports."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from learnings.export import CSV_COLUMNS
from learnings.models import EffectOverride, Learning, ProductArea
from learnings.services import learning_record_from_experiment
from learnings.services.areas import product_area_get_or_create_path
from tests.learnings.test_learning_support import MetricResult, concluded_experiment

pytestmark = pytest.mark.django_db

AHA = MetricResult("aha", "primary", (1000, 100), (1000, 140), tags=("acquisition",))
D7 = MetricResult("d7", "secondary", (1000, 300), (1000, 305), tags=("retention",))
BODY = {
    "title": "Admins want SSO before inviting",
    "source": "interview",
    "learned": "8 of 12 admins said the team rollout waits for SSO.",
    "funnel_stage": "referral",
    "team": "Enterprise",
    "learned_on": "2026-08-02",
    "tags": ["sso"],
    "key_results": [{"id": "17", "title": "Raise team invites by 20%"}],
    "attachments": [{"url": "https://docs.example.com/notes", "title": "Interview notes"}],
}


def _create(actor, **overrides):
    return actor.client.post("/api/v1/learnings/", {**BODY, **overrides}, format="json")


def test_editor_creates_and_viewer_reads_and_searches(editor, viewer):
    created = _create(editor)

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["title"], body["source"], body["quarter"]) == (
        BODY["title"],
        "interview",
        "2026-Q3",
    )
    assert body["key_results"] == [{"id": "17", "title": "Raise team invites by 20%"}]
    assert body["effects"]["acquisition"] == {
        "value": "",
        "derived": "",
        "overridden": False,
        "override_reason": "",
        "comparisons": [],
    }
    assert viewer.client.get(f"/api/v1/learnings/{body['id']}/").json()["title"] == BODY["title"]
    search = viewer.client.get("/api/v1/learnings/", {"q": "admin", "funnel_stage": "referral"})
    assert search.status_code == 200
    page = search.json()
    assert page["count"] == 1
    assert page["results"][0]["title_html"] == "<mark>Admins</mark> want SSO before inviting"
    assert page["facets"]["team"] == [
        {
            "value": "Enterprise",
            "label": "Enterprise",
            "count": 1,
            "selected": False,
            "depth": 0,
            "parent": None,
        }
    ]


def test_viewer_cannot_write(viewer, editor):
    learning_id = _create(editor).json()["id"]

    assert _create(viewer).status_code == 403
    assert (
        viewer.client.patch(
            f"/api/v1/learnings/{learning_id}/", {"title": "x"}, format="json"
        ).status_code
        == 403
    )
    assert viewer.client.delete(f"/api/v1/learnings/{learning_id}/").status_code == 403
    assert (
        viewer.client.post("/api/v1/product-areas/", {"name": "Editor"}, format="json").status_code
        == 403
    )
    assert Learning.objects.get().title == BODY["title"]


def test_another_workspaces_objects_are_not_found(editor, outsider):
    learning_id = _create(editor).json()["id"]
    area_id = editor.client.post(
        "/api/v1/product-areas/", {"name": "Editor"}, format="json"
    ).json()["id"]

    assert outsider.client.get(f"/api/v1/learnings/{learning_id}/").status_code == 404
    assert outsider.client.delete(f"/api/v1/learnings/{learning_id}/").status_code == 404
    assert (
        outsider.client.patch(
            f"/api/v1/product-areas/{area_id}/", {"name": "Mine"}, format="json"
        ).status_code
        == 404
    )
    assert outsider.client.get("/api/v1/learnings/", {"q": "admins"}).json()["count"] == 0
    assert outsider.client.get("/api/v1/product-areas/").json() == []
    # Referring to another workspace's area in a body is a 400 naming the field.
    response = _create(outsider, product_area=area_id)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["product_area"]
    assert Learning.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"attachments": [{"url": "not a url"}]}, "attachments.0.url"),
        ({"source": "experiment"}, "source"),
        ({"funnel_stage": "awareness"}, "funnel_stage"),
        ({"effects": [{"dimension": "retention", "value": "positive"}]}, "effect_reason"),
        ({"colour": "blue"}, "colour"),
        ({"key_results": [{"id": "1"}]}, "key_results.0.title"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(editor, overrides, field):
    response = _create(editor, **overrides)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Learning.objects.exists()


def test_bad_search_parameters_name_the_field(viewer):
    response = viewer.client.get("/api/v1/learnings/", {"outcome": "victory"})
    area = viewer.client.get("/api/v1/learnings/", {"product_area": "Editor"})
    sort = viewer.client.get("/api/v1/learnings/", {"sort": "random"})

    assert (response.status_code, list(response.json()["errors"])) == (400, ["outcome"])
    assert (area.status_code, list(area.json()["errors"])) == (400, ["product_area"])
    assert (sort.status_code, list(sort.json()["errors"])) == (400, ["sort"])


def test_experiment_learning_from_api_and_override_with_reason(
    workspace, editor, viewer, make_metric
):
    concluded_experiment(
        workspace, make_metric, results=[AHA, D7], key="checklist", product_area="Editor"
    )

    created = editor.client.post(
        "/api/v1/learnings/from-experiment", {"experiment": "checklist"}, format="json"
    )
    again = editor.client.post(
        "/api/v1/learnings/from-experiment", {"experiment": "checklist"}, format="json"
    )
    learning_id = created.json()["id"]
    no_reason = editor.client.post(
        f"/api/v1/learnings/{learning_id}/effects",
        {"dimension": "retention", "value": "positive", "reason": ""},
        format="json",
    )
    overridden = editor.client.post(
        f"/api/v1/learnings/{learning_id}/effects",
        {"dimension": "retention", "value": "positive", "reason": "60-day cohorts improved."},
        format="json",
    )
    history = viewer.client.get(f"/api/v1/learnings/{learning_id}/effects").json()
    owned = editor.client.patch(
        f"/api/v1/learnings/{learning_id}/", {"decision": "rollback"}, format="json"
    )

    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json()["effects"]["acquisition"]["value"] == "positive"
    assert created.json()["primary_result"]["effect"] == pytest.approx(0.4)
    assert (no_reason.status_code, list(no_reason.json()["errors"])) == (400, ["reason"])
    retention = overridden.json()["effects"]["retention"]
    assert (retention["value"], retention["derived"], retention["overridden"]) == (
        "positive",
        "inconclusive",
        True,
    )
    assert retention["override_reason"] == "60-day cohorts improved."
    assert [(h["previous"], h["value"], h["reason"]) for h in history] == [
        ("inconclusive", "positive", "60-day cohorts improved.")
    ]
    assert EffectOverride.objects.count() == 1
    assert (owned.status_code, list(owned.json()["errors"])) == (400, ["decision"])


def test_draft_experiment_cannot_leave_a_learning(workspace, editor, make_metric):
    make_metric(workspace, "x-aha")
    editor.client.post(
        "/api/v1/experiments/",
        {
            "key": "draft",
            "name": "Draft",
            "hypothesis": "x",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "coverage": 1,
            "primary_metric": "x-aha",
        },
        format="json",
    )

    response = editor.client.post(
        "/api/v1/learnings/from-experiment", {"experiment": "draft"}, format="json"
    )
    missing = editor.client.post(
        "/api/v1/learnings/from-experiment", {"experiment": "nope"}, format="json"
    )

    assert response.status_code == 409
    assert missing.status_code == 404
    assert not Learning.objects.exists()


def test_taxonomy_endpoints_rename_and_merge(editor, viewer):
    editor_area = editor.client.post("/api/v1/product-areas/", {"name": "Editor"}, format="json")
    sharing = editor.client.post(
        "/api/v1/product-areas/",
        {"name": "Sharing", "parent": editor_area.json()["id"]},
        format="json",
    )
    canvas = editor.client.post("/api/v1/product-areas/", {"name": "Canvas"}, format="json")
    _create(editor, product_area=canvas.json()["id"])

    renamed = editor.client.patch(
        f"/api/v1/product-areas/{editor_area.json()['id']}/", {"name": "Docs"}, format="json"
    )
    merged = editor.client.post(
        f"/api/v1/product-areas/{canvas.json()['id']}/merge",
        {"into": sharing.json()["id"]},
        format="json",
    )
    bad_merge = editor.client.post(
        f"/api/v1/product-areas/{editor_area.json()['id']}/merge",
        {"into": sharing.json()["id"]},
        format="json",
    )

    assert renamed.json()["path"] == "Docs"
    assert merged.json() == {
        "id": sharing.json()["id"],
        "name": "Sharing",
        "path": "Docs › Sharing",
        "parent": editor_area.json()["id"],
        "depth": 1,
    }
    assert (bad_merge.status_code, list(bad_merge.json()["errors"])) == (400, ["into"])
    assert [a["path"] for a in viewer.client.get("/api/v1/product-areas/").json()] == [
        "Docs",
        "Docs › Sharing",
    ]
    assert Learning.objects.get().product_area.path == "Docs › Sharing"


@pytest.fixture
def exported(workspace, make_metric):
    experiment = concluded_experiment(
        workspace,
        make_metric,
        results=[AHA, D7],
        key="checklist",
        name="Onboarding checklist",
        product_area="Editor › Onboarding",
        funnel_stage="activation",
        team="Growth",
    )
    learning_record_from_experiment(experiment=experiment, actor=None)
    area = product_area_get_or_create_path(workspace=workspace, path="Billing", actor=None)
    Learning.objects.create(
        workspace=workspace,
        source="support",
        title='=HYPERLINK("https://evil.example")',
        learned="Formula injection attempt.",
        product_area=area,
        learned_on=date(2026, 1, 2),
        quarter="2026-Q1",
    )


def test_csv_export_has_every_column_and_neutralises_formulas(viewer, exported):
    response = viewer.client.get("/api/v1/learnings/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="learnings-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    checklist = next(r for r in rows if r["title"] == "Onboarding checklist")
    assert checklist["product_area"] == "Editor › Onboarding"
    assert (checklist["outcome"], checklist["acquisition_effect"]) == ("win", "positive")
    assert float(checklist["impact"]) == pytest.approx(0.4)
    assert checklist["primary_metric"] == "checklist-aha"
    assert checklist["experiment"] == "checklist"
    formula = next(r for r in rows if r["source"] == "support")
    assert formula["title"] == '\'=HYPERLINK("https://evil.example")'
    filtered = viewer.client.get("/api/v1/learnings/export.csv", {"source": "support"})
    assert len(list(csv.DictReader(io.StringIO(filtered.content.decode())))) == 1


def test_markdown_export_reads_as_a_document(viewer, exported):
    response = viewer.client.get("/api/v1/learnings/export.md", {"q": "checklist"})
    text = response.content.decode()

    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert text.startswith("# Learnings: Workspace ")
    assert "## Onboarding checklist" in text
    assert "- **Product area:** Editor › Onboarding" in text
    assert "- **Effect on acquisition:** Positive" in text
    assert "**Ship a variant (`treatment`).** It won." in text
    assert "| aha | primary | treatment | +40.0% | [+6.2%, +73.8%] | 0.0203 | win |" in text
    assert "HYPERLINK" not in text  # the query selected one learning


def test_similar_and_meta_analysis_endpoints(viewer, exported):
    similar = viewer.client.get(
        "/api/v1/learnings/similar", {"hypothesis": "a to-do list when onboarding new users"}
    )
    excluded = viewer.client.get(
        "/api/v1/learnings/similar",
        {"hypothesis": "onboarding checklist", "exclude_experiment": "checklist"},
    )
    meta = viewer.client.get("/api/v1/learnings/meta-analysis", {"group_by": "funnel_stage"})

    assert [s["title"] for s in similar.json()] == ["Onboarding checklist"]
    assert excluded.json() == []
    body = meta.json()
    assert body["shrinkage"]["method"] == "none"
    assert body["notes"] == [
        "Raw estimates only: Only 1 experiment(s) with an estimate and standard error; "
        "shrinkage needs 3."
    ]
    assert [(g["label"], g["experiments"], g["wins"]) for g in body["groups"]] == [
        ("Activation", 1, 1)
    ]
    assert body["total"]["cumulative_impact"] == pytest.approx(0.4)
    assert ProductArea.objects.count() == 3
