"""``manage.py move_event_store --workspace SLUG --to duckdb|chdb|app``: move a workspace's
events to another store in this process, with progress, and print the report as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from metrics.store_moves import (
    BATCH_EVENTS,
    TARGETS,
    store_move_create,
    store_move_job_run,
    store_move_resumable,
)
from plg_platform.errors import DomainError
from plg_platform.models import BackgroundJob, Workspace


class Command(BaseCommand):
    help = "Move a workspace's stored events and persons to another event store, then switch."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--to", choices=sorted(TARGETS), help="The store to move to.")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Copy the rest of a move that failed after its switch.",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_EVENTS)
        parser.add_argument(
            "--settle-seconds",
            type=float,
            default=None,
            help="Wait after the switch (default STORE_MOVE_SETTLE_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"workspace: no workspace with slug {options['workspace']!r}.")
        if options["batch_size"] < 1:
            raise CommandError("batch-size: must be at least 1.")
        if options["resume"]:
            job = store_move_resumable(workspace=workspace)
            if job is None:
                raise CommandError("resume: this workspace has no move to finish.")
        elif not options["to"]:
            raise CommandError("to: say which store to move to (or --resume).")
        else:
            try:
                job = store_move_create(workspace=workspace, to=options["to"])
            except DomainError as error:
                raise CommandError(f"{error.field}: {error.message}") from error
        subject = job.subject

        def switched() -> None:
            self.stderr.write(f"Switched to {subject.split('->')[-1]}; copying the tail.")

        report = store_move_job_run(
            job=job,
            settle_seconds=options["settle_seconds"],
            batch_size=options["batch_size"],
            on_switched=switched,
        )
        job = BackgroundJob.objects.get(pk=job.pk)
        if report is None:
            raise CommandError(job.error or f"The move's job {job.pk} is {job.status}.")
        self.stdout.write(json.dumps({"job": job.pk, **report.as_dict()}))
