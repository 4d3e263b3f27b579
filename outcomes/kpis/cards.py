"""The KPI dashboard's presentation: cards grouped as the page shows them, PES parts, line
charts, the cohort heat map and feature adoption, as plain values for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from outcomes.kpis.dashboard import KpiCard, KpiDashboard
from outcomes.kpis.selectors import CohortRow, FeatureAdoption, MomentCohort, kpi_series
from outcomes.presentation import change_text, chart_json, finite, format_value, series_points
from plg_platform.models import Workspace

# The dashboard's cards, by topic. A KPI of the catalogue missing here lands in "Other".
SETTING_LABELS = {
    "aha_event": "an Aha event",
    "core_events": "core events",
    "feature_events": "feature events",
    "paid_event": "a paid event",
    "nps_event": "an NPS event",
    "ces_event": "a CES event",
    "revenue_event": "a revenue event",
}
CREATION_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("active", "Active users", ("dau", "wau", "mau")),
    (
        "stickiness",
        "Stickiness",
        ("stickiness_dau_mau", "stickiness_dau_wau", "stickiness_wau_mau"),
    ),
    (
        "growth",
        "Growth and churn",
        ("new_users", "resurrected_users", "churned_users", "churn_rate", "growth_ratio"),
    ),
    (
        "activation",
        "Activation and time to value",
        ("new_signups", "activation_rate", "time_to_value", "ttv_never_reached"),
    ),
    ("retention", "Retention", ("retention_d1", "retention_d7", "retention_d30")),
    ("engagement", "Engagement", ("pes", "core_adoption")),
    ("voice", "Voice of the customer", ("nps", "nps_promoters", "nps_detractors", "ces")),
)
CAPTURE_ORDER = ("mrr", "new_mrr", "churned_mrr", "free_to_paid")
# A card whose number is not the catalogue's daily value says what it is in its name.
CARD_NAMES = {"dau": "Daily active users (7-day average)"}


# The cohort heat map's colour scale, from no retention to the table's highest later week.
HEAT_LOW = (238, 242, 251)
HEAT_HIGH = (31, 58, 138)
COLOURS = {"blue": "#2f54c8", "green": "#1f7a3d", "orange": "#b35c00", "purple": "#6b3fa0"}


# --- cards ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardView:
    key: str
    name: str
    definition: str
    configured: bool
    needs: str  # what the settings miss, when not configured
    value: str
    previous: str
    change: str
    window: str
    raw: float | None
    # Set when the card's window ends before the page's date (matured cohorts): says so.
    earlier: str = ""


def day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _window_text(card: KpiCard) -> str:
    definition = card.kpi
    end = day_text(card.window_end)
    if definition.key == "time_to_value":
        return f"signups in the week of {day_text(card.window_end - timedelta(days=6))}"
    if definition.key == "dau":
        return f"average day of the 7 days to {end}"
    if definition.family == "cohort":
        return f"signups in the {card.window_days} days to {end}"
    if card.window_days > 1:
        return f"the {card.window_days} days to {end}"
    return f"on {end}"


EARLIER_THAN_PAGE = (
    "Ends {days} days before the page date ({as_of}): a signup cohort counts only once all "
    "its users have lived through the KPI window."
)


def _earlier_text(card: KpiCard, as_of: date) -> str:
    if card.window_end >= as_of:
        return ""
    days = (as_of - card.window_end).days
    return EARLIER_THAN_PAGE.format(days=days, as_of=day_text(as_of))


def card_view(card: KpiCard, as_of: date) -> CardView:
    definition = card.kpi
    unit = definition.unit
    needs = ", ".join(SETTING_LABELS.get(name, name) for name in definition.requires)
    return CardView(
        key=definition.key,
        name=CARD_NAMES.get(definition.key, definition.name),
        definition=definition.definition,
        configured=card.configured,
        needs=needs,
        value=format_value(card.value, unit),
        previous=format_value(card.previous_value, unit),
        change=change_text(card.value, card.previous_value, unit),
        window=_window_text(card),
        raw=finite(card.value),
        earlier=_earlier_text(card, as_of),
    )


@dataclass(frozen=True)
class CardGroup:
    key: str
    title: str
    cards: list[CardView]


def creation_groups(dashboard: KpiDashboard) -> list[CardGroup]:
    by_key = {card.kpi.key: card for card in dashboard.value_creation}
    groups = []
    placed: set[str] = set()
    for key, title, keys in CREATION_GROUPS:
        cards = [card_view(by_key[k], dashboard.as_of) for k in keys if k in by_key]
        placed.update(keys)
        if cards:
            groups.append(CardGroup(key, title, cards))
    rest = [
        card_view(c, dashboard.as_of) for c in dashboard.value_creation if c.kpi.key not in placed
    ]
    if rest:
        groups.append(CardGroup("other", "Other", rest))
    return groups


def capture_cards(dashboard: KpiDashboard) -> list[CardView]:
    order = {key: i for i, key in enumerate(CAPTURE_ORDER)}
    cards = sorted(dashboard.value_capture, key=lambda c: order.get(c.kpi.key, len(order)))
    return [card_view(c, dashboard.as_of) for c in cards]


@dataclass(frozen=True)
class PesParts:
    """The Product Engagement Score and its three parts, on the dashboard's day."""

    score: str
    adoption: str
    stickiness: str
    growth: str
    growth_ratio: str


