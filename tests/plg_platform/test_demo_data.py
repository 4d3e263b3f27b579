"""The demo data generator: deterministic, plausible, with its planted effects measurable."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from scipy.stats import chisquare

from plg_platform.clock import DAY_US
from plg_platform.demo import DemoConfig, generate, generate_events, generate_persons
from plg_platform.demo.activity import FEATURE_REQUESTS
from plg_platform.demo.config import DemoEvent
from plg_platform.demo.planted import (
    CHECKLIST_AHA_7D_MULTIPLIER,
    EDITOR_TOOLBAR,
    ONBOARDING_CHECKLIST,
    QUARTER_HOLDOUT,
    UNSUBSCRIBE_7D_PROBABILITY,
    WELCOME_TOUR_AHA_7D_MULTIPLIER,
)
from plg_platform.demo.population import PLAN_PRICES
from plg_platform.models import Event, Person

END = datetime(2026, 11, 1, tzinfo=UTC)
SMALL = DemoConfig(users=300, days=60, seed=5, end=END)
# Large enough that the planted 15 % lift is measured within a few points (about 4,700
# exposed users per arm), small enough to run in seconds.
LARGE = DemoConfig(users=20_000, days=180, seed=42, end=END)


def _flatten(config: DemoConfig) -> tuple[list[DemoEvent], list]:
    events, persons = [], []
    for batch in generate(config, batch_size=2000):
        events.extend(batch.events)
        persons.extend(batch.persons)
    return events, persons


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    first_events, first_persons = _flatten(SMALL)
    again_events, again_persons = _flatten(SMALL)
    other_events, _ = _flatten(DemoConfig(users=300, days=60, seed=6, end=END))

    assert first_events == again_events
    assert first_persons == again_persons
    assert len(first_persons) == 300
    assert first_events != other_events


def test_another_end_gives_the_same_data_shifted_in_time():
    """Another weekday and time of day of the end: the same events, moved by the difference
    (the generator's calendar ends on a Monday at 00:00 UTC whatever the end)."""
    later = DemoConfig(users=300, days=60, seed=5, end=datetime(2026, 12, 5, 18, 37, tzinfo=UTC))
    shift = later.end_us - SMALL.end_us
    events, persons = _flatten(SMALL)
    moved, moved_persons = _flatten(later)

    assert [(e.event, e.distinct_id, e.timestamp_us + shift, e.insert_id, e.properties)
            for e in events] == [
        (e.event, e.distinct_id, e.timestamp_us, e.insert_id, e.properties) for e in moved
    ]  # fmt: skip
    assert [p.distinct_id for p in persons] == [p.distinct_id for p in moved_persons]
    # Saturdays and Sundays of that calendar: the two days before each Monday-00:00 mark.
    assert [SMALL.weekday(SMALL.end_us - k * DAY_US) for k in range(1, 8)] == [6, 5, 4, 3, 2, 1, 0]
    # Ending on a real Monday at 00:00, its weekends are the real ones.
    monday = DemoConfig(users=1, days=60, end=datetime(2026, 11, 2, tzinfo=UTC))
    moments = [datetime(2026, 10, d, h, tzinfo=UTC) for d in range(1, 32) for h in (0, 13, 23)]
    assert [monday.weekday(int(m.timestamp()) * 1_000_000) for m in moments] == [
        m.weekday() for m in moments
    ]


def test_events_lie_inside_the_period_with_unique_insert_ids_in_time_order_per_user():
    events, persons = _flatten(SMALL)

    assert min(e.timestamp_us for e in events) >= SMALL.start_us
    assert max(e.timestamp_us for e in events) < SMALL.end_us
    assert len({e.insert_id for e in events}) == len(events)
    by_user: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_user[e.distinct_id].append(e.timestamp_us)
    assert all(times == sorted(times) for times in by_user.values())
    assert set(by_user) == {p.distinct_id for p in persons}


def test_every_event_kind_of_the_brief_is_generated_with_typed_properties():
    events, _ = _flatten(DemoConfig(users=1500, days=120, seed=1, end=END))
    names = Counter(e.event for e in events)

    expected = {
        "signed_up", "workspace_setup", "profile_completed", "document_created",
        "document_shared", "collaborator_joined", "invite_sent", "upgrade", "page_view",
        "session_start", "nps_response", "feedback_submitted", "feature_used", "$exposure",
        "notifications_unsubscribed",
    }  # fmt: skip
    assert expected <= set(names)
    scores = [e.properties["score"] for e in events if e.event == "nps_response"]
    assert all(type(s) is int and 0 <= s <= 10 for s in scores)
    amounts = [e.properties["amount"] for e in events if e.event == "upgrade"]
    assert all(type(a) is int and a > 0 for a in amounts)
    requests = [e.properties["feature_request"] for e in events if e.event == "feedback_submitted"]
    assert all(isinstance(r, str) and r for r in requests)
    # The API shape round-trips through JSON.
    api = events[0].as_api_dict()
    assert json.loads(json.dumps(api)) == api
    assert api["timestamp"].endswith("+00:00")


def test_persons_share_accounts_and_only_paying_accounts_carry_arr():
    events, persons = _flatten(DemoConfig(users=3000, days=180, seed=3, end=END))
    accounts = Counter(p.properties["account_id"] for p in persons)
    upgrades = {e.distinct_id: e.properties for e in events if e.event == "upgrade"}

    assert max(accounts.values()) > 3
    assert len(accounts) < len(persons) * 0.75
    for person in persons:
        props = person.properties
        assert props["plan"] in ("free", "pro", "team")
        if props["plan"] == "free":
            assert "arr" not in props
        else:
            assert props["arr"] == 12 * PLAN_PRICES[props["plan"]] * props["seats"]
        if person.distinct_id in upgrades:
            assert upgrades[person.distinct_id]["amount"] == props["arr"]
    paying_owners = [
        p for p in persons if p.properties["role"] == "owner" and p.properties["plan"] != "free"
    ]
    assert {p.distinct_id for p in paying_owners} == set(upgrades)


def test_persons_alone_match_the_persons_of_the_full_generation():
    _, persons = _flatten(SMALL)
    alone = list(itertools.chain.from_iterable(generate_persons(SMALL, batch_size=50)))
    assert alone == persons


def test_generation_streams_instead_of_building_the_whole_data_set():
    huge = DemoConfig(users=10_000_000, days=365, seed=1, end=END)
    first = next(generate_events(huge, batch_size=1000))
    # One batch closes at the first user boundary past 1,000 events.
    assert 1000 <= len(first) < 5000


def test_variants_follow_growthbook_hash_v2():
    # The reference is the GrowthBook SDK's own hash (version 2), not our copy of it.
    from growthbook.core import gbhash

    for unit in ("u0000001", "u0001234", "u0999999"):
        expected = "control" if gbhash("onboarding-checklist", unit, 2) < 0.5 else "checklist"
        assert ONBOARDING_CHECKLIST.variant_of(unit) == expected


# --- Planted effects ----------------------------------------------------------------------


@dataclass
class Arm:
    exposed: int = 0
    aha_7d: int = 0
    unsubscribed_7d: int = 0


@dataclass
class Measured:
    arms: dict[tuple[str, str], Arm] = field(default_factory=lambda: defaultdict(Arm))
    retained: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    eureka_d30: list[int] = field(default_factory=lambda: [0, 0])
    no_eureka_d30: list[int] = field(default_factory=lambda: [0, 0])
    requests: Counter = field(default_factory=Counter)
    # The quarter's holdout: matured users (7 days before the end) per arm, and the planted
    # 7-day Aha multipliers of everyone else, summed.
    holdout: dict[str, Arm] = field(default_factory=lambda: defaultdict(Arm))
    general_multipliers: float = 0.0


TOPIC_OF_REQUEST = {
    text: topic for topic, (_, texts) in enumerate(FEATURE_REQUESTS) for text in texts
}


def _within(times: list[int], start: int, days: int) -> bool:
    return any(start <= t < start + days * DAY_US for t in times)


def _measure(config: DemoConfig) -> Measured:
    """Brute-force the planted quantities from the events, one batch of users at a time."""
    measured = Measured()
    for batch in generate_events(config):
        by_user: dict[str, list[DemoEvent]] = defaultdict(list)
        for e in batch:
            by_user[e.distinct_id].append(e)
        for events in by_user.values():
            _measure_user(events, config, measured)
    return measured


def _measure_user(events: list[DemoEvent], config: DemoConfig, measured: Measured) -> None:
    times: dict[str, list[int]] = defaultdict(list)
    for e in events:
        times[e.event].append(e.timestamp_us)
        if e.event == "feedback_submitted":
            measured.requests[TOPIC_OF_REQUEST[e.properties["feature_request"]]] += 1
    for e in events:
        if e.event == "$exposure":
            arm = measured.arms[(e.properties["experiment"], e.properties["variant"])]
            arm.exposed += 1
            arm.aha_7d += _within(times["document_created"], e.timestamp_us, 7)
            arm.unsubscribed_7d += _within(times["notifications_unsubscribed"], e.timestamp_us, 7)
    start = times["signed_up"][0]
    _measure_holdout(events, start, config, measured)
    every = [e.timestamp_us for e in events]
    for day in (1, 7, 30):
        if start + (day + 1) * DAY_US <= config.end_us:
            measured.retained[day][0] += 1
            measured.retained[day][1] += _within(every, start + day * DAY_US, 1)
    if times["invite_sent"] and start + 31 * DAY_US <= config.end_us:
        group = (
            measured.eureka_d30
            if _within(times["collaborator_joined"], start, 14)
            else measured.no_eureka_d30
        )
        group[0] += 1
        group[1] += _within(every, start + 30 * DAY_US, 1)


def _measure_holdout(
    events: list[DemoEvent], signup: int, config: DemoConfig, measured: Measured
) -> None:
    """The user's holdout arm and 7-day Aha if they matured, and for everyone else the planted
    multiplier: the tour's (every signup in the holdout), times the checklist's if they got it
    (its variant during the run, everyone after its stop)."""
    gate = f"$holdout:{QUARTER_HOLDOUT.key}"
    seen = next(
        (e for e in events if e.event == "$exposure" and e.properties["experiment"] == gate), None
    )
    if seen is None or seen.timestamp_us + 7 * DAY_US > config.end_us:
        return
    arm = measured.holdout[seen.properties["variant"]]
    arm.exposed += 1
    docs = [e.timestamp_us for e in events if e.event == "document_created"]
    arm.aha_7d += _within(docs, seen.timestamp_us, 7)
    if seen.properties["variant"] == "general":
        stop = config.end_us - ONBOARDING_CHECKLIST.stops_days_before_end * DAY_US
        unit = seen.distinct_id
        checklist = signup >= stop or ONBOARDING_CHECKLIST.variant_of(unit) == "checklist"
        multiplier = CHECKLIST_AHA_7D_MULTIPLIER if checklist else 1.0
        measured.general_multipliers += WELCOME_TOUR_AHA_7D_MULTIPLIER * multiplier


@pytest.fixture(scope="module")
def measured() -> Measured:
    return _measure(LARGE)


def _rate(arm: Arm, attribute: str) -> float:
    return getattr(arm, attribute) / arm.exposed


def test_checklist_raises_7_day_aha_by_the_planted_relative_lift(measured: Measured):
    control = measured.arms[(ONBOARDING_CHECKLIST.key, "control")]
    checklist = measured.arms[(ONBOARDING_CHECKLIST.key, "checklist")]
    lift = _rate(checklist, "aha_7d") / _rate(control, "aha_7d") - 1

    assert control.exposed > 4000
    # Both arms signed up after the welcome tour shipped (x1.25 on a base of about 47 %).
    assert 0.55 < _rate(control, "aha_7d") < 0.65
    # Planted +15 %; the standard error of the measured lift here is about 2.3 points.
    assert lift == pytest.approx(CHECKLIST_AHA_7D_MULTIPLIER - 1, abs=0.05)


def test_checklist_leaves_the_guardrail_and_the_split_alone(measured: Measured):
    control = measured.arms[(ONBOARDING_CHECKLIST.key, "control")]
    checklist = measured.arms[(ONBOARDING_CHECKLIST.key, "checklist")]

    for arm in (control, checklist):
        assert _rate(arm, "unsubscribed_7d") == pytest.approx(UNSUBSCRIBE_7D_PROBABILITY, abs=0.008)
    assert chisquare([control.exposed, checklist.exposed]).pvalue > 0.001


def test_aa_experiment_shows_no_effect(measured: Measured):
    control = measured.arms[(EDITOR_TOOLBAR.key, "control")]
    compact = measured.arms[(EDITOR_TOOLBAR.key, "compact")]

    assert control.exposed > 4000
    assert chisquare([control.exposed, compact.exposed]).pvalue > 0.001
    assert _rate(compact, "aha_7d") / _rate(control, "aha_7d") - 1 == pytest.approx(0, abs=0.05)
    assert _rate(compact, "unsubscribed_7d") == pytest.approx(
        _rate(control, "unsubscribed_7d"), abs=0.01
    )


def test_the_holdout_measures_the_shipped_tour_and_checklist(measured: Measured):
    held, general = measured.holdout["holdout"], measured.holdout["general"]
    p_held, p_general = _rate(held, "aha_7d"), _rate(general, "aha_7d")
    lift = p_general / p_held - 1
    planted = measured.general_multipliers / general.exposed - 1
    se = (lift + 1) * math.sqrt(
        (1 - p_held) / (p_held * held.exposed) + (1 - p_general) / (p_general * general.exposed)
    )
    print(f"holdout {held}, general {general}: {lift:+.2%} (SE {se:.2%}), planted {planted:+.2%}")

    assert held.exposed / (held.exposed + general.exposed) == pytest.approx(0.10, abs=0.01)
    # About +35 %: the tour's +25 % for all, the checklist's +15 % on top for over half.
    assert 0.33 < planted < 0.37
    assert lift > 4 * se  # clearly detected
    # Within three standard errors of the planted lift. This seed's held-out users reach Aha
    # more often than chance would have it (about 2.4 standard errors), hence the margin.
    assert abs(lift - planted) < 3 * se


def test_retention_declines_like_a_real_product(measured: Measured):
    d1, d7, d30 = (measured.retained[d][1] / measured.retained[d][0] for d in (1, 7, 30))

    assert 0.30 < d1 < 0.50
    assert 0.18 < d7 < d1
    assert 0.10 < d30 < d7


def test_eureka_owners_retain_better_and_offline_mode_is_the_top_request(measured: Measured):
    eureka = measured.eureka_d30[1] / measured.eureka_d30[0]
    no_eureka = measured.no_eureka_d30[1] / measured.no_eureka_d30[0]

    assert eureka > 1.5 * no_eureka
    (top, count), _ = measured.requests.most_common(2)
    assert "offline" in FEATURE_REQUESTS[top][1][0].lower()
    assert count / measured.requests.total() == pytest.approx(FEATURE_REQUESTS[0][0], abs=0.03)


# --- Writing into a workspace ---------------------------------------------------------------


@pytest.mark.django_db
def test_command_stores_every_generated_event_and_person_once(workspace, capsys):
    config = DemoConfig(users=80, days=30, seed=9, end=END)
    expected = list(itertools.chain.from_iterable(generate_events(config)))
    arguments = ["--workspace", workspace.slug, "--users", "80", "--days", "30", "--seed", "9",
                 "--end", END.isoformat(), "--no-progress"]  # fmt: skip

    call_command("generate_demo_data", *arguments)
    call_command("generate_demo_data", *arguments)

    stored = Event.objects.filter(workspace=workspace)
    assert stored.count() == len(expected)
    assert Person.objects.filter(workspace=workspace).count() == 80
    sample = expected[len(expected) // 2]
    row = stored.get(insert_id=sample.insert_id)
    assert (row.event, row.distinct_id, row.timestamp_us, row.properties) == (
        sample.event, sample.distinct_id, sample.timestamp_us, sample.properties,
    )  # fmt: skip
    output = capsys.readouterr().out.splitlines()
    assert output[0].startswith(f"80 users, {len(expected)} events stored (0 already there)")
    assert output[1].startswith(f"80 users, 0 events stored ({len(expected)} already there)")


@pytest.mark.django_db
def test_command_refuses_an_unknown_workspace_or_a_naive_end(workspace):
    with pytest.raises(CommandError, match="No workspace"):
        call_command("generate_demo_data", "--workspace", "nope", "--no-progress")
    with pytest.raises(CommandError, match="time zone"):
        call_command(
            "generate_demo_data", "--workspace", workspace.slug, "--end", "2026-01-01T00:00:00"
        )
