"""Assignment agrees with the real GrowthBook Python SDK, fed by our SDK payload over HTTP."""

from __future__ import annotations

import json
import random

import pytest
from growthbook import GrowthBook

from experiments.models import Experiment
from experiments.services.assignment import EXPOSURE_EVENT, unit_assign
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start, experiment_stop
from plg_platform.models import ApiKeyKind, Event
from plg_platform.services.keys import api_key_create
from tests.factories import PersonFactory

UNITS = 10_000


def _running(workspace, make_metric, **overrides) -> Experiment:
    make_metric(workspace, "aha-rate")
    design = ExperimentDesign(
        key=overrides.pop("key", "pricing-page"),
        name="Pricing page",
        hypothesis_change="a simpler pricing page",
        variants=(
            VariantSpec("control", 0.2, is_control=True),
            VariantSpec("annual-first", 0.3),
            VariantSpec("monthly-first", 0.5),
        ),
        primary_metric="aha-rate",
        coverage=overrides.pop("coverage", 0.7),
        **overrides,
    )
    experiment = experiment_create(workspace=workspace, design=design, actor=None)
    return experiment_start(experiment=experiment, actor=None)


def _sdk_variant(gb: GrowthBook, key: str):
    return gb.eval_feature(key).value


@pytest.mark.django_db(transaction=True)
def test_growthbook_sdk_picks_exactly_our_variant_for_ten_thousand_units(
    live_server, workspace, make_metric
):
    experiment = _running(workspace, make_metric)
    _, sdk_key = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    gb = GrowthBook(api_host=live_server.url, client_key=sdk_key)
    gb.load_features()
    assert experiment.key in gb.get_features()
    rng = random.Random(7)
    ids = [f"user-{i}" for i in range(UNITS // 2)] + [
        "".join(rng.choice("abcdefghé漢😀0123456789-_") for _ in range(rng.randint(1, 24)))
        for _ in range(UNITS // 2)
    ]

    mismatches, counts = [], {}
    for unit_id in ids:
        ours = unit_assign(experiment=experiment, unit_id=unit_id, log_exposure=False).variant
        gb.set_attributes({"id": unit_id})
        theirs = _sdk_variant(gb, experiment.key)
        counts[ours] = counts.get(ours, 0) + 1
        if ours != theirs:
            mismatches.append((unit_id, ours, theirs))

    assert mismatches == []
    # Uneven weights and 70% coverage: the split is what the design asks for.
    assert counts[None] == pytest.approx(0.3 * UNITS, rel=0.06)
    assert counts["control"] == pytest.approx(0.7 * 0.2 * UNITS, rel=0.08)
    assert counts["monthly-first"] == pytest.approx(0.7 * 0.5 * UNITS, rel=0.06)


@pytest.mark.django_db(transaction=True)
def test_targeting_behaves_the_same_on_both_sides(live_server, workspace, make_metric, editor):
    experiment = _running(
        workspace,
        make_metric,
        targeting={"country": {"$in": ["DE", "FR"]}, "plan": {"$ne": "enterprise"}},
    )
    _, sdk_key = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    gb = GrowthBook(api_host=live_server.url, client_key=sdk_key)
    gb.load_features()
    rng = random.Random(3)

    for i in range(400):
        attributes = {
            "country": rng.choice(["DE", "FR", "US"]),
            "plan": rng.choice(["free", "pro", "enterprise"]),
        }
        unit_id = f"u{i}"
        response = editor.client.get(
            f"/api/v1/experiments/{experiment.key}/assignment",
            {"unit_id": unit_id, "attributes": json.dumps(attributes), "log_exposure": "false"},
        ).json()
        gb.set_attributes({"id": unit_id, **attributes})
        assert response["variant"] == _sdk_variant(gb, experiment.key), (unit_id, attributes)
        if attributes["country"] == "US" or attributes["plan"] == "enterprise":
            assert response == {"variant": None, "in_experiment": False, "reason": "targeting"}


@pytest.mark.django_db
def test_stored_unit_properties_are_used_for_targeting(workspace, make_metric):
    experiment = _running(workspace, make_metric, targeting={"plan": "pro"}, coverage=1.0)
    PersonFactory(workspace=workspace, distinct_id="pro-user", properties={"plan": "pro"})
    PersonFactory(workspace=workspace, distinct_id="free-user", properties={"plan": "free"})

    assert unit_assign(experiment=experiment, unit_id="pro-user").in_experiment
    assert unit_assign(experiment=experiment, unit_id="free-user").reason == "targeting"


@pytest.mark.django_db
def test_server_assignment_logs_the_first_exposure_once(editor, workspace, make_metric):
    experiment = _running(workspace, make_metric, coverage=1.0)
    url = f"/api/v1/experiments/{experiment.key}/assignment"

    first = editor.client.get(url, {"unit_id": "u-1"}).json()
    again = editor.client.get(url, {"unit_id": "u-1"}).json()

    assert first == again
    assert first["in_experiment"] is True
    exposures = Event.objects.filter(workspace=workspace, event=EXPOSURE_EVENT)
    assert exposures.count() == 1
    assert exposures.get().properties == {
        "experiment": experiment.key,
        "variant": first["variant"],
        "phase": 1,
        "source": "server",
    }


@pytest.mark.django_db
def test_stopped_experiment_assigns_no_one_and_leaves_the_payload(client, workspace, make_metric):
    experiment = _running(workspace, make_metric)
    _, sdk_key = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    experiment_stop(experiment=experiment, actor=None)

    assert unit_assign(experiment=experiment, unit_id="u").reason == "not_running"
    assert client.get(f"/api/features/{sdk_key}").json()["features"] == {}


@pytest.mark.django_db
def test_unknown_sdk_key_is_404_and_payload_is_per_workspace(
    client, workspace, make_metric, outsider
):
    _running(workspace, make_metric)
    _, foreign_key = api_key_create(workspace=outsider.workspace, kind=ApiKeyKind.SDK)

    assert client.get("/api/features/sdk-nope").status_code == 404
    assert client.get(f"/api/features/{foreign_key}").json()["features"] == {}


@pytest.mark.django_db
def test_assignment_needs_a_unit_id_and_valid_attributes(editor, workspace, make_metric):
    experiment = _running(workspace, make_metric)
    url = f"/api/v1/experiments/{experiment.key}/assignment"

    missing = editor.client.get(url)
    bad = editor.client.get(url, {"unit_id": "u", "attributes": "[1]"})

    assert missing.status_code == 400
    assert "unit_id" in missing.json()["errors"]
    assert bad.status_code == 400
    assert "attributes" in bad.json()["errors"]
