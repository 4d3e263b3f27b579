"""A workspace holdout keeps its units out of every experiment, on the server and in the real
GrowthBook Python SDK fed by our payload over HTTP, which pick exactly the same."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from growthbook import GrowthBook

from experiments.assignment import HoldoutSpec, assign, holdout_arm
from experiments.holdouts.models import HoldoutUnit
from experiments.holdouts.selectors import holdout_active, holdout_spec
from experiments.holdouts.services import HoldoutInput, holdout_create, holdout_end
from experiments.models import Experiment
from experiments.services.assignment import assignment_spec, unit_assign
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from plg_platform.hashing import fnv1a32
from plg_platform.models import ApiKeyKind
from plg_platform.services.keys import api_key_create

UNITS = 6_000
SHARE = 0.05


def _running(workspace, key: str, weights: tuple[float, ...], coverage: float, **extra):
    design = ExperimentDesign(
        key=key,
        name=key,
        hypothesis_change="a change",
        variants=tuple(
            VariantSpec(f"v{i}" if i else "control", w, is_control=i == 0)
            for i, w in enumerate(weights)
        ),
        primary_metric="aha-rate",
        coverage=coverage,
        **extra,
    )
    experiment = experiment_create(workspace=workspace, design=design, actor=None)
    return experiment_start(experiment=experiment, actor=None)


def _holdout(workspace, share: float = SHARE, **extra):
    now = datetime.now(tz=UTC)
    return holdout_create(
        workspace=workspace,
        data=HoldoutInput(
            key=extra.pop("key", "h1-2026"),
            name="H1 holdout",
            share=share,
            starts_at=extra.pop("starts_at", now),
            ends_at=extra.pop("ends_at", now + timedelta(days=90)),
            **extra,
        ),
        actor=None,
    )


def _ids() -> list[str]:
    rng = random.Random(11)
    return [f"user-{i}" for i in range(UNITS // 2)] + [
        "".join(rng.choice("abcdefghé漢😀0123456789-_") for _ in range(rng.randint(1, 24)))
        for _ in range(UNITS // 2)
    ]


def _reference_bucket(seed: str, unit: str) -> float:
    """GrowthBook hash v2, spelled out from the SDK's documentation, not from our module."""
    inner = 0x811C9DC5
    for code in _utf16(seed + unit):
        inner = ((inner ^ code) * 0x01000193) % 2**32
    outer = 0x811C9DC5
    for code in _utf16(str(inner)):
        outer = ((outer ^ code) * 0x01000193) % 2**32
    return (outer % 10000) / 10000


