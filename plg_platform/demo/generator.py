"""Stream the demo data set in batches: memory stays bounded whatever the size asked for.

Nothing here touches Django, so tests and benchmarks can use the events without writing
them. Batches close on user boundaries: a batch holds every event of its users.
"""

from __future__ import annotations

from collections.abc import Iterator

from plg_platform.demo.activity import UserSimulator
from plg_platform.demo.config import (
    DEFAULT_BATCH_SIZE,
    DemoBatch,
    DemoConfig,
    DemoEvent,
    DemoPerson,
)
from plg_platform.demo.population import iter_accounts


def generate(config: DemoConfig, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[DemoBatch]:
    """Yield batches of about ``batch_size`` events with the persons of their users."""
    simulator = UserSimulator(config)
    batch = DemoBatch()
    for account in iter_accounts(config):
        for user in account:
            batch.persons.append(DemoPerson(user.distinct_id, user.person_properties()))
            batch.events.extend(simulator.events(user))
        if len(batch.events) >= batch_size:
            yield batch
            batch = DemoBatch()
    if batch.persons:
        yield batch


def generate_events(
    config: DemoConfig, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[DemoEvent]]:
    """Yield the events only, in batches of about ``batch_size``."""
    for batch in generate(config, batch_size=batch_size):
        yield batch.events


def generate_persons(config: DemoConfig, *, batch_size: int = 1000) -> Iterator[list[DemoPerson]]:
    """Yield the persons (unit properties) only, without simulating any event."""
    persons: list[DemoPerson] = []
    for account in iter_accounts(config):
        persons.extend(DemoPerson(u.distinct_id, u.person_properties()) for u in account)
        if len(persons) >= batch_size:
            yield persons
            persons = []
    if persons:
        yield persons
