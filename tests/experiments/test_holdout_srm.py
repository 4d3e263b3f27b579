"""The SRM check never false-alarms because of a workspace holdout.

Held-out units get no variant, but a client that logs "the experience shown" logs them as the
control. The check counts only non-holdout traffic; by simulation over 1,000 seeded A/A
experiments with a 5% holdout, it flags at the nominal rate (p < 0.001), where counting every
logged exposure (the check before holdouts) flags nearly all of them.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db.models import Count
from scipy import stats

from experiments.assignment import HoldoutSpec, holdout_arm
from experiments.holdouts.services import HoldoutInput, holdout_create
from experiments.holdouts.srm import HeldOutExposures, held_out_exposures
from experiments.models import Exposure
from experiments.services.analysis.health import exposure_health
from experiments.stats import srm_test
from plg_platform.hashing import bucket
from plg_platform.models import Event
from plg_platform.services.ingestion import to_epoch_us
from tests.experiments.test_exp_analysis_support import (
    T0,
    generate,
    metric_entry,
    planted_experiment,
)
from tests.experiments.test_exp_health import _snapshot

SIMULATIONS = 1_000
UNITS = 10_000
SHARE = 0.05
THRESHOLD = 0.001
FNV_OFFSET, FNV_PRIME, MASK = 0x811C9DC5, 0x01000193, 0xFFFFFFFF


# --- An independent, vectorised GrowthBook hash (v2) for the simulation -----------------------


def _fnv_rows(chars: np.ndarray, lengths: np.ndarray, start: int = FNV_OFFSET) -> np.ndarray:
    """FNV-1a 32 of each row of ASCII codes (``chars``, padded), over its first ``length``,
    continuing from the state ``start`` (the state after a common prefix)."""
    h = np.full(chars.shape[0], start, dtype=np.uint64)
    for k in range(chars.shape[1]):
        step = ((h ^ chars[:, k].astype(np.uint64)) * np.uint64(FNV_PRIME)) & np.uint64(MASK)
        h = np.where(k < lengths, step, h)
    return h


def _decimal_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ASCII codes of ``str(value)`` for each value, left-aligned and padded, and lengths."""
    lengths = np.ones(values.size, dtype=np.int64)
    for d in range(1, 10):
        lengths += values >= np.uint64(10**d)
    codes = np.zeros((values.size, 10), dtype=np.uint64)
    for k in range(10):
        power = np.uint64(10) ** np.clip(lengths - 1 - k, 0, None).astype(np.uint64)
        codes[:, k] = np.where(k < lengths, (values // power) % np.uint64(10) + np.uint64(48), 0)
    return codes, lengths


def vector_buckets(seed: str, ids: list[str]) -> np.ndarray:
    """``fnv(str(fnv(seed + id))) % 10000 / 10000`` for ASCII ids, vectorised."""
    after_seed = FNV_OFFSET
    for code in seed.encode("ascii"):
        after_seed = ((after_seed ^ code) * FNV_PRIME) & MASK
    width = max(len(u) for u in ids)
    chars = np.zeros((len(ids), width), dtype=np.uint64)
    for i, unit in enumerate(ids):
        chars[i, : len(unit)] = np.frombuffer(unit.encode("ascii"), dtype=np.uint8)
    lengths = np.array([len(u) for u in ids])
    inner = _fnv_rows(chars, lengths, after_seed)
    codes, digits = _decimal_codes(inner)
    return (_fnv_rows(codes, digits) % np.uint64(10000)).astype(np.float64) / 10000


def test_vectorised_hash_matches_growthbook_hash():
    ids = [f"sim-{i}-user-{i * 7919 % 100003}" for i in range(2_000)]
    seed = "5f0c8f1d2a3b4c5d6e7f8091a2b3c4d5"

    assert vector_buckets(seed, ids).tolist() == [bucket(seed, u) for u in ids]


WEIGHTS = ((0.5, 0.5), (0.2, 0.3, 0.5))


@pytest.fixture(scope="module")
def simulated() -> dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]]:
    """1,000 seeded A/A experiments (each with its own experiment and holdout seeds and units)
    with a 5% holdout whose held-out units a client logs as the control; per weights, the
    counts of every logged exposure and of the non-holdout exposures, one row per run."""
    rows: dict[tuple[float, ...], tuple[list, list]] = {w: ([], []) for w in WEIGHTS}
    for sim in range(SIMULATIONS):
        rng = np.random.default_rng(sim)
        experiment_seed, holdout_seed = rng.bytes(16).hex(), rng.bytes(16).hex()
        ids = [f"u{sim}-{i}" for i in range(UNITS)]
        position = vector_buckets(experiment_seed, ids)
        held = vector_buckets(holdout_seed, ids) < SHARE
        for weights in WEIGHTS:
            # GrowthBook's ranges at full coverage: variant i owns [Σw<i, Σw≤i).
            variant = np.searchsorted(np.cumsum(weights), position, side="right")
            logged = np.where(held, 0, variant)  # held out: shown and logged as the control
            k = len(weights)
            rows[weights][0].append(np.bincount(logged, minlength=k))
            rows[weights][1].append(np.bincount(variant[~held], minlength=k))
    return {w: (np.array(a), np.array(b)) for w, (a, b) in rows.items()}


