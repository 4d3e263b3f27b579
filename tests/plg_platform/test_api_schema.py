"""The OpenAPI schema tells the truth (issue 12 item 9, issue 13): pages are described as pages,
errors are documented, ids and summaries are readable, and a bounded schemathesis pass over the
whole schema against a live server finds no server error (``make fuzz`` runs the long one)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from experiments.services.assignment import sdk_payload
from plg_platform.api.base import NOT_A_COUNT
from plg_platform.exceptions import VALUE_OUT_OF_RANGE
from plg_platform.models import Role
from plg_platform.schema import FEATURES_EXAMPLE
from plg_platform.services.event_input import EventInput
from plg_platform.services.workspaces import workspace_create
from scripts.fuzz_api import INGESTION_PATHS, download_schema, schemathesis_pass
from tests.conftest import make_actor

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def _resolve(schema: dict, ref_or_schema: dict) -> dict:
    ref = ref_or_schema.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def _ok_schema(schema: dict, path: str, method: str) -> dict:
    responses = schema["paths"][path][method.lower()]["responses"]
    body = responses.get("200") or responses.get("201")
    return _resolve(schema, body["content"]["application/json"]["schema"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/events/",
        "/api/v1/experiments/",
        "/api/v1/metrics/",
        "/api/v1/webhooks/",
        "/api/v1/notifications/",
        "/api/v1/kpis/pqls",
    ],
)
def test_paginated_lists_are_described_as_pages(schema, path, workspace):
    page = _ok_schema(schema, path, "GET")
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["type"] == "array"
    parameters = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
    assert {"limit", "offset"} <= parameters
    actual = make_actor(workspace, Role.ADMIN).client.get(path)
    assert actual.status_code == 200
    assert set(actual.json()) == {"count", "next", "previous", "results"}


def test_every_operation_documents_its_error_bodies(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        assert "400" in responses, (method, path)
        error = responses["400"]["content"]["application/json"]["schema"]
        assert _resolve(schema, error)["required"] == ["detail", "errors"]
        if "{" in path:
            assert "404" in responses, (method, path)
        if path.startswith("/api/v1/") and method in ("POST", "PATCH", "DELETE"):
            assert "403" in responses, (method, path)
        if method in ("POST", "PATCH") and "events/batch" in path or path.startswith("/v1/"):
            assert "413" in responses, (method, path)
    assert "409" in schema["paths"]["/api/v1/experiments/{key}/start"]["post"]["responses"]


def test_operation_ids_are_readable_and_unique(schema):
    operations = {(path, method): op for path, method, op in _operations(schema)}
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))
    assert operations[("/api/v1/events/batch", "POST")]["operationId"] == "events_batch"
    assert operations[("/api/v1/experiments/", "GET")]["operationId"] == "experiments_list"
    assert operations[("/api/v1/experiments/", "POST")]["operationId"] == "experiments_create"
    assert operations[("/api/v1/experiments/{key}/", "PATCH")]["operationId"] == "experiment_update"
    assert operations[("/api/features/{client_key}", "GET")]["operationId"] == "sdk_features"
    inherited = "An API view acting in the request's workspace"
    for op in operations.values():
        assert op["summary"], op["operationId"]
        assert inherited not in op.get("description", ""), op["operationId"]
        assert not op["operationId"].startswith("api_v1_"), op["operationId"]


def test_the_features_payload_has_a_real_example(schema, workspace):
    response = schema["paths"]["/api/features/{client_key}"]["get"]["responses"]["200"]
    [example] = response["content"]["application/json"]["examples"].values()
    assert example["value"] == FEATURES_EXAMPLE
    real = sdk_payload(workspace=workspace)
    assert set(example["value"]) == set(real)


def test_the_batch_request_schema_is_generated_from_event_input(schema):
    body = schema["paths"]["/api/v1/events/batch"]["post"]["requestBody"]
    batch = _resolve(schema, body["content"]["application/json"]["schema"])
    event = _resolve(schema, batch["properties"]["events"]["items"])
    assert set(event["properties"]) == set(EventInput.model_fields)
    assert event["properties"]["event"]["maxLength"] == 200
    assert "32 levels" in event["properties"]["properties"]["description"]


@pytest.mark.parametrize("query", ["offset=null", "offset=-1", "limit=0", "limit=abc"])
def test_unreadable_paging_parameters_are_refused(editor, query):
    response = editor.client.get(f"/api/v1/experiments/?{query}")

    assert response.status_code == 400
    name = query.split("=")[0]
    assert list(response.json()["errors"]) == [name]
    if name == "offset":
        assert response.json()["errors"]["offset"] == [NOT_A_COUNT]


def test_an_id_beyond_64_bits_is_a_client_error_not_a_500(editor):
    response = editor.client.post(
        "/api/v1/initiatives/", {"title": "x", "key_results": [2**90]}, format="multipart"
    )

    assert response.status_code in (400, 404), response.content
    if response.status_code == 400:
        assert response.json()["errors"] == {"non_field_errors": [VALUE_OUT_OF_RANGE]}


@pytest.mark.django_db(transaction=True)
def test_a_bounded_schemathesis_pass_finds_no_server_error(live_server, tmp_path):
    created = workspace_create(name="Fuzz", owner_email="fuzz@example.com")
    schema = download_schema(base_url=live_server.url, token=created.api_token, into=tmp_path)
    passes = [
        ("api", created.api_token, ["--exclude-path-regex", INGESTION_PATHS]),
        ("ingestion", created.ingestion_key, ["--include-path-regex", INGESTION_PATHS]),
    ]
    tested = 0
    for name, token, filters in passes:
        figures = schemathesis_pass(
            base_url=live_server.url,
            token=token,
            name=name,
            filters=filters,
            max_examples=3,
            checks="not_a_server_error",
            report_dir=tmp_path,
            extra=["--phases", "examples,fuzzing"],
            workers=1,
        )
        assert figures["server_errors"] == 0, figures["tail"]
        assert figures["test_cases"] > figures["operations"]
        tested += figures["operations"]
    assert tested == sum(1 for _ in _operations(schema))


def test_metric_values_are_described_as_the_object_they_are(schema, workspace):
    from metrics.services import metric_create

    actor = make_actor(workspace, Role.ADMIN)
    metric_create(
        workspace=workspace,
        key="docs",
        name="Documents in 7 days",
        spec={"type": "count", "event": "doc", "window_days": 7},
    )
    body = _ok_schema(schema, "/api/v1/metrics/{key}/values", "GET")
    actual = actor.client.get("/api/v1/metrics/docs/values")
    assert actual.status_code == 200
    assert set(body["properties"]) == set(actual.json()) == {"metric", "interval", "results"}
    assert body["properties"]["results"]["type"] == "array"
