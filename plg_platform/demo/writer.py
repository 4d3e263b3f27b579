"""Store generated demo data in a workspace through the ingestion service's bulk path.

Events go through ``events_store`` (the same deduplication by ``insert_id`` as the API, so a
second run stores nothing new) and persons through ``persons_identify``. The generator is
trusted, so its events skip per-event validation: they are built already valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import reset_queries
from tqdm import tqdm

from plg_platform.clock import datetime_from_us
from plg_platform.demo.config import DEFAULT_BATCH_SIZE, DemoConfig
from plg_platform.demo.generator import generate
from plg_platform.models import Event, Person, Workspace
from plg_platform.services.ingestion import EventInput, IngestResult, events_store, persons_identify


@dataclass(frozen=True)
class DemoDataWritten:
    users: int
    events_accepted: int
    events_duplicates: int
    persons_written: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        total = self.events_accepted + self.events_duplicates
        return total / self.seconds if self.seconds > 0 else 0.0


def demo_data_write(
    *,
    workspace: Workspace,
    config: DemoConfig,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
) -> DemoDataWritten:
    """Generate ``config``'s data set into ``workspace``; return what was written.

    ``on_progress(users, events)`` is called after each batch with that batch's counts.
    Each batch is its own transaction, so an interrupted run keeps what it wrote and a rerun
    completes it (already stored events are counted as duplicates).
    """
    started = time.perf_counter()
    result = IngestResult()
    users = persons = 0
    for batch in generate(config, batch_size=batch_size):
        events = [
            # model_construct: the generator's events are valid by construction.
            EventInput.model_construct(
                event=e.event,
                distinct_id=e.distinct_id,
                timestamp=datetime_from_us(e.timestamp_us),
                insert_id=e.insert_id,
                properties=e.properties,
            )
            for e in batch.events
        ]
        events_store(workspace=workspace, events=events, result=result)
        persons += persons_identify(
            workspace=workspace, traits=((p.distinct_id, p.properties) for p in batch.persons)
        )
        users += batch.users
        reset_queries()  # with DEBUG on, Django would keep the last 9,000 (large) statements
        if on_progress is not None:
            on_progress(batch.users, len(batch.events))
    return DemoDataWritten(
        users=users,
        events_accepted=result.accepted,
        events_duplicates=result.duplicates,
        persons_written=persons,
        seconds=time.perf_counter() - started,
    )


def demo_data_write_with_progress(
    *, workspace: Workspace, config: DemoConfig, batch_size: int = DEFAULT_BATCH_SIZE, show: bool
) -> DemoDataWritten:
    """Write the demo data with a tqdm bar over users (events counted in its postfix)."""
    with tqdm(
        total=config.users, unit="user", desc="demo data", disable=not show, dynamic_ncols=True
    ) as bar:
        events = 0

        def progress(users: int, batch_events: int) -> None:
            nonlocal events
            events += batch_events
            bar.update(users)
            bar.set_postfix(events=f"{events:,}", refresh=False)

        return demo_data_write(
            workspace=workspace, config=config, batch_size=batch_size, on_progress=progress
        )


def workspace_data_counts(*, workspace: Workspace) -> tuple[int, int]:
    """Return how many persons and events the workspace holds."""
    persons = Person.objects.filter(workspace=workspace).count()
    return persons, Event.objects.filter(workspace=workspace).count()