@pytest.mark.parametrize("weights", WEIGHTS)
def test_aa_false_alarms_stay_nominal_with_a_holdout(simulated, weights):
    everything, non_holdout = simulated[weights]

    after = srm_test(np.array(non_holdout), weights, threshold=THRESHOLD)
    before = srm_test(np.array(everything), weights, threshold=THRESHOLD)

    false_alarms = after.flag.mean()
    print(f"weights {weights}: false alarms {false_alarms:.2%}, before {before.flag.mean():.1%}")
    # Nominal 0.1%; with 1,000 runs, 3 or fewer flags (binomial P(X > 3) = 1.9%).
    assert false_alarms <= 0.003
    # p-values of a correct check are uniform: none of the mass piles up near zero.
    assert stats.kstest(after.p_value, "uniform").pvalue > 0.001
    # Counting every logged exposure, as the check did before holdouts, flags almost all.
    assert before.flag.mean() >= 0.9


# --- The real check, over stored exposures ----------------------------------------------------


def _leaked_units(spec: HoldoutSpec, count: int) -> list[str]:
    units, i = [], 0
    while len(units) < count:
        unit = f"held-{i}"
        if holdout_arm(spec, attributes={"id": unit}) == "holdout":
            units.append(unit)
        i += 1
    return units


def test_exposures_of_held_out_units_are_left_out_of_the_srm_check(workspace):
    experiment = planted_experiment(workspace, generate(units_per_variant=(4000, 4000)))
    holdout = holdout_create(
        workspace=workspace,
        data=HoldoutInput(
            key="h1", name="H1", share=SHARE, starts_at=T0, ends_at=T0 + timedelta(days=90)
        ),
        actor=None,
        now=T0,
    )
    spec = HoldoutSpec("h1", holdout.hash_seed, SHARE)
    # The planted units are not held out, as the server would have assigned them.
    planted = set(experiment.exposures.values_list("unit_id", flat=True))
    held_planted = {u for u in planted if holdout_arm(spec, attributes={"id": u}) == "holdout"}
    experiment.exposures.filter(unit_id__in=held_planted).delete()
    counts = dict(experiment.exposures.values_list("variant").annotate(n=Count("id")).order_by())
    # 420 held-out units logged as the control by a client, inside the holdout's period, and
    # 300 exposed before it started, in both variants (ordinary: not held out yet).
    phase = experiment.phases.get()
    leaked = _leaked_units(spec, 720)
    Exposure.objects.bulk_create(
        Exposure(
            workspace=workspace,
            experiment=experiment,
            phase=phase,
            unit_id=unit,
            variant="control" if i < 420 or i % 2 else "treatment",
            exposed_at_us=to_epoch_us(T0 + (timedelta(days=1) if i < 420 else -timedelta(days=1))),
        )
        for i, unit in enumerate(leaked)
    )

    held = held_out_exposures(experiment=experiment)
    fixed, _, _ = exposure_health(experiment=experiment, phase_number=1)
    before, _, _ = exposure_health(
        experiment=experiment, phase_number=1, held_out=HeldOutExposures()
    )

    assert held.included == {1: {"control": 420}}
    expected = [counts["control"] + 150, counts["treatment"] + 150]
    assert fixed.counts == {"control": expected[0], "treatment": expected[1]}
    assert fixed.p_value == pytest.approx(stats.chisquare(expected).pvalue, rel=1e-9)
    assert fixed.flag is False
    assert before.counts["control"] == expected[0] + 420
    assert before.flag is True

    health = _snapshot(experiment).health
    assert health["srm"]["flag"] is False
    # The holdout's seed is random, so which planted units are dropped (and whether a guardrail
    # banner shows) varies; the SRM banner never shows, the holdout banner always does.
    checks = [b["check"] for b in health["banners"]]
    assert "holdout" in checks
    assert "srm" not in checks
    assert "420 exposures in phase 1 came from units in the workspace holdout" in next(
        b["message"] for b in health["banners"] if b["check"] == "holdout"
    )


