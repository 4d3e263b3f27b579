"""Writes of holdouts: create, change (name, end), and the units seen while one runs.

A holdout's share, seed, hash attribute and start are fixed once it has started: changing any
of them would move units between the arms mid-period. Every change writes an audit record.

Units seen are recorded in ``HoldoutUnit`` by two writers, with the merge rule of exposures
(the earliest sighting wins): server-side assignment (``holdout_unit_log``), and
``holdout_units_sync_from_events``, which merges the ``$exposure`` events SDKs send for the
holdout (``experiment`` = ``$holdout:<key>``, its tracking key, which no experiment key can
clash with; ``variant`` = ``holdout`` or ``general``) in one
``INSERT ... SELECT`` statement, so events never travel to Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, CharField, F, Max, Min, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Length

from experiments.assignment import GENERAL_ARM, HOLDOUT_ARM, HOLDOUT_FEATURE_PREFIX
from experiments.holdouts.impact import impact_report
from experiments.holdouts.models import Holdout, HoldoutReport, HoldoutUnit
from experiments.services.exposures import EVENT_SETTLE_SECONDS, EXPOSURE_EVENT
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import Event, Workspace
from plg_platform.services.audit import audit_record
from plg_platform.services.ingestion import EventInput, IngestResult, events_store, to_epoch_us

Actor = AbstractBaseUser | AnonymousUser | None

# Buckets are multiples of 1/10000 (GrowthBook hash version 2): a finer share cannot be served.
SHARE_RESOLUTION = 10_000
MAX_SHARE = 0.5
# A start this far in the past is refused: units assigned meanwhile were not held out.
START_GRACE = timedelta(minutes=5)

BAD_SHARE = "share must be above 0 and at most 0.5 (e.g. 0.05 for 5% of units)."
SHARE_TOO_FINE = "share must be a multiple of 0.0001 (the SDKs hash units into 10,000 buckets)."
BAD_PERIOD = "ends_at must be after starts_at."
START_IN_PAST = "starts_at cannot be in the past: units assigned since then were not held out."
OVERLAP = "Another holdout ({key}) runs during this period; one workspace has one at a time."
KEY_TAKEN = "A holdout with this key already exists in this workspace."
STARTED_FIXED = "{field} cannot change once the holdout has started: units would change arms."
ENDS_IN_PAST = "ends_at cannot be moved into the past; to end the holdout now, use end."
ALREADY_ENDED = "The holdout has already ended."
BAD_ATTRIBUTE = "hash_attribute must be a unit property name, e.g. id."
UNIT_ID_MAX_LENGTH = int(HoldoutUnit._meta.get_field("unit_id").max_length or 200)
ARMS = (HOLDOUT_ARM, GENERAL_ARM)


def tracking_key(holdout: Holdout) -> str:
    """The holdout's experiment key in SDK tracking and ``$exposure`` events."""
    return f"{HOLDOUT_FEATURE_PREFIX}{holdout.key}"


@dataclass(frozen=True)
class HoldoutInput:
    key: str
    name: str
    share: float
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    hash_attribute: str = "id"
    # Empty: a random seed. Given: units are picked as by any holdout hashed with it (the demo
    # data plant a holdout with a known seed).
    hash_seed: str = ""


def _validate_share(share: float) -> None:
    if not (0 < share <= MAX_SHARE):
        raise ValidationFailed(BAD_SHARE, field="share")
    if abs(share * SHARE_RESOLUTION - round(share * SHARE_RESOLUTION)) > 1e-9:
        raise ValidationFailed(SHARE_TOO_FINE, field="share")


def _check_overlap(
    *, workspace: Workspace, starts_at: datetime, ends_at: datetime, exclude_id: int | None
) -> None:
    overlapping = Holdout.objects.filter(
        workspace=workspace, starts_at__lt=ends_at, ends_at__gt=starts_at
    )
    if exclude_id is not None:
        overlapping = overlapping.exclude(pk=exclude_id)
    clash = overlapping.first()
    if clash is not None:
        raise ValidationFailed(OVERLAP.format(key=clash.key), field="starts_at")


@transaction.atomic
def holdout_create(
    *, workspace: Workspace, data: HoldoutInput, actor: Actor, now: datetime | None = None
) -> Holdout:
    """Create a holdout for ``[starts_at, ends_at)``; it takes effect at its start."""
    moment = now or datetime.now(tz=UTC)
    _validate_share(data.share)
    if not data.hash_attribute.strip() or data.hash_attribute.startswith("$"):
        raise ValidationFailed(BAD_ATTRIBUTE, field="hash_attribute")
    if data.ends_at <= data.starts_at:
        raise ValidationFailed(BAD_PERIOD, field="ends_at")
    if data.starts_at < moment - START_GRACE:
        raise ValidationFailed(START_IN_PAST, field="starts_at")
    if Holdout.objects.filter(workspace=workspace, key=data.key).exists():
        raise ValidationFailed(KEY_TAKEN, field="key")
    _check_overlap(
        workspace=workspace, starts_at=data.starts_at, ends_at=data.ends_at, exclude_id=None
    )
    holdout = Holdout(
        workspace=workspace,
        key=data.key,
        name=data.name,
        description=data.description,
        share=data.share,
        hash_attribute=data.hash_attribute.strip(),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        created_by_id=actor.pk if actor is not None and actor.is_authenticated else None,
    )
    if data.hash_seed:
        holdout.hash_seed = data.hash_seed
    holdout.full_clean()
    holdout.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="holdout.create",
        obj=holdout,
        changes={
            "key": holdout.key,
            "share": holdout.share,
            "starts_at": holdout.starts_at.isoformat(),
            "ends_at": holdout.ends_at.isoformat(),
        },
    )
    return holdout


