"""The demo's ended holdout: its report measures the planted cumulative impact.

The demo data end on a fixed date here (``load_demo`` ends them when the workspace was made),
so the data, which units the holdout's seed picks, and the one interval checked are the same on
every run. The measured lift is checked against a brute-force count over the generated events,
and its interval against the planted lift (the welcome tour shipped at the holdout's start and
the checklist shipped at its stop), computed from the planted parameters alone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from scipy import stats

from experiments.holdouts.models import Holdout, HoldoutUnit
from experiments.models import Experiment, Exposure, ResultSnapshot
from learnings.demo import demo_experiments, demo_holdout, demo_okrs
from learnings.management.commands.load_demo import Command
from plg_platform.clock import DAY_US, SECOND_US
from plg_platform.demo import DemoConfig, generate
from plg_platform.demo.planted import (
    CHECKLIST_AHA_7D_MULTIPLIER,
    EDITOR_TOOLBAR,
    ONBOARDING_CHECKLIST,
    QUARTER_HOLDOUT,
    WELCOME_TOUR_AHA_7D_MULTIPLIER,
    WELCOME_TOUR_SHIPS_DAYS_BEFORE_END,
)
from plg_platform.demo.writer import demo_data_write
from plg_platform.models import Workspace
from plg_platform.services.workspaces import workspace_create

pytestmark = pytest.mark.django_db

END = datetime(2026, 11, 2, tzinfo=UTC)
CONFIG = DemoConfig(users=3000, days=100, seed=42, end=END)
AHA_WINDOW_US = 7 * DAY_US


@pytest.fixture(scope="module")
def events_by_user() -> dict[str, list[tuple[int, str, dict]]]:
    by_user: dict[str, list[tuple[int, str, dict]]] = defaultdict(list)
    for batch in generate(CONFIG):
        for e in batch.events:
            by_user[e.distinct_id].append((e.timestamp_us, e.event, e.properties))
    return by_user


@pytest.fixture
def loaded() -> Workspace:
    created = workspace_create(name="Inkwell demo", owner_email="demo@example.com")
    Workspace.objects.filter(pk=created.workspace.pk).update(created_at=END)
    workspace = Workspace.objects.get(pk=created.workspace.pk)
    demo_data_write(workspace=workspace, config=CONFIG)
    Command()._metrics(workspace, created.owner)
    lines: list[str] = []
    demo_experiments(workspace=workspace, actor=created.owner, say=lines.append)
    demo_okrs(workspace=workspace, actor=created.owner, say=lines.append)
    demo_holdout(workspace=workspace, actor=created.owner, say=lines.append)
    workspace.say = lines  # type: ignore[attr-defined]
    return workspace


def _brute_force(events_by_user) -> tuple[dict[str, list[int]], float]:
    """Each arm's matured users' 7-day Aha (0/1) from the events alone, and the planted lift
    of everyone else: their mean planted 7-day Aha multiplier less one (the tour's ×1.25 for
    those who signed up after it shipped, times the checklist's ×1.15 for those who got it).
    Assignment is by hash and time, independent of the channel and Setup that set the base
    probability, so the ratio of the arms' expected rates is that mean multiplier."""
    start_us = CONFIG.end_us - QUARTER_HOLDOUT.starts_days_before_end * DAY_US
    tour_us = CONFIG.end_us - WELCOME_TOUR_SHIPS_DAYS_BEFORE_END * DAY_US
    stop_us = CONFIG.end_us - ONBOARDING_CHECKLIST.stops_days_before_end * DAY_US
    aha: dict[str, list[int]] = {"holdout": [], "general": []}
    multipliers = 0.0
    for unit, events in events_by_user.items():
        signup = next(t for t, name, _ in events if name == "signed_up")
        seen = signup + SECOND_US
        if signup < start_us or seen + AHA_WINDOW_US > CONFIG.end_us:
            continue  # before the holdout, or not matured by its end
        arm = "holdout" if QUARTER_HOLDOUT.holds_out(unit) else "general"
        first_doc = any(
            name == "document_created" and seen <= t < seen + AHA_WINDOW_US for t, name, _ in events
        )
        aha[arm].append(int(first_doc))
        if arm == "general":
            tour = WELCOME_TOUR_AHA_7D_MULTIPLIER if signup >= tour_us else 1.0
            checklist = signup >= stop_us or ONBOARDING_CHECKLIST.variant_of(unit) == "checklist"
            multipliers += tour * (CHECKLIST_AHA_7D_MULTIPLIER if checklist else 1.0)
    return aha, multipliers / len(aha["general"]) - 1


def test_the_demo_holdout_report_measures_the_planted_cumulative_impact(loaded, events_by_user):
    holdout = Holdout.objects.get(workspace=loaded, key=QUARTER_HOLDOUT.key)
    assert holdout.hash_seed == QUARTER_HOLDOUT.seed
    assert holdout.ends_at == END
    report = holdout.reports.get()
    assert report.final is True
    aha = next(m for m in report.results["metrics"] if m["key"] == "aha-7d")
    by_arm, planted = _brute_force(events_by_user)
    held, general = by_arm["holdout"], by_arm["general"]
    print(
        f"planted {planted:+.2%}; measured {aha['lift']:+.2%} ({aha['ci_low']:+.2%} to "
        f"{aha['ci_high']:+.2%}), {len(held)} held out, {len(general)} others"
    )

    # Measured in the database exactly as the events say.
    assert (aha["holdout_units"], aha["general_units"]) == (len(held), len(general))
    assert aha["holdout_mean"] == pytest.approx(sum(held) / len(held), rel=1e-12)
    assert aha["general_mean"] == pytest.approx(sum(general) / len(general), rel=1e-12)
    # The server holds out the units the data held out: 10 % of the quarter's signups.
    counts = dict.fromkeys(("holdout", "general"), 0)
    for arm in HoldoutUnit.objects.filter(holdout=holdout).values_list("arm", flat=True):
        counts[arm] += 1
    assert stats.binomtest(counts["holdout"], sum(counts.values()), 0.10).pvalue > 0.01
    # The interval covers the planted lift (about +35 %: everyone got the tour's +25 %, and
    # half the run's users and everyone after it the checklist's +15 % on top) and excludes
    # zero: the holdout detects the quarter's shipped changes.
    assert 0.33 < planted < 0.37
    assert 0 < aha["ci_low"] < planted < aha["ci_high"]
    assert aha["lift"] == pytest.approx(
        (sum(general) / len(general)) / (sum(held) / len(held)) - 1, rel=1e-9
    )
    assert any(line.startswith(f"  {QUARTER_HOLDOUT.key}: Aha") for line in loaded.say)
    assert f"  {QUARTER_HOLDOUT.key}: shipped to everyone else: the welcome tour" in "\n".join(
        loaded.say
    )


def test_held_out_users_are_never_exposed_and_the_experiments_show_no_mismatch(loaded):
    holdout = Holdout.objects.get(workspace=loaded, key=QUARTER_HOLDOUT.key)
    for planted in (ONBOARDING_CHECKLIST, EDITOR_TOOLBAR):
        experiment = Experiment.objects.get(workspace=loaded, key=planted.key)
        units = Exposure.objects.filter(experiment=experiment).values_list("unit_id", flat=True)
        assert len(units) > 500
        assert not [u for u in units if QUARTER_HOLDOUT.holds_out(u)]
        health = ResultSnapshot.objects.get(experiment=experiment).health
        assert health["srm"]["flag"] is False
        assert health["srm"]["p_value"] > 0.001
        assert "holdout" not in [b["check"] for b in health["banners"]]
    # The running next-quarter holdout starts where the ended one stops.
    running = Holdout.objects.exclude(pk=holdout.pk).get(workspace=loaded)
    assert running.starts_at >= holdout.ends_at