def pes_parts(dashboard: KpiDashboard) -> PesParts | None:
    cards = {card.kpi.key: card for card in dashboard.value_creation}
    pes = cards.get("pes")
    if pes is None or not pes.configured:
        return None

    def value(key: str) -> float | None:
        card = cards.get(key)
        return finite(card.value) if card is not None else None

    ratio = value("growth_ratio")
    growth = ratio / (1 + ratio) if ratio is not None else None
    return PesParts(
        score=format_value(value("pes"), "share"),
        adoption=format_value(value("core_adoption"), "share"),
        stickiness=format_value(value("stickiness_dau_mau"), "share"),
        growth=format_value(growth, "share"),
        growth_ratio=format_value(ratio, "ratio"),
    )


# --- charts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    """A chart's JSON and the same numbers as table rows (for screen readers and print)."""

    config: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


def lines_chart(
    workspace: Workspace,
    keys: tuple[tuple[str, str], ...],
    date_from: date,
    date_to: date,
    segment: str,
    *,
    interval: str = "day",
    unit: str,
    axis: str,
) -> Chart:
    series = {
        key: kpi_series(
            workspace=workspace,
            kpi=key,
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            segment=segment,
        )
        for key, _colour in keys
    }
    first = next(iter(series.values()))
    labels = [p.period_start for p in first.points]
    config = {
        "labels": [d.isoformat() for d in labels],
        "series": [
            {
                "label": series[key].kpi.name,
                "values": series_points(p.value for p in series[key].points),
                "colour": COLOURS[colour],
            }
            for key, colour in keys
        ],
        "unit": unit,
        "axis": axis,
    }
    rows = [
        (
            day_text(day) if interval == "day" else f"Week of {day_text(day)}",
            [
                format_value(series[key].points[i].value, series[key].kpi.unit)
                if series[key].points[i].computed
                else "not computed"
                for key, _colour in keys
            ],
        )
        for i, day in enumerate(labels)
    ]
    return Chart(chart_json(config), [series[k].kpi.name for k, _ in keys], rows)


@dataclass(frozen=True)
class CohortCellView:
    weeks: int
    text: str
    detail: str
    style: str


@dataclass(frozen=True)
class CohortRowView:
    label: str
    size: str
    cells: list[CohortCellView | None]