# --- Leaked held-out units are left out of the results too --------------------------------------


def test_leaked_held_out_units_are_left_out_of_the_analysed_population(workspace):
    data = generate(units_per_variant=(2000, 2000), activation_lift=0.0)
    experiment = planted_experiment(workspace, data)
    holdout = holdout_create(
        workspace=workspace,
        data=HoldoutInput(
            key="h1",
            name="H1",
            share=SHARE,
            starts_at=T0,
            ends_at=T0 + timedelta(days=90),
            hash_seed="leak-test-seed",
        ),
        actor=None,
        now=T0,
    )
    spec = HoldoutSpec("h1", holdout.hash_seed, SHARE)
    planted = set(experiment.exposures.values_list("unit_id", flat=True))
    experiment.exposures.filter(
        unit_id__in={u for u in planted if holdout_arm(spec, attributes={"id": u}) == "holdout"}
    ).delete()
    kept = dict(experiment.exposures.values_list("unit_id", "variant"))
    # 300 held-out units a client logged as the control, every one of them activated: counted,
    # they would lift the control's 7-day activation from about 20 % to about 33 %.
    leaked = _leaked_units(spec, 300)
    start = to_epoch_us(T0 + timedelta(days=1))
    Exposure.objects.bulk_create(
        Exposure(
            workspace=workspace,
            experiment=experiment,
            phase=experiment.phases.get(),
            unit_id=unit,
            variant="control",
            exposed_at_us=start,
        )
        for unit in leaked
    )
    Event.objects.bulk_create(
        Event(
            workspace=workspace,
            event="activated",
            distinct_id=unit,
            timestamp_us=start + 3_600_000_000,
            insert_id=f"leak-{unit}",
        )
        for unit in leaked
    )
    activated = {u for u, a in zip(data.unit, data.activated, strict=True) if a}

    snapshot = _snapshot(experiment)

    entry = metric_entry(snapshot.outputs, "onboarding-activated")
    by_variant = {v["variant"]: v for v in entry["variants"]}
    for variant in ("control", "treatment"):
        units = [u for u, v in kept.items() if v == variant]
        assert by_variant[variant]["units"] == len(units)
        rate = sum(u in activated for u in units) / len(units)
        assert by_variant[variant]["value"] == pytest.approx(rate, rel=1e-12)
    assert experiment.exposures.filter(held_out=True).count() == 300
    banner = next(b for b in snapshot.health["banners"] if b["check"] == "holdout")
    assert "these 300 units are left out of the results" in banner["message"]

    # Without the holdout, the same units are ordinary exposures again.
    holdout.delete()
    again = metric_entry(_snapshot(experiment).outputs, "onboarding-activated")
    control = next(v for v in again["variants"] if v["variant"] == "control")
    assert control["units"] == len([v for v in kept.values() if v == "control"]) + 300
    assert not experiment.exposures.filter(held_out=True).exists()
