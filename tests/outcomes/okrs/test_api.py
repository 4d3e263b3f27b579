"""The OKR API: objectives, key results, baselines, check-ins, initiatives; bad input is a 4xx
naming the field with nothing written; viewers read, editors write; workspaces stay apart."""

from __future__ import annotations

from datetime import date

import pytest

from outcomes.okrs.models import BaselineChange, CheckIn, Initiative, KeyResult, Objective
from outcomes.okrs.services.lookups import OUTPUT_NOT_KEY_RESULT
from plg_platform.models import AuditLog

pytestmark = pytest.mark.django_db

OBJECTIVES = "/api/v1/objectives/"
KEY_RESULTS = "/api/v1/key-results/"
INITIATIVES = "/api/v1/initiatives/"


@pytest.fixture
def objective(editor) -> dict:
    response = editor.client.post(
        OBJECTIVES,
        {
            "title": "New teams stick",
            "why_it_matters": "Retained teams become paying teams.",
            "quarter": "2026-Q2",
            "team": "Growth",
            "owner": editor.user.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def metric(editor, make_metric):
    return make_metric(editor.workspace, "retention-7d", event="session", window_days=7)


@pytest.fixture
def key_result(editor, objective, metric) -> dict:
    response = editor.client.post(
        KEY_RESULTS,
        {
            "objective": objective["id"],
            "title": "Raise 7-day retention of new teams from 31% to 36%",
            "metric": metric.key,
            "target": 0.36,
            "baseline": 0.31,
            "baseline_reason": "Measured in last quarter's report",
            "start_event": "signed_up",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_objectives_round_trip(editor, objective):
    assert (objective["period_start"], objective["period_end"]) == ("2026-04-01", "2026-06-30")
    assert objective["owner_email"] == editor.user.email
    response = editor.client.patch(
        f"{OBJECTIVES}{objective['id']}/",
        {"period_start": "2026-04-01", "period_end": "2026-05-15", "quarter": ""},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["period_kind"], response.json()["period_end"]) == (
        "custom",
        "2026-05-15",
    )
    listed = editor.client.get(OBJECTIVES, {"on": "2026-05-01"}).json()
    assert [o["id"] for o in listed] == [objective["id"]]
    assert editor.client.get(OBJECTIVES, {"on": "2026-06-01"}).json() == []
    child = editor.client.post(
        OBJECTIVES,
        {"title": "Onboarding", "quarter": "2026-Q2", "parent": objective["id"]},
        format="json",
    ).json()
    tree = editor.client.get(f"{OBJECTIVES}tree").json()
    assert [n["id"] for n in tree] == [objective["id"]]
    assert [c["id"] for c in tree[0]["children"]] == [child["id"]]
    assert editor.client.delete(f"{OBJECTIVES}{child['id']}/").status_code == 204
    assert not Objective.objects.filter(pk=child["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x"}, "period_start"),
        ({"title": "x", "quarter": "2026-Q9"}, "quarter"),
        ({"title": "x", "period_start": "2026-05-01", "period_end": "2026-04-01"}, "period_end"),
        ({"title": "x", "quarter": "2026-Q2", "period_start": "2026-04-01"}, "quarter"),
        ({"title": "", "quarter": "2026-Q2"}, "title"),
        ({"title": "x", "quarter": "2026-Q2", "owner": 999999}, "owner"),
        ({"title": "x", "quarter": "2026-Q2", "colour": "red"}, "colour"),
    ],
)
def test_bad_objectives_name_the_field_and_write_nothing(editor, body, field):
    response = editor.client.post(OBJECTIVES, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Objective.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="objective").exists()


def test_ship_offline_mode_is_not_a_key_result(editor, objective):
    response = editor.client.post(
        KEY_RESULTS,
        {"objective": objective["id"], "title": "Ship offline mode"},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["errors"] == {
        "metric": [OUTPUT_NOT_KEY_RESULT.format(title="Ship offline mode")]
    }
    assert "initiative" in response.json()["detail"]
    assert not KeyResult.objects.exists()


def test_key_result_rules_give_a_4xx_naming_the_problem(
    editor, objective, metric, outsider, make_metric
):
    foreign_metric = make_metric(outsider.workspace, "theirs")
    foreign_objective = outsider.client.post(
        OBJECTIVES, {"title": "Theirs", "quarter": "2026-Q2"}, format="json"
    ).json()
    base = {
        "objective": objective["id"],
        "title": "Retention",
        "metric": metric.key,
        "target": 0.36,
        "baseline": 0.31,
        "baseline_reason": "r",
    }
    for changes, status, field in (
        ({"metric": foreign_metric.key}, 404, "metric"),
        ({"objective": foreign_objective["id"]}, 404, "objective"),
        ({"target": 0.31}, 400, "target"),
        ({"direction": "decrease"}, 400, "target"),
        ({"baseline_reason": ""}, 400, "baseline_reason"),
        ({"segment_property": "plan"}, 400, "segment_value"),
        ({"cohort_days": 0}, 400, "cohort_days"),
        ({"target": None}, 400, "target"),
    ):
        response = editor.client.post(KEY_RESULTS, {**base, **changes}, format="json")
        assert response.status_code == status, (changes, response.json())
        assert field in response.json()["errors"], (changes, response.json())
    assert not KeyResult.objects.exists()
    assert not BaselineChange.objects.exists()


def test_a_key_result_reads_with_progress_history_and_links(editor, key_result):
    assert (key_result["baseline"], key_result["target"], key_result["status"]) == (
        0.31,
        0.36,
        "no_data",
    )
    kr_id = key_result["id"]
    response = editor.client.post(
        f"{KEY_RESULTS}{kr_id}/check-ins/",
        {"confidence": 7, "comment": "Checklist shipped", "value": 0.335, "date": "2026-05-01"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    initiative = editor.client.post(
        INITIATIVES, {"title": "Ship offline mode", "key_results": [kr_id]}, format="json"
    ).json()
    detail = editor.client.get(f"{KEY_RESULTS}{kr_id}/").json()
    assert detail["current"] == 0.335
    assert detail["progress"] == pytest.approx(0.5)
    assert detail["confidence"] == 7
    assert detail["last_comment"] == "Checklist shipped"
    assert [c["source"] for c in detail["check_ins"]] == ["manual"]
    assert [h["reason"] for h in detail["baseline_history"]] == [
        "Measured in last quarter's report"
    ]
    assert [i["id"] for i in detail["initiatives"]] == [initiative["id"]]
    assert detail["experiments"] == []


def test_baseline_edits_and_key_result_changes(editor, key_result):
    url = f"{KEY_RESULTS}{key_result['id']}/"
    response = editor.client.post(f"{url}baseline", {"baseline": 0.29}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    response = editor.client.post(
        f"{url}baseline", {"baseline": 0.29, "reason": "Bots excluded"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [h["baseline"] for h in response.json()["baseline_history"]] == [0.31, 0.29]
    response = editor.client.patch(url, {"target": 0.4, "title": "Retention up"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["target"] == 0.4
    response = editor.client.patch(url, {"metric": "other"}, format="json")
    assert response.status_code == 400
    assert "metric" in response.json()["errors"]
    response = editor.client.patch(url, {"target": 0.29}, format="json")
    assert response.status_code == 400
    assert "target" in response.json()["errors"]
    assert KeyResult.objects.get(pk=key_result["id"]).target == 0.4


def test_check_ins_rules(editor, key_result):
    url = f"{KEY_RESULTS}{key_result['id']}/check-ins/"
    for body, field in (
        ({"confidence": 11}, "confidence"),
        ({"comment": "no confidence"}, "confidence"),
        ({"confidence": 5, "date": "2999-01-01"}, "date"),
        ({"confidence": 5, "value": "high"}, "value"),
    ):
        response = editor.client.post(url, body, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["errors"]
    created = editor.client.post(url, {"confidence": 5}, format="json").json()
    computed = CheckIn.objects.create(
        key_result_id=key_result["id"], date=date(2026, 4, 2), source="computed", value=0.3
    )
    assert len(editor.client.get(url).json()) == 2
    response = editor.client.delete(f"/api/v1/check-ins/{computed.pk}/")
    assert response.status_code == 400
    assert "source" in response.json()["errors"]
    assert editor.client.delete(f"/api/v1/check-ins/{created['id']}/").status_code == 204


def test_initiatives_round_trip(editor, key_result):
    response = editor.client.post(INITIATIVES, {"title": "Ship offline mode"}, format="json")
    assert response.status_code == 400
    assert "key_results" in response.json()["errors"]
    created = editor.client.post(
        INITIATIVES,
        {"title": "Ship offline mode", "key_results": [key_result["id"]], "url": "https://x.io/1"},
        format="json",
    ).json()
    listed = editor.client.get(INITIATIVES, {"key_result": key_result["id"]}).json()
    assert [i["id"] for i in listed] == [created["id"]]
    response = editor.client.patch(
        f"{INITIATIVES}{created['id']}/", {"status": "done"}, format="json"
    )
    assert response.json()["status"] == "done"
    response = editor.client.patch(
        f"{INITIATIVES}{created['id']}/", {"status": "shipped"}, format="json"
    )
    assert response.status_code == 400
    assert "status" in response.json()["errors"]
    assert editor.client.delete(f"{INITIATIVES}{created['id']}/").status_code == 204
    assert not Initiative.objects.exists()


def test_viewers_read_and_editors_write(viewer, editor, objective, key_result):
    assert viewer.client.get(OBJECTIVES).status_code == 200
    assert viewer.client.get(f"{KEY_RESULTS}{key_result['id']}/").status_code == 200
    for method, url, body in (
        ("post", OBJECTIVES, {"title": "x", "quarter": "2026-Q2"}),
        ("patch", f"{OBJECTIVES}{objective['id']}/", {"title": "x"}),
        ("delete", f"{OBJECTIVES}{objective['id']}/", None),
        ("post", f"{KEY_RESULTS}{key_result['id']}/check-ins/", {"confidence": 5}),
        ("post", f"{KEY_RESULTS}{key_result['id']}/baseline", {"baseline": 1, "reason": "r"}),
        ("post", INITIATIVES, {"title": "x", "key_results": [key_result["id"]]}),
    ):
        response = getattr(viewer.client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url)
    assert Objective.objects.count() == 1


def test_another_workspaces_ids_are_not_found(outsider, objective, key_result):
    kr_id = key_result["id"]
    for method, url, body in (
        ("get", f"{OBJECTIVES}{objective['id']}/", None),
        ("patch", f"{OBJECTIVES}{objective['id']}/", {"title": "mine now"}),
        ("delete", f"{OBJECTIVES}{objective['id']}/", None),
        ("get", f"{KEY_RESULTS}{kr_id}/", None),
        ("patch", f"{KEY_RESULTS}{kr_id}/", {"target": 1}),
        ("get", f"{KEY_RESULTS}{kr_id}/check-ins/", None),
        ("post", f"{KEY_RESULTS}{kr_id}/check-ins/", {"confidence": 5}),
        ("post", INITIATIVES, {"title": "x", "key_results": [kr_id]}),
    ):
        response = getattr(outsider.client, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.json())
    assert outsider.client.get(OBJECTIVES).json() == []
    assert Objective.objects.get(pk=objective["id"]).title == "New teams stick"