@transaction.atomic
def holdout_update(
    *, holdout: Holdout, changes: dict[str, Any], actor: Actor, now: datetime | None = None
) -> Holdout:
    """Change ``name``, ``description``, ``ends_at`` (never into the past) and, before the
    start only, ``share``, ``starts_at`` and ``hash_attribute``."""
    moment = now or datetime.now(tz=UTC)
    holdout = Holdout.objects.select_for_update().get(pk=holdout.pk)
    started = holdout.starts_at <= moment
    before: dict[str, Any] = {}
    for field in ("share", "starts_at", "hash_attribute"):
        if field in changes and changes[field] != getattr(holdout, field) and started:
            raise Conflict(STARTED_FIXED.format(field=field), field=field)
    if "share" in changes:
        _validate_share(changes["share"])
    if "ends_at" in changes and changes["ends_at"] != holdout.ends_at:
        if holdout.ends_at <= moment:
            raise Conflict(ALREADY_ENDED, field="ends_at")
        if changes["ends_at"] < moment:
            raise ValidationFailed(ENDS_IN_PAST, field="ends_at")
    starts_at = changes.get("starts_at", holdout.starts_at)
    ends_at = changes.get("ends_at", holdout.ends_at)
    if ends_at <= starts_at:
        raise ValidationFailed(BAD_PERIOD, field="ends_at")
    if not started and starts_at < moment - START_GRACE:
        raise ValidationFailed(START_IN_PAST, field="starts_at")
    _check_overlap(
        workspace=holdout.workspace, starts_at=starts_at, ends_at=ends_at, exclude_id=holdout.pk
    )
    for field, value in changes.items():
        if getattr(holdout, field) != value:
            before[field] = getattr(holdout, field)
            setattr(holdout, field, value)
    if not before:
        return holdout
    holdout.full_clean()
    holdout.save(update_fields=[*before, "updated_at"])
    audit_record(
        workspace=holdout.workspace,
        actor=actor,
        action="holdout.update",
        obj=holdout,
        changes={
            field: {"from": _jsonable(old), "to": _jsonable(getattr(holdout, field))}
            for field, old in before.items()
        },
    )
    return holdout


def holdout_end(*, holdout: Holdout, actor: Actor, now: datetime | None = None) -> Holdout:
    """End a running holdout now: its units join experiments again from this moment."""
    moment = now or datetime.now(tz=UTC)
    if holdout.ends_at <= moment:
        raise Conflict(ALREADY_ENDED, field="ends_at")
    if holdout.starts_at > moment:
        # Not started yet: ending it means it never runs; shrink it to nothing is not allowed
        # by the period constraint, so move the start too.
        return holdout_update(
            holdout=holdout,
            changes={"starts_at": moment, "ends_at": moment + timedelta(microseconds=1)},
            actor=actor,
            now=moment,
        )
    return holdout_update(holdout=holdout, changes={"ends_at": moment}, actor=actor, now=moment)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- Units seen ------------------------------------------------------------------------------

TABLE = HoldoutUnit._meta.db_table
_COLUMNS = "workspace_id, holdout_id, unit_id, arm, first_seen_us"
# The earliest sighting wins (idempotent and commutative, like the exposures' merge).
_MERGE = f"""
ON CONFLICT (holdout_id, unit_id) DO UPDATE SET
    first_seen_us = excluded.first_seen_us, arm = excluded.arm
WHERE excluded.first_seen_us < {TABLE}.first_seen_us
"""  # noqa: S608 - only our own table name is interpolated; values are bound parameters


@transaction.atomic
def holdout_unit_log(
    *, holdout: Holdout, unit_id: str, arm: str, now: datetime | None = None
) -> bool:
    """Record that server-side assignment saw ``unit_id`` (in ``arm``) during the holdout;
    return whether it was news. News is also stored as an ``$exposure`` event of the holdout,
    the event SDKs send. Repeats write nothing."""
    if arm not in ARMS or not unit_id or len(unit_id) > UNIT_ID_MAX_LENGTH:
        return False
    if HoldoutUnit.objects.filter(holdout=holdout, unit_id=unit_id).exists():
        return False
    moment = now or datetime.now(tz=UTC)
    sql = f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s) {_MERGE}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [holdout.workspace_id, holdout.pk, unit_id, arm, to_epoch_us(moment)])
    events_store(
        workspace=holdout.workspace,
        events=[
            EventInput(
                event=EXPOSURE_EVENT,
                distinct_id=unit_id,
                timestamp=moment,
                insert_id=f"{EXPOSURE_EVENT}:holdout:{holdout.key}:{unit_id}"[:200],
                properties={
                    "experiment": tracking_key(holdout),
                    "variant": arm,
                    "source": "server",
                },
            )
        ],
        result=IngestResult(),
    )
    return True


