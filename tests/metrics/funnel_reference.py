"""An independent brute-force reference for funnel metrics, and events that plant their edge cases.

The reference walks each unit's events in time order, one timestamp at a time, and moves the
unit along the funnel as a person would read the rule in docs/metrics.md: at each instant, the
next step is reached by an event of that instant matching it, unless the event also matches a
step already reached at that same instant (it may be the event that completed that step). No
SQL, no window aggregates, nothing shared with ``metrics.engine.funnels``.

``planted_events`` builds units, each named for the case it plants: order, repeated steps,
the same microsecond, window edges, property filters, events before the start, units with no
funnel events, units with no events at all (they exist only in a table population), and
immature units.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from metrics.engine.definition import MetricDefinition, parse_definition
from metrics.engine.time_units import DAY_US
from plg_platform.services.ingestion import to_epoch_us
from tests.metrics.reference import _matches

START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
CUTOFF = START + timedelta(days=30)
CUTOFF_US = to_epoch_us(CUTOFF)
WINDOW_DAYS = 7

FUNNEL_SPECS: list[dict[str, Any]] = [
    {
        "key": "activation",
        "type": "funnel",
        "window_days": WINDOW_DAYS,
        "steps": [
            {"event": "signup"},
            {
                "event": "doc",
                "name": "create a pro document",
                "filters": [{"property": "plan", "op": "eq", "value": "pro"}],
            },
            {"event": "invite"},
            {"event": "upgrade", "filters": [{"property": "amount", "op": "gte", "value": 10}]},
        ],
    },
    # The same event twice: two documents, at different times.
    {
        "key": "two_docs",
        "type": "funnel",
        "window_days": WINDOW_DAYS,
        "steps": [{"event": "doc"}, {"event": "doc"}],
    },
    # An event that comes back after another: doc, invite, doc again; filters that overlap.
    {
        "key": "doc_invite_doc",
        "type": "funnel",
        "window_days": 3,
        "steps": [
            {"event": "doc"},
            {"event": "invite"},
            {"event": "doc", "filters": [{"property": "plan", "op": "in", "value": ["pro", 5]}]},
        ],
    },
]
FUNNELS = [parse_definition(spec) for spec in FUNNEL_SPECS]


# --- the brute-force reference ---------------------------------------------------------------
def steps_reached(
    m: MetricDefinition, events: list[dict[str, Any]], start: int, cutoff_us: int = CUTOFF_US
) -> int:
    """How many steps of ``m`` the unit reached: its events (with ``t``), from ``start``."""
    assert m.window_days is not None
    end = min(start + m.window_days * DAY_US, cutoff_us)
    inside = sorted((e for e in events if start <= e["t"] < end), key=lambda e: e["t"])
    reached = 0
    for _, same_time in groupby(inside, key=lambda e: e["t"]):
        instant = list(same_time)
        reached_now: list[int] = []  # steps reached at this instant
        while reached < len(m.steps):
            step = m.steps[reached]
            if not any(
                _matches(e, step.event, step.filters)
                and not any(_matches(e, m.steps[j].event, m.steps[j].filters) for j in reached_now)
                for e in instant
            ):
                break
            reached_now.append(reached)
            reached += 1
    return reached


def with_times(raw_events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in raw_events:
        by_unit[e["distinct_id"]].append(
            {**e, "t": to_epoch_us(datetime.fromisoformat(e["timestamp"]))}
        )
    return by_unit


def first_visits(raw_events: list[dict[str, Any]]) -> dict[str, int]:
    """Each unit's first ``visit`` before the cut-off: the first-seen population's start."""
    starts: dict[str, int] = {}
    for unit, events in with_times(raw_events).items():
        visits = [e["t"] for e in events if e["event"] == "visit" and e["t"] < CUTOFF_US]
        if visits:
            starts[unit] = min(visits)
    return starts


def funnel_brute_force(
    raw_events: list[dict[str, Any]],
    m: MetricDefinition,
    population: dict[str, tuple[int, str]],
) -> dict[str, dict[str, Any]]:
    """Per group: units, immature_units, n, sum, sum_squares and the units reaching each step."""
    by_unit = with_times(raw_events)
    out: dict[str, dict[str, Any]] = {}
    for unit, (start, group) in population.items():
        g = out.setdefault(
            group,
            {"units": 0, "immature_units": 0, "n": 0, "sum": 0.0, "steps": [0] * len(m.steps)},
        )
        if start + m.maturity_days * DAY_US > CUTOFF_US:
            g["immature_units"] += 1
            continue
        reached = steps_reached(m, by_unit.get(unit, []), start)
        g["units"] += 1
        g["n"] += 1
        g["sum"] += 1.0 if reached == len(m.steps) else 0.0
        for k in range(reached):
            g["steps"][k] += 1
    for g in out.values():
        g["sum_squares"] = g["sum"]
    return out


def assert_funnel_equal(actual: Any, expected: dict[str, Any], label: str) -> None:
    for name in ("units", "immature_units", "n"):
        assert getattr(actual, name) == expected[name], f"{label}: {name}"
    assert actual.sum == expected["sum"], f"{label}: sum"
    assert actual.sum_squares == expected["sum_squares"], f"{label}: sum_squares"
    assert list(actual.steps) == expected["steps"], f"{label}: steps"


# --- events ----------------------------------------------------------------------------------
class _Events:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.events: list[dict[str, Any]] = []
        self.starts: dict[str, int] = {}

    def add(self, unit: str, name: str, moment: datetime, **properties: Any) -> None:
        self.events.append(
            {
                "event": name,
                "distinct_id": unit,
                "timestamp": moment.isoformat(),
                "insert_id": f"{self.prefix}{len(self.events)}",
                "properties": properties,
            }
        )

    def start(self, unit: str, moment: datetime) -> datetime:
        """The unit's start: a ``visit`` (the first-seen population's start event)."""
        self.add(unit, "visit", moment)
        self.starts[unit] = to_epoch_us(moment)
        return moment


US = timedelta(microseconds=1)
H = timedelta(hours=1)
WINDOW = timedelta(days=WINDOW_DAYS)


def planted_events() -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """(events, first-visit starts, expected steps of ``activation`` per unit).

    Every unit's start is its first ``visit``; ``no_events`` has none at all and is only in
    the table population (with a start given there).
    """
    ev = _Events("planted-")
    expected: dict[str, int] = {}

    def case(unit: str, steps: int, day: int) -> datetime:
        expected[unit] = steps
        return ev.start(unit, START + timedelta(days=day, minutes=7 * len(expected)))

    s = case("complete", 4, 0)
    ev.add("complete", "signup", s + H)
    ev.add("complete", "doc", s + 2 * H, plan="pro")
    ev.add("complete", "invite", s + 3 * H)
    ev.add("complete", "upgrade", s + 4 * H, amount=29)

    s = case("out_of_order", 1, 1)  # the document before the signup does not count
    ev.add("out_of_order", "doc", s + H, plan="pro")
    ev.add("out_of_order", "signup", s + 2 * H)
    ev.add("out_of_order", "invite", s + 3 * H)

    s = case("repeats", 4, 1)  # repeated steps: the first signup counts, later ones too
    for hours in (1, 2, 5):
        ev.add("repeats", "signup", s + hours * H)
    ev.add("repeats", "invite", s + 1.5 * H)  # before the pro document: not yet
    ev.add("repeats", "doc", s + 3 * H, plan="pro")
    ev.add("repeats", "doc", s + 3 * H, plan="pro")  # a duplicate (another insert id)
    ev.add("repeats", "invite", s + 4 * H)
    ev.add("repeats", "upgrade", s + 4 * H, amount=99)  # same instant as the invite: counts
    ev.add("repeats", "upgrade", s + 6 * H, amount=99)

    s = case("same_instant", 4, 2)  # one request: four events at one microsecond
    for name, props in (
        ("upgrade", {"amount": 10}),
        ("invite", {}),
        ("doc", {"plan": "pro"}),
        ("signup", {}),
    ):
        ev.add("same_instant", name, s + H, **props)

    s = case("signup_at_start", 2, 2)  # step 1 at the start itself counts
    ev.add("signup_at_start", "signup", s)
    ev.add("signup_at_start", "doc", s, plan="pro")

    s = case("before_start", 0, 3)  # a signup before the start never counts
    ev.add("before_start", "signup", s - US)
    ev.add("before_start", "doc", s + H, plan="pro")

    s = case("edge_out", 3, 3)  # the upgrade exactly at the window's end: outside
    ev.add("edge_out", "signup", s + H)
    ev.add("edge_out", "doc", s + H, plan="pro")
    ev.add("edge_out", "invite", s + 2 * H)
    ev.add("edge_out", "upgrade", s + WINDOW, amount=50)

    s = case("edge_in", 4, 3)  # one microsecond earlier: inside
    ev.add("edge_in", "signup", s + H)
    ev.add("edge_in", "doc", s + H, plan="pro")
    ev.add("edge_in", "invite", s + 2 * H)
    ev.add("edge_in", "upgrade", s + WINDOW - US, amount=50)

    s = case("filters", 1, 4)  # wrong plan, a number where text is wanted, a string amount
    ev.add("filters", "signup", s + H)
    ev.add("filters", "doc", s + 2 * H, plan="free")
    ev.add("filters", "doc", s + 3 * H, plan=5)
    ev.add("filters", "doc", s + 4 * H)
    ev.add("filters", "invite", s + 5 * H)

    s = case("low_amount", 3, 4)  # the upgrade's amount fails its filter
    ev.add("low_amount", "signup", s + H)
    ev.add("low_amount", "doc", s + H, plan="pro")
    ev.add("low_amount", "invite", s + H)
    ev.add("low_amount", "upgrade", s + 2 * H, amount=9.5)
    ev.add("low_amount", "upgrade", s + 3 * H, amount="29")

    s = case("stops_midway", 2, 5)
    ev.add("stops_midway", "signup", s + H)
    ev.add("stops_midway", "doc", s + 30 * H, plan="pro")
    ev.add("stops_midway", "upgrade", s + 40 * H, amount=99)  # skipped the invite

    case("only_visits", 0, 5)  # no funnel event at all
    ev.add("only_visits", "visit", START + timedelta(days=6))

    s = case("late_start", 1, 27)  # its window has not passed by the cut-off: immature
    ev.add("late_start", "signup", s + H)

    # Two documents: at one instant (may be one event: no), then a microsecond apart (yes).
    s = case("twin_docs", 2, 6)
    ev.add("twin_docs", "signup", s + H)
    ev.add("twin_docs", "doc", s + 2 * H, plan="team")
    ev.add("twin_docs", "doc", s + 2 * H, plan="pro")
    s = case("docs_apart", 0, 6)
    ev.add("docs_apart", "doc", s + 2 * H, plan="pro")
    ev.add("docs_apart", "doc", s + 2 * H + US, plan="pro")
    ev.add("docs_apart", "invite", s + 2 * H + US)
    ev.add("docs_apart", "doc", s + 2 * H + US, plan=5)

    # A unit outside the population's start event? No: a unit with no events at all is listed
    # in the table population only.
    expected["no_events"] = 0
    return ev.events, ev.starts, expected


def random_events(seed: int, units: int = 120) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Units with a ``visit`` start and events on a coarse grid (quarter hours): many ties."""
    rng = random.Random(seed)
    ev = _Events(f"random-{seed}-")
    for u in range(units):
        unit = f"r{u}"
        start = ev.start(unit, START + timedelta(minutes=15 * rng.randint(0, 4 * 24 * 25)))
        for _ in range(rng.randint(0, 12)):
            name = rng.choice(["signup", "doc", "invite", "upgrade", "visit"])
            moment = start + timedelta(minutes=15 * rng.randint(-20, 4 * 24 * 8))
            props: dict[str, Any] = {}
            if rng.random() < 0.8:
                props["plan"] = rng.choice(["pro", "free", 5, "team"])
            if name == "upgrade":
                props["amount"] = rng.choice([5, 10, 29, "29", None])
            ev.add(unit, name, moment, **props)
            if rng.random() < 0.1:  # the same instant again, another event
                ev.add(unit, rng.choice(["signup", "doc", "invite"]), moment, plan="pro")
    return ev.events, ev.starts
