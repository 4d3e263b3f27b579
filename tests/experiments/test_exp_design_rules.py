"""Design rules: targeting conditions are checked before saving; PATCHed variants are whole."""

from __future__ import annotations

from dataclasses import replace

import pytest

from experiments.assignment import condition_problem
from experiments.models import Experiment, Exposure
from experiments.services.assignment import unit_assign
from experiments.services.design import (
    MAX_HYPOTHESIS_PART_LENGTH,
    MAX_NAME_LENGTH,
    TOO_LONG,
    ExperimentDesign,
    VariantSpec,
    experiment_create,
)
from experiments.services.lifecycle import experiment_start
from plg_platform.errors import ValidationFailed
from tests.factories import UserFactory

URL = "/api/v1/experiments/"


@pytest.mark.parametrize(
    "condition",
    [
        {"country": "US"},
        {"country": {"$in": ["DE", "FR"]}, "plan": {"$ne": "enterprise"}},
        {"$or": [{"plan": "pro"}, {"seats": {"$gte": 10}}]},
        {"$and": [{"plan": "pro"}], "$nor": [{"country": "US"}]},
        {"$not": {"country": "US"}},
        {"tags": {"$elemMatch": {"$eq": "beta"}}},
        {"orders": {"$elemMatch": {"total": {"$gt": 100}}}},
        {"app_version": {"$vgte": "2.3.0", "$vlt": "3"}},
        {"email": {"$regex": r"@example\.com$"}},
        {"tags": {"$size": {"$gt": 2}}, "beta": {"$exists": True}, "age": {"$type": "number"}},
        {"plan": {"$not": {"$in": ["free"]}}},
        {"address": {"city": "Berlin"}},  # a literal object, compared for equality
    ],
)
def test_growthbook_conditions_from_the_docs_are_accepted(condition):
    assert condition_problem(condition) is None


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ({"$bogus": 1}, "unknown operator '$bogus' at the top level"),
        ({"country": {"$inn": ["DE"]}}, "unknown operator '$inn' at 'country'"),
        ({"country": {"$in": "DE"}}, "$in needs a list at 'country'"),
        ({"$or": {"plan": "pro"}}, "$or needs a list of conditions at the top level"),
        ({"$or": [{"plan": {"$bad": 1}}]}, "unknown operator '$bad' at '$or.0.plan'"),
        ({"email": {"$regex": "("}}, "$regex needs a pattern that compiles"),
        ({"seats": {"$gt": True}}, "$gt needs a number or a string at 'seats'"),
        ({"beta": {"$exists": "yes"}}, "$exists needs true or false at 'beta'"),
        ({"age": {"$type": "int"}}, "$type needs one of array, boolean, null"),
        ({"plan": {"$eq": ["pro"]}}, "$eq needs one value, not a list or object"),
        ({"plan": {"$inGroup": "vip"}}, "saved groups ($inGroup) are not supported at 'plan'"),
        ({"$savedGroup": {"id": "vip"}}, "saved groups ($savedGroup) are not supported at the top"),
        ({"$not": [{"plan": "pro"}]}, "expected an object at '$not'"),
        ("country = 'US'", "expected an object at the top level"),
    ],
)
def test_malformed_conditions_are_named_precisely(condition, problem):
    found = condition_problem(condition)

    assert found is not None
    assert found.startswith(problem), found


def test_deeply_nested_condition_is_refused_instead_of_recursing_forever():
    condition: dict = {"plan": "pro"}
    for _ in range(50):
        condition = {"$not": condition}

    assert condition_problem(condition) == "nested more than 20 levels deep"


@pytest.mark.django_db
def test_api_names_the_problem_in_the_targeting_error(editor, make_metric):
    make_metric(editor.workspace, "aha-rate")
    design = {
        "key": "geo",
        "name": "Geo",
        "hypothesis": "local prices",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "local", "weight": 0.5}],
        "primary_metric": "aha-rate",
        "targeting": {"country": {"$in": "DE"}},
    }

    response = editor.client.post(URL, design, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "targeting": [
            'Targeting must be a GrowthBook condition object, e.g. {"country": {"$in": '
            '["DE", "FR"]}}: $in needs a list at \'country\'.'
        ]
    }
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_patched_variants_are_validated_whole_and_get_their_defaults(editor, make_metric):
    make_metric(editor.workspace, "aha-rate")
    design = {
        "key": "geo",
        "name": "Geo",
        "hypothesis": "local prices",
        "variants": [
            {"key": "control", "name": "Today", "weight": 0.5},
            {"key": "local", "weight": 0.5},
        ],
        "primary_metric": "aha-rate",
    }
    editor.client.post(URL, design, format="json")

    incomplete = editor.client.patch(
        f"{URL}geo/",
        {"variants": [{"key": "control"}, {"key": "local", "weight": 1}]},
        format="json",
    )
    complete = editor.client.patch(
        f"{URL}geo/",
        {"variants": [{"key": "control", "weight": 0.25}, {"key": "local", "weight": 0.75}]},
        format="json",
    )

    assert incomplete.status_code == 400
    assert incomplete.json()["errors"] == {"variants.0.weight": ["This field is required."]}
    assert complete.status_code == 200, complete.json()
    assert complete.json()["variants"] == [
        {"key": "control", "name": "Control", "weight": 0.25, "is_control": True},
        {"key": "local", "name": "Local", "weight": 0.75, "is_control": False},
    ]


@pytest.mark.django_db
def test_admin_shows_experiments_and_exposures_read_only(client, workspace, make_metric):
    make_metric(workspace, "aha-rate")
    experiment = experiment_start(
        experiment=experiment_create(
            workspace=workspace,
            design=ExperimentDesign(
                key="geo",
                name="Geo pricing",
                hypothesis_change="local prices",
                variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("local", 0.5)),
                primary_metric="aha-rate",
            ),
            actor=None,
        ),
        actor=None,
    )
    unit_assign(experiment=experiment, unit_id="visitor-42")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    exposures = client.get("/admin/experiments/exposure/")
    detail = client.get(f"/admin/experiments/experiment/{experiment.pk}/change/")

    assert exposures.status_code == 200
    assert "visitor-42" in exposures.content.decode()
    assert detail.status_code == 200
    assert "Geo pricing" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert Exposure.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("hypothesis_change", MAX_HYPOTHESIS_PART_LENGTH),
        ("hypothesis_evidence", MAX_HYPOTHESIS_PART_LENGTH),
        ("name", MAX_NAME_LENGTH),
    ],
)
@pytest.mark.django_db
def test_the_service_refuses_text_over_its_limit_and_writes_nothing(
    workspace, make_metric, field, limit
):
    make_metric(workspace, "aha-rate")
    design = ExperimentDesign(
        key="long",
        name="Long",
        hypothesis_change="a change",
        variants=(
            VariantSpec(key="control", weight=0.5, is_control=True),
            VariantSpec(key="b", weight=0.5),
        ),
        primary_metric="aha-rate",
    )
    at_limit = replace(design, **{field: "x" * limit})
    over = replace(design, key="longer", **{field: "x" * (limit + 1)})

    experiment_create(workspace=workspace, design=at_limit, actor=None)
    with pytest.raises(ValidationFailed) as error:
        experiment_create(workspace=workspace, design=over, actor=None)

    assert error.value.field == field
    assert error.value.message == TOO_LONG.format(max=limit, length=limit + 1)
    assert list(Experiment.objects.values_list("key", flat=True)) == ["long"]