def _utf16(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def test_holdout_arm_is_the_bucket_below_the_share_with_the_holdouts_own_seed():
    spec = HoldoutSpec(key="h", seed="seed-1", share=0.05)
    ids = _ids()

    arms = [holdout_arm(spec, attributes={"id": u}) for u in ids]

    expected = ["holdout" if _reference_bucket("seed-1", u) < 0.05 else "general" for u in ids]
    assert arms == expected
    assert fnv1a32("a") == 0xE40C292C  # the published FNV-1a 32 test vector
    assert arms.count("holdout") == pytest.approx(0.05 * UNITS, rel=0.15)
    assert holdout_arm(spec, attributes={}) is None
    assert holdout_arm(spec, attributes={"id": ""}) is None


@pytest.mark.django_db(transaction=True)
def test_growthbook_sdk_picks_exactly_what_the_server_picks_with_a_holdout(
    live_server, workspace, make_metric
):
    make_metric(workspace, "aha-rate")
    experiments: list[Experiment] = [
        _running(workspace, "pricing", (0.2, 0.3, 0.5), 0.7),
        _running(workspace, "onboarding", (0.5, 0.5), 1.0),
        _running(workspace, "editor", (0.1, 0.9), 0.25),
        _running(workspace, "targeted", (0.5, 0.5), 1.0, targeting={"country": "DE"}),
    ]
    holdout = _holdout(workspace)
    _, sdk_key = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    tracked: list[tuple[str, str]] = []
    gb = GrowthBook(
        api_host=live_server.url,
        client_key=sdk_key,
        on_experiment_viewed=lambda experiment, result, **_: tracked.append(
            (experiment.key, result.key)
        ),
    )
    gb.load_features()
    assert "$holdout:h1-2026" in gb.get_features()

    # The server's decision for every id is ``assign`` with the specs ``unit_assign`` reads
    # (read once here: 24,000 full service calls would mostly time the database); every 20th
    # id also goes through the service itself.
    specs = {e.key: assignment_spec(e) for e in experiments}
    active = holdout_active(workspace_id=workspace.pk)
    assert active == holdout
    hold = holdout_spec(active)
    mismatches, held_out, counts = [], 0, {e.key: {} for e in experiments}
    for n, unit_id in enumerate(_ids()):
        attributes = {"country": "DE" if n % 2 else "US"}
        gb.set_attributes({"id": unit_id, **attributes})
        arm = holdout_arm(hold, attributes={"id": unit_id})
        held_out += arm == "holdout"
        for experiment in experiments:
            ours = assign(
                specs[experiment.key],
                unit_id=unit_id,
                attributes={**attributes, "id": unit_id},
                holdout=hold,
            )
            if n % 20 == 0:
                assert ours == unit_assign(
                    experiment=experiment,
                    unit_id=unit_id,
                    attributes=attributes,
                    log_exposure=False,
                )
            theirs = gb.eval_feature(experiment.key).value
            if ours.variant != theirs:
                mismatches.append((experiment.key, unit_id, ours.variant, theirs))
            if arm == "holdout":
                assert ours.reason == "holdout"
                assert ours.variant is None
            counts[experiment.key][ours.variant] = counts[experiment.key].get(ours.variant, 0) + 1

    assert mismatches == []
    assert held_out == pytest.approx(SHARE * UNITS, rel=0.15)
    # Outside the holdout the split is the design's: pricing gives 70% × 50% to v2.
    eligible = UNITS - held_out
    assert counts["pricing"]["v2"] == pytest.approx(0.7 * 0.5 * eligible, rel=0.06)
    assert counts["onboarding"][None] == held_out
    # The SDK reports every unit's arm through its tracking callback: the holdout's measurement.
    holdout_tracked = {k for k in tracked if k[0] == "$holdout:h1-2026"}
    assert {arm for _, arm in holdout_tracked} == {"holdout", "general"}
    assert sum(1 for key, arm in tracked if key == "$holdout:h1-2026" and arm == "holdout") > 0


@pytest.mark.django_db(transaction=True)
def test_after_the_holdout_ends_its_units_join_experiments_again(
    live_server, workspace, make_metric
):
    make_metric(workspace, "aha-rate")
    experiment = _running(workspace, "onboarding", (0.5, 0.5), 1.0)
    holdout = _holdout(workspace)
    spec = HoldoutSpec("h", holdout.hash_seed, SHARE)
    held = next(u for u in _ids() if holdout_arm(spec, attributes={"id": u}) == "holdout")
    assert unit_assign(experiment=experiment, unit_id=held).reason == "holdout"

    holdout_end(holdout=holdout, actor=None)
    _, sdk_key = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    gb = GrowthBook(api_host=live_server.url, client_key=sdk_key)
    gb.load_features()
    gb.set_attributes({"id": held})

    assert "$holdout:h1-2026" not in gb.get_features()
    assert unit_assign(experiment=experiment, unit_id=held).in_experiment
    assert (
        gb.eval_feature("onboarding").value
        == unit_assign(experiment=experiment, unit_id=held, log_exposure=False).variant
    )


@pytest.mark.django_db
def test_server_assignment_records_each_unit_seen_in_its_arm_once(workspace, make_metric):
    make_metric(workspace, "aha-rate")
    experiment = _running(workspace, "onboarding", (0.5, 0.5), 1.0)
    holdout = _holdout(workspace)
    spec = HoldoutSpec("h", holdout.hash_seed, SHARE)
    ids = [f"u{i}" for i in range(400)]

    for unit_id in ids + ids[:50]:
        unit_assign(experiment=experiment, unit_id=unit_id)

    rows = dict(HoldoutUnit.objects.filter(holdout=holdout).values_list("unit_id", "arm"))
    assert rows == {u: holdout_arm(spec, attributes={"id": u}) for u in ids}
    # Held-out units have no experiment exposure; everyone else has one.
    exposed = set(experiment.exposures.values_list("unit_id", flat=True))
    assert exposed == {u for u, arm in rows.items() if arm == "general"}
