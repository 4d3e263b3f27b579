"""The daily traffic a plan starts from, read from the KPI library's cache (never from events).

An experiment that enrols units when they sign up (the acquisition and activation stages) sees
as many new units a day as there are new signups; any other experiment enrols the users who
come back, about the daily active users. Both are averages over the last complete days the
KPI refresh computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from experiments.models import FunnelStage
from outcomes.kpis.selectors import kpi_series, kpi_settings_read
from plg_platform.models import Workspace

TRAFFIC_WINDOW_DAYS = 28
# Stages whose experiments enrol units at signup, so their traffic is the signups a day.
SIGNUP_STAGES = (FunnelStage.ACQUISITION, FunnelStage.ACTIVATION)


@dataclass(frozen=True)
class TrafficSource:
    kpi: str
    label: str
    why: str


SIGNUPS = TrafficSource(
    "new_signups",
    "new signups a day",
    "experiments at the acquisition and activation stages enrol users when they sign up",
)
DAILY_ACTIVES = TrafficSource(
    "dau",
    "daily active users",
    "experiments at any other stage enrol the users who come back",
)


@dataclass(frozen=True)
class DailyTraffic:
    source: TrafficSource
    per_day: float | None  # None: the KPIs were never computed for these days
    date_from: date | None
    date_to: date | None
    days: int  # computed days averaged

    @property
    def rounded(self) -> float | None:
        """The average as a form pre-fills it: whole units, tenths below 10 a day."""
        if not self.per_day:
            return None
        return round(self.per_day) if self.per_day >= 10 else round(self.per_day, 1)


def traffic_source(funnel_stage: str) -> TrafficSource:
    """Signups a day for experiments that enrol at signup, daily active users otherwise."""
    return SIGNUPS if funnel_stage in SIGNUP_STAGES else DAILY_ACTIVES


def daily_traffic_read(*, workspace: Workspace, source: TrafficSource) -> DailyTraffic:
    """Return the KPI's average over the last ``TRAFFIC_WINDOW_DAYS`` complete computed days
    (the last computed day may be partial, as on the KPI dashboard)."""
    through = kpi_settings_read(workspace=workspace).computed_through
    if through is None:
        return DailyTraffic(source, None, None, None, 0)
    date_to = through - timedelta(days=1)
    date_from = date_to - timedelta(days=TRAFFIC_WINDOW_DAYS - 1)
    series = kpi_series(workspace=workspace, kpi=source.kpi, date_from=date_from, date_to=date_to)
    values = [p.value for p in series.points if p.computed and p.value is not None]
    per_day = sum(values) / len(values) if values else None
    return DailyTraffic(source, per_day, date_from, date_to, len(values))
