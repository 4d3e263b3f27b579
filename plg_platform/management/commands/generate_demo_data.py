"""``manage.py generate_demo_data --workspace SLUG --users N --days D --seed S``.

Generate the demo document tool's users and events (see ``docs/demo-data.md``) into a
workspace, with a progress bar. The same arguments always give the same data; running twice
stores nothing new (events are deduplicated by ``insert_id``).
"""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plg_platform.demo.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DAYS,
    DEFAULT_SEED,
    DEFAULT_USERS,
    DemoConfig,
)
from plg_platform.demo.writer import demo_data_write_with_progress
from plg_platform.models import Workspace

END_NEEDS_TIME_ZONE = "--end needs a time zone, e.g. 2026-11-01T00:00:00+00:00."


def parse_end(value: str | None) -> datetime | None:
    """Return the aware datetime in ``value`` (ISO 8601), or None for "now"."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--end: {exc}") from exc
    if moment.tzinfo is None:
        raise CommandError(END_NEEDS_TIME_ZONE)
    return moment


def demo_config(*, users: int, days: int, seed: int, end: datetime | None) -> DemoConfig:
    """Return the config, turning a bad value into a command error."""
    try:
        if end is None:
            return DemoConfig(users=users, days=days, seed=seed)
        return DemoConfig(users=users, days=days, seed=seed, end=end)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "Generate realistic demo events and persons (deterministic for a seed) into a workspace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Slug of the workspace to fill.")
        parser.add_argument("--users", type=int, default=DEFAULT_USERS)
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument(
            "--end", help="ISO 8601 cut-off with a time zone (default: now, to the minute)."
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **options) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        config = demo_config(
            users=options["users"],
            days=options["days"],
            seed=options["seed"],
            end=parse_end(options["end"]),
        )
        written = demo_data_write_with_progress(
            workspace=workspace,
            config=config,
            batch_size=options["batch_size"],
            show=not options["no_progress"],
        )
        self.stdout.write(
            f"{written.users} users, {written.events_accepted} events stored "
            f"({written.events_duplicates} already there), {written.persons_written} persons, "
            f"in {written.seconds:.1f} s ({written.events_per_second:,.0f} events/s); "
            f"seed {config.seed}, {config.days} days up to {config.end.isoformat()}"
        )
