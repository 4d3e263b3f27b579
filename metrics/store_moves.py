"""Moving a workspace's events to another event store (app database, DuckDB, ClickHouse/chdb)
without losing its history or the events that arrive meanwhile.

How a move runs (``store_move_run``), and why:

1. **Clear the target** of the workspace's events and persons. The target is not the
   workspace's store, so anything it holds for the workspace is stale (an earlier move away);
   starting from nothing makes a rerun after a crash exact: no event is stored twice, even one
   without an ``insert_id``, which no dedupe could recognise.
2. **Copy** every event with ``id`` up to a high-water mark taken at the start, in batches of
   ``batch_size`` by keyset on ``id`` (the order they were stored in; memory is one batch),
   through the target's own insert path (its insert_id dedupe). Then **catch up**: copy what
   arrived during the copy (``id`` above the mark), a few passes, each raising the mark.
3. **Copy persons** (keyset on distinct id), right before the switch.
4. **Verify**: the target's count, first and last timestamp and count of insert_ids equal the
   source's up to the mark; persons counts equal. A mismatch fails the move.
5. **Switch** atomically: one UPDATE that changes the store only if it is still the one the
   move started from (a concurrent change fails the move instead of being overwritten).
6. **Tail**: wait ``STORE_MOVE_SETTLE_SECONDS`` (requests that loaded the workspace before the
   switch still write to the old store), then copy the events above the mark, with the
   target's insert_id dedupe (a client retry may have reached both stores).

Ingestion is never paused and never writes twice: until the switch the old store takes every
write, after it the new one (writing to both during the move would double every write's
cost and failure modes, and needs ingestion to know about moves). The price is step 6: events
in flight at the switch reach the new store a few seconds late.

On a failure before the switch the workspace stays on its old store, untouched; the error
names the store that failed (reading the source or writing the target). A failure in step 6
(after the switch) leaves the workspace on the new store with the job failed and the tail's
position kept: running the move job again copies the rest (``store_move_resume``).

One module of about 480 lines on purpose: the steps share one move's state and their order is
the design, read top to bottom; what differs per store is in ``metrics.store_sides``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from metrics.store_sides import MovedEvent, StoreSide, Summary, store_side
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import BackgroundJob, EventStore, JobStatus, Workspace
from plg_platform.services.audit import audit_record
from plg_platform.services.jobs import job_create, job_fail, job_progress, job_start, job_succeed
from plg_platform.services.queue import task_enqueue_on_commit

STORE_MOVE_TASK = "metrics.tasks.move_event_store"
STORE_MOVE_JOB_KIND = "event_store_move"
BATCH_EVENTS = 20_000
BATCH_PERSONS = 5_000
CATCH_UP_PASSES = 5

# What ``to`` may say: the stores, and ``chdb`` for the ClickHouse store (chdb or a server,
# as METRICS_CLICKHOUSE_URL says).
TARGETS = {"app": EventStore.APP, "duckdb": EventStore.DUCKDB, "clickhouse": EventStore.CLICKHOUSE}
TARGETS["chdb"] = EventStore.CLICKHOUSE

UNKNOWN_STORE = "Unknown event store {to!r}: choose one of app, duckdb, chdb (or clickhouse)."
SAME_STORE = "The workspace's events are already in {store}."
NO_CLICKHOUSE = "No ClickHouse store is configured (METRICS_CLICKHOUSE_URL is empty)."
MOVE_RUNNING = "A move of this workspace's events is already queued or running (job {id})."
STORE_CHANGED = (
    "The workspace's event store changed to {now} while the move from {was} ran; nothing was "
    "switched."
)
MISMATCH = (
    "The copy in {target} does not match {source}: {what} is {got} there, {expected} in the "
    "source; the workspace stays on {source}."
)


class StoreMoveError(RuntimeError):
    """A move failed; the message names the store and what went wrong."""


@dataclass
class MoveReport:
    """What a move did, for the job's result and the command's output."""

    source: str
    target: str
    events: int = 0  # copied before the switch
    tail_events: int = 0  # copied after it
    tail_duplicates: int = 0  # already in the target (a retried batch reached both)
    persons: int = 0
    seconds: float = 0.0
    verified: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        rate = self.events / self.seconds if self.seconds else None
        return {
            "from": self.source,
            "to": self.target,
            "events": self.events,
            "tail_events": self.tail_events,
            "tail_duplicates": self.tail_duplicates,
            "persons": self.persons,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(rate) if rate else None,
            "verified": self.verified or {},
        }


# --- request ---------------------------------------------------------------------------------
def store_move_target(*, workspace: Workspace, to: str) -> str:
    """Return the ``EventStore`` value ``to`` names, or raise ``ValidationFailed`` on ``to``."""
    target = TARGETS.get((to or "").strip().lower())
    if target is None:
        raise ValidationFailed(UNKNOWN_STORE.format(to=to), field="to")
    if target == workspace.event_store:
        raise ValidationFailed(SAME_STORE.format(store=EventStore(target).label), field="to")
    if EventStore.CLICKHOUSE in (target, workspace.event_store) and not (
        settings.METRICS_CLICKHOUSE_URL
    ):
        raise ValidationFailed(NO_CLICKHOUSE, field="to")
    return target


def store_move_resumable(*, workspace: Workspace) -> BackgroundJob | None:
    """The workspace's latest move, if it failed after its switch (its tail is not copied)."""
    job = (
        BackgroundJob.objects.filter(workspace=workspace, kind=STORE_MOVE_JOB_KIND)
        .order_by("-created_at")
        .first()
    )
    if job and job.status == JobStatus.FAILED and (job.result or {}).get("phase") == "switched":
        return job
    return None