def _mix(low: tuple[int, int, int], high: tuple[int, int, int], t: float) -> tuple[int, ...]:
    return tuple(round(a + (b - a) * t) for a, b in zip(low, high, strict=True))


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def heat_style(value: float, top: float) -> str:
    """The background of a heat-map cell and a text colour readable on it (the better of
    black and white, so at least 4.5:1)."""
    t = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
    rgb = _mix(HEAT_LOW, HEAT_HIGH, t)
    light = _luminance(rgb)
    white = 1.05 / (light + 0.05)
    black = (light + 0.05) / 0.05
    ink = "#fff" if white >= black else "#000"
    return f"background:rgb({rgb[0]},{rgb[1]},{rgb[2]});color:{ink}"


def cohort_heat_map(rows: list[CohortRow]) -> tuple[list[int], list[CohortRowView], float]:
    """Weekly signup cohorts × weeks since signup, each cell coloured on one scale whose top is
    the highest retention after week 0 (week 0 is nearly everyone, and would wash out the rest).
    """
    weeks = sorted({c.weeks_since_signup for r in rows for c in r.cells})
    later = [c.value for r in rows for c in r.cells if c.weeks_since_signup > 0 and c.value]
    top = max(later, default=1.0)
    views = []
    for row in rows:
        by_week = {c.weeks_since_signup: c for c in row.cells}
        cells: list[CohortCellView | None] = []
        for week in weeks:
            cell = by_week.get(week)
            if cell is None or cell.value is None:
                cells.append(None)
                continue
            cells.append(
                CohortCellView(
                    weeks=week,
                    text=f"{cell.value * 100:.0f}%",
                    detail=f"{cell.retained:,} of {cell.units:,} users active in week {week}",
                    style=heat_style(cell.value, top),
                )
            )
        views.append(CohortRowView(day_text(row.cohort_start), f"{row.size:,}", cells))
    return weeks, views, top


@dataclass(frozen=True)
class FeatureView:
    name: str
    event: str
    adopters: str
    share: str
    percent: float


def feature_views(features: list[FeatureAdoption]) -> list[FeatureView]:
    views = []
    for feature in features:
        event, _, value = feature.feature.partition(":")
        views.append(
            FeatureView(
                name=value or event,
                event=event if value else "",
                adopters=f"{feature.adopters:,} of {feature.active_users:,}",
                share=format_value(feature.value, "share"),
                percent=round((finite(feature.value) or 0.0) * 100, 1),
            )
        )
    return views


# --- success moments ------------------------------------------------------------------------
@dataclass(frozen=True)
class MomentColumn:
    name: str
    definition: str


@dataclass(frozen=True)
class MomentRowView:
    label: str
    size: str
    cells: list[tuple[str, str]]  # (rate, "12 of 40 users" or why there is none)


def moment_definition(moment: dict) -> str:
    """Say the moment's rule in words: "doc at least 20 times on 8+ days within 30 days"."""
    times, days = moment["min_count"], moment["min_distinct_days"]
    count = "once" if times == 1 else f"at least {times} times"
    spread = f" on at least {days} different days" if days > 1 else ""
    window = "1 day" if moment["window_days"] == 1 else f"{moment['window_days']} days"
    return f"did {moment['event']} {count}{spread} within {window} of signup"


def moment_table(
    moments: list[dict], cohorts: list[MomentCohort]
) -> tuple[list[MomentColumn], list[MomentRowView]]:
    """The success moments' columns (with their definitions) and one row per signup week."""
    columns = [MomentColumn(m["name"], moment_definition(m)) for m in moments]
    rows = []
    for cohort in cohorts:
        cells = []
        for m in moments:
            reached, units, value = cohort.moments.get(m["name"], (0, 0, None))
            if not units:
                cells.append(("—", f"no user has lived {m['window_days']} days yet"))
            else:
                cells.append((format_value(value, "share"), f"{reached:,} of {units:,} users"))
        rows.append(
            MomentRowView(f"Week of {day_text(cohort.cohort_start)}", f"{cohort.size:,}", cells)
        )
    return columns, rows