@dataclass(frozen=True)
class HoldoutSyncResult:
    units_written: int
    through_event_id: int


def holdout_units_sync_from_events(
    *, holdout: Holdout, now: datetime | None = None, include_settling: bool = False
) -> HoldoutSyncResult:
    """Merge the holdout's ``$exposure`` events received since the last sync into
    ``HoldoutUnit``, in one statement (memory does not grow with events or units). Events
    outside the period or naming another arm are ignored. ``include_settling`` as for
    ``exposures_sync_from_events``: a report about to be computed merges the newest events too,
    without moving the watermark past them."""
    after_id = holdout.units_synced_through_event_id
    new_events = Event.objects.filter(
        workspace_id=holdout.workspace_id, event=EXPOSURE_EVENT, id__gt=after_id
    )
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(seconds=EVENT_SETTLE_SECONDS)
    through_id = new_events.filter(received_at__lte=cutoff).aggregate(last=Max("id"))["last"]
    merge_through = new_events.aggregate(last=Max("id"))["last"] if include_settling else through_id
    if merge_through is None:
        return HoldoutSyncResult(units_written=0, through_event_id=after_id)
    arm_index = Case(
        *(When(properties__variant=arm, then=Value(i)) for i, arm in enumerate(ARMS)),
        output_field=BigIntegerField(),
    )
    per_unit = (
        new_events.filter(
            id__lte=merge_through,
            timestamp_us__gte=to_epoch_us(holdout.starts_at),
            timestamp_us__lt=to_epoch_us(holdout.ends_at),
            properties__experiment=tracking_key(holdout),
            properties__variant__in=list(ARMS),
        )
        .annotate(
            unit=Coalesce(KT("properties__unit_id"), F("distinct_id"), output_field=CharField()),
            unit_length=Length("unit"),
        )
        .filter(unit_length__gte=1, unit_length__lte=UNIT_ID_MAX_LENGTH)
        .values("unit")
        # One integer per event, timestamp × 2 + arm: one MIN() finds the first sighting and
        # its arm together.
        .annotate(first_code=Min(F("timestamp_us") * 2 + arm_index, output_field=BigIntegerField()))
        .order_by()
    )
    select_sql, select_params = per_unit.query.get_compiler(connection=connection).as_sql()
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
    sql = (
        f"INSERT INTO {TABLE} ({_COLUMNS}) "  # noqa: S608 - identifiers are ours, values bound
        "SELECT %s, %s, per_unit.unit, "
        "CASE per_unit.first_code - (per_unit.first_code / 2) * 2 WHEN 0 THEN %s ELSE %s END, "
        f"per_unit.first_code / 2 FROM ({select_sql}) per_unit WHERE true {_MERGE}"
    )
    params = [holdout.workspace_id, holdout.pk, *ARMS, *select_params]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written = max(cursor.rowcount, 0)
        if through_id is not None:
            Holdout.objects.filter(
                pk=holdout.pk, units_synced_through_event_id__lt=through_id
            ).update(units_synced_through_event_id=through_id)
    through = through_id if through_id is not None else after_id
    holdout.units_synced_through_event_id = max(holdout.units_synced_through_event_id, through)
    return HoldoutSyncResult(units_written=written, through_event_id=through)


# --- Impact reports ---------------------------------------------------------------------------


def holdout_report_create(*, holdout: Holdout, now: datetime | None = None) -> HoldoutReport:
    """Sync the units seen, compare the holdout with everyone else as of now (or the end, once
    it has passed) and store the report; ``final`` once the period is over."""
    moment = now or datetime.now(tz=UTC)
    holdout_units_sync_from_events(holdout=holdout, now=moment, include_settling=True)
    cutoff = min(moment, holdout.ends_at)
    report = impact_report(holdout=holdout, cutoff=cutoff)
    return HoldoutReport.objects.create(
        holdout=holdout,
        data_cutoff=cutoff,
        final=moment >= holdout.ends_at,
        results=report.to_json(),
    )


def holdout_reports_due(*, now: datetime | None = None) -> list[int]:
    """Holdouts that need a report: every running one, and every ended one without a final
    report (its end-of-period comparison)."""
    moment = now or datetime.now(tz=UTC)
    running = Holdout.objects.filter(starts_at__lte=moment, ends_at__gt=moment)
    ended = Holdout.objects.filter(ends_at__lte=moment).exclude(reports__final=True)
    return sorted(
        set(running.values_list("pk", flat=True)) | set(ended.values_list("pk", flat=True))
    )
