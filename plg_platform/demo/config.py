"""What the demo generator is asked for (``DemoConfig``) and what it yields (events, persons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from plg_platform.clock import DAY_US, datetime_from_us, epoch_us

DEFAULT_USERS = 5000
DEFAULT_DAYS = 180
DEFAULT_SEED = 42
DEFAULT_BATCH_SIZE = 5000


CONFIG_USERS_POSITIVE = "users must be at least 1."
CONFIG_DAYS_POSITIVE = "days must be at least 1."
CONFIG_END_AWARE = "end must be a time-zone-aware datetime."


def _now_to_the_minute() -> datetime:
    return datetime.now(tz=UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class DemoConfig:
    """How many users over how many days, ending when, with which seed.

    ``end`` defaults to now (to the minute) and is fixed when the config is made, so that a
    config always describes one data set: the same config always yields the same events, and
    another ``end`` the same events shifted in time (``weekday``).
    """

    users: int = DEFAULT_USERS
    days: int = DEFAULT_DAYS
    seed: int = DEFAULT_SEED
    end: datetime = field(default_factory=_now_to_the_minute)

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(CONFIG_USERS_POSITIVE)
        if self.days < 1:
            raise ValueError(CONFIG_DAYS_POSITIVE)
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ValueError(CONFIG_END_AWARE)

    @property
    def end_us(self) -> int:
        """The data cut-off: every event happens strictly before it."""
        return epoch_us(self.end)

    @property
    def start_us(self) -> int:
        """The first possible signup."""
        return self.end_us - self.days * DAY_US

    def weekday(self, moment_us: int) -> int:
        """The day of the week (Monday 0 … Sunday 6) of ``moment_us`` in the generator's
        calendar: the data are drawn as if they ended on a Monday at 00:00 UTC, whatever
        ``end`` is, so every end gives the same data shifted in time (the demo's experiments
        show the same results whatever day it is loaded). The weekends of the data fall on
        real weekends only when ``end`` is a Monday at 00:00 UTC.
        """
        return ((moment_us - self.end_us) // DAY_US) % 7


class DemoEvent(NamedTuple):
    """One generated event. ``timestamp_us`` is microseconds since the epoch, UTC."""

    event: str
    distinct_id: str
    timestamp_us: int
    insert_id: str
    properties: dict[str, Any]

    def as_api_dict(self) -> dict[str, Any]:
        """Return the event as ``POST /api/v1/events/batch`` and ``import_events`` take it."""
        return {
            "event": self.event,
            "distinct_id": self.distinct_id,
            "timestamp": datetime_from_us(self.timestamp_us).isoformat(),
            "insert_id": self.insert_id,
            "properties": self.properties,
        }


class DemoPerson(NamedTuple):
    """The unit properties of one user, as ``identify`` traits would set them."""

    distinct_id: str
    properties: dict[str, Any]


@dataclass
class DemoBatch:
    """Events and persons of consecutive simulated users; ``users`` counts them."""

    events: list[DemoEvent] = field(default_factory=list)
    persons: list[DemoPerson] = field(default_factory=list)

    @property
    def users(self) -> int:
        return len(self.persons)