def store_move_running(*, workspace: Workspace) -> BackgroundJob | None:
    return (
        BackgroundJob.objects.filter(
            workspace=workspace,
            kind=STORE_MOVE_JOB_KIND,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def store_move_create(
    *, workspace: Workspace, to: str, actor: AbstractBaseUser | AnonymousUser | None = None
) -> BackgroundJob:
    """Validate a move of the workspace's events to store ``to`` and create its job (queued);
    one move per workspace at a time."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    workspace.refresh_from_db(fields=["event_store"])
    target = store_move_target(workspace=workspace, to=to)
    running = store_move_running(workspace=workspace)
    if running is not None:
        raise Conflict(MOVE_RUNNING.format(id=running.pk), field="to")
    job = job_create(
        workspace=workspace,
        kind=STORE_MOVE_JOB_KIND,
        subject=f"{workspace.event_store}->{target}",
        actor=actor if isinstance(actor, AbstractBaseUser) else None,
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="event_store.move",
        obj=job,
        changes={"from": workspace.event_store, "to": target},
    )
    return job


def store_move_request(
    *, workspace: Workspace, to: str, actor: AbstractBaseUser | AnonymousUser | None = None
) -> BackgroundJob:
    """Create the move's job and queue its task once the job is committed."""
    with transaction.atomic():
        job = store_move_create(workspace=workspace, to=to, actor=actor)
        task_enqueue_on_commit(STORE_MOVE_TASK, args=[job.pk])
    return job


# --- run -------------------------------------------------------------------------------------
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


def _read(side: StoreSide, what: Callable[[], Any]) -> Any:
    try:
        return what()
    except Exception as error:
        raise StoreMoveError(f"Reading {side.label} failed: {error}") from error


def _write(side: StoreSide, what: Callable[[], Any]) -> Any:
    try:
        return what()
    except Exception as error:
        raise StoreMoveError(f"Writing to {side.label} failed: {error}") from error


def _batch(
    source: StoreSide, workspace_id: int, after: int, upto: int | None, size: int
) -> list[MovedEvent]:
    """The next events after ``after`` in id order; all events sharing the last id come in the
    same batch (ClickHouse's ids may repeat under concurrent writers), so the keyset never
    skips one."""
    rows = _read(source, lambda: source.events(workspace_id, after, upto, size))
    if len(rows) < size or not rows:
        return rows
    last = rows[-1][0]
    same = _read(source, lambda: source.events(workspace_id, last - 1, last, 1_000_000))
    return [r for r in rows if r[0] != last] + same


def copy_events(
    *,
    source: StoreSide,
    target: StoreSide,
    workspace_id: int,
    after: int,
    upto: int | None,
    batch_size: int = BATCH_EVENTS,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[int, int, int]:
    """Copy the events with ``after < id <= upto`` (``upto`` None: all after) in id order;
    return (events read, events the target added, the last id copied). ``on_batch(read,
    last_id)`` runs after each batch is stored."""
    read = added = 0
    while True:
        rows = _batch(source, workspace_id, after, upto, batch_size)
        if not rows:
            return read, added, after
        added += _write(target, partial(target.write_events, workspace_id, rows))
        read += len(rows)
        after = rows[-1][0]
        if on_batch is not None:
            on_batch(len(rows), after)


def copy_persons(
    *, source: StoreSide, target: StoreSide, workspace_id: int, batch_size: int = BATCH_PERSONS
) -> int:
    """Copy every person (keyset on distinct id); return how many."""
    after, copied = "", 0
    while True:
        rows = _read(source, partial(source.persons, workspace_id, after, batch_size))
        if not rows:
            return copied
        _write(target, partial(target.write_persons, workspace_id, rows))
        copied += len(rows)
        after = rows[-1][0]


def _verify(source: StoreSide, target: StoreSide, workspace_id: int, upto: int) -> dict[str, Any]:
    expected: Summary = _read(source, lambda: source.summary(workspace_id, 0, upto))
    got: Summary = _read(target, lambda: target.summary(workspace_id, 0, None))
    for what, e, g in (
        ("the number of events", expected.events, got.events),
        ("the first timestamp (µs)", expected.first_us, got.first_us),
        ("the last timestamp (µs)", expected.last_us, got.last_us),
        ("the number of events with an insert_id", expected.with_insert_id, got.with_insert_id),
        (
            "the number of persons",
            _read(source, lambda: source.persons_count(workspace_id)),
            _read(target, lambda: target.persons_count(workspace_id)),
        ),
    ):
        if e != g:
            raise StoreMoveError(
                MISMATCH.format(
                    target=target.label, source=source.label, what=what, got=g, expected=e
                )
            )
    return expected.as_dict()


def _switch(workspace: Workspace, source: str, target: str) -> None:
    """Change the store only if it is still ``source``, in one statement."""
    with transaction.atomic():
        changed = Workspace.objects.filter(pk=workspace.pk, event_store=source).update(
            event_store=target
        )
        if not changed:
            now = Workspace.objects.filter(pk=workspace.pk).values_list("event_store", flat=True)
            raise StoreMoveError(STORE_CHANGED.format(now=now.first(), was=source))
    workspace.event_store = target


def _save_state(job: BackgroundJob | None, state: dict[str, Any]) -> None:
    if job is not None:
        BackgroundJob.objects.filter(pk=job.pk).update(result=state)


def store_move_run(
    *,
    workspace: Workspace,
    to: str,
    job: BackgroundJob | None = None,
    batch_size: int = BATCH_EVENTS,
    settle_seconds: float | None = None,
    on_progress: Progress = _no_progress,
    on_switched: Callable[[], None] | None = None,
) -> MoveReport:
    """Move the workspace's events and persons to store ``to`` (see the module docstring);
    return what was moved. Raise ``StoreMoveError`` (the workspace still on its old store
    unless the error says otherwise) or ``ValidationFailed`` for a bad ``to``.
    ``on_progress(copied, total)`` runs after each batch, ``on_switched()`` right after the
    switch, before the settle wait."""
    started = time.perf_counter()
    workspace.refresh_from_db(fields=["event_store"])
    target_kind = store_move_target(workspace=workspace, to=to)
    source_kind = workspace.event_store
    ws = workspace.pk
    try:
        source, target = store_side(source_kind, ws), store_side(target_kind, ws)
    except ImproperlyConfigured as error:
        raise StoreMoveError(str(error)) from error
    report = MoveReport(source=source.label, target=target.label)
    state: dict[str, Any] = {"phase": "copying", "from": source_kind, "to": target_kind}

    _write(target, lambda: target.clear(ws))
    mark = _read(source, lambda: source.max_id(ws))
    total = _read(source, lambda: source.summary(ws, 0, mark)).events
    state.update(high_water=mark, total=total)
    _save_state(job, state)
    on_progress(0, total)

    def copied(n: int, last_id: int) -> None:
        report.events += n
        on_progress(report.events, max(total, report.events))

    copy_events(
        source=source, target=target, workspace_id=ws, after=0, upto=mark,
        batch_size=batch_size, on_batch=copied,
    )  # fmt: skip
    for _ in range(CATCH_UP_PASSES):  # what arrived during the copy, while it is worth a pass
        newer = _read(source, lambda: source.max_id(ws))
        if newer <= mark:
            break
        total += _read(source, partial(source.summary, ws, mark, newer)).events
        copy_events(
            source=source, target=target, workspace_id=ws, after=mark, upto=newer,
            batch_size=batch_size, on_batch=copied,
        )  # fmt: skip
        mark = newer
    report.persons = copy_persons(source=source, target=target, workspace_id=ws)
    report.verified = _verify(source, target, ws, mark)

    _switch(workspace, source_kind, target_kind)
    state.update(
        phase="switched",
        high_water=mark,
        tail_after=mark,
        events=report.events,
        persons=report.persons,
        verified=report.verified,
    )
    _save_state(job, state)
    if on_switched is not None:
        on_switched()
    _tail(job, workspace, source, target, state, report, batch_size, settle_seconds)
    report.seconds = time.perf_counter() - started
    return report


def _tail(
    job: BackgroundJob | None,
    workspace: Workspace,
    source: StoreSide,
    target: StoreSide,
    state: dict[str, Any],
    report: MoveReport,
    batch_size: int,
    settle_seconds: float | None,
) -> None:
    """After the switch: wait for writers that still see the old store, then copy what they
    wrote (insert_id dedupe on the target), saving the position after each batch."""
    settle = settings.STORE_MOVE_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    time.sleep(max(0.0, float(settle)))

    def saved(n: int, last_id: int) -> None:
        state["tail_after"] = last_id
        _save_state(job, state)

    try:
        read, added, _ = copy_events(
            source=source, target=target, workspace_id=workspace.pk,
            after=int(state["tail_after"]), upto=None, batch_size=batch_size, on_batch=saved,
        )  # fmt: skip
    except StoreMoveError as error:
        raise StoreMoveError(
            f"The workspace now uses {target.label}, but the events that reached "
            f"{source.label} during the switch (id above {state['tail_after']}) are not all "
            f"copied: {error} Run `manage.py move_event_store --resume` to copy the rest."
        ) from error
    report.tail_events += added
    report.tail_duplicates += read - added
    state["phase"] = "done"
    _save_state(job, state)


def store_move_job_run(
    *,
    job: BackgroundJob,
    settle_seconds: float | None = None,
    batch_size: int = BATCH_EVENTS,
    on_switched: Callable[[], None] | None = None,
) -> MoveReport | None:
    """Run a move job with progress (events copied of the total). Idempotent: a finished job
    is left alone, except one that failed after its switch, whose tail copy resumes; any other
    rerun starts over from an empty target. Any error fails the job with a message naming the
    store."""
    state = dict(job.result or {})
    resumable = job.status == JobStatus.FAILED and state.get("phase") == "switched"
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) and not resumable:
        return None
    workspace = job.workspace
    job_start(job=job, message="Copying events")

    def progress(done: int, total: int) -> None:
        job_progress(
            job=job,
            progress=0.95 * done / total if total else 0.0,
            message=f"Copied {done} of {total} events",
        )

    def switched() -> None:
        job_progress(
            job=job, progress=0.96, message="Switched; copying the events that arrived meanwhile"
        )
        if on_switched is not None:
            on_switched()

    try:
        if state.get("phase") == "switched":
            report = store_move_resume(
                workspace=workspace, job=job, state=state, settle_seconds=0.0
            )
        else:
            _, to = job.subject.split("->")
            report = store_move_run(
                workspace=workspace, to=to, job=job, batch_size=batch_size,
                settle_seconds=settle_seconds, on_progress=progress, on_switched=switched,
            )  # fmt: skip
    except (StoreMoveError, ValidationFailed) as error:
        job_fail(job=job, error=getattr(error, "message", None) or str(error))
        return None
    job_succeed(job=job, result=report.as_dict())
    return report


def store_move_resume(
    *, workspace: Workspace, job: BackgroundJob, state: dict[str, Any], settle_seconds: float
) -> MoveReport:
    """Finish a move whose switch happened but whose tail copy did not."""
    workspace.refresh_from_db(fields=["event_store"])
    if workspace.event_store != state["to"]:
        raise StoreMoveError(STORE_CHANGED.format(now=workspace.event_store, was=state["to"]))
    source = store_side(state["from"], workspace.pk)
    target = store_side(state["to"], workspace.pk)
    report = MoveReport(
        source=source.label,
        target=target.label,
        events=int(state.get("events", 0)),
        persons=int(state.get("persons", 0)),
        verified=state.get("verified"),
    )
    started = time.perf_counter()
    _tail(job, workspace, source, target, state, report, BATCH_EVENTS, settle_seconds)
    report.seconds = time.perf_counter() - started
    return report
