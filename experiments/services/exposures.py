"""Exposures: which variant each unit saw first, and when; the population of every analysis.

Two writers feed the ``Exposure`` table:

* server-side assignment records a unit's exposure as it happens (``exposure_log``);
* ``exposures_sync_from_events`` merges the ``$exposure`` events that clients assigning locally
  (GrowthBook SDKs, through their tracking callback) send through ingestion, in one
  ``INSERT ... SELECT ... ON CONFLICT`` statement, so events never travel to Python.

Both use the same merge rule, which is idempotent and commutative, so re-read events, late
events and concurrent syncs all converge on the same row: the first exposure is the earliest,
its variant and phase come with it, and a unit seen in two different variants is ``excluded``.

The SQL is written here rather than in the metric compiler because it is bookkeeping, not a
metric: Django's ``bulk_create`` cannot express the merge. Every value is a bound parameter;
the JSON property lookups come from the ORM, so one statement runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Length

from experiments.models import Experiment, ExperimentStatus, Exposure, Phase
from experiments.services.queue import SYNC_EXPOSURES, task_enqueue
from plg_platform.models import Event
from plg_platform.services.ingestion import EventInput, IngestResult, events_store, to_epoch_us

EXPOSURE_EVENT = "$exposure"

# Events received this recently wait for the next sync: an ingestion transaction still open
# may yet commit an event with a smaller id than one already visible, and the sync's
# watermark must not pass it.
EVENT_SETTLE_SECONDS = 120

# Each event is folded into one integer, ``timestamp_us * variants + variant_index``, so that
# one MIN() finds a unit's first exposure and its variant together. Far below 2**63 for any
# timestamp before the year 2200 with up to this many variants.
MAX_VARIANTS = 1000

TABLE = Exposure._meta.db_table
UNIT_ID_MAX_LENGTH = Exposure._meta.get_field("unit_id").max_length

# How a new exposure (``excluded``, the row proposed for insertion) merges into a stored one.
_MERGE = f"""
ON CONFLICT (experiment_id, unit_id) DO UPDATE SET
    exposed_at_us = CASE WHEN excluded.exposed_at_us < {TABLE}.exposed_at_us
        THEN excluded.exposed_at_us ELSE {TABLE}.exposed_at_us END,
    variant = CASE WHEN excluded.exposed_at_us < {TABLE}.exposed_at_us
        THEN excluded.variant ELSE {TABLE}.variant END,
    phase_id = CASE WHEN excluded.exposed_at_us < {TABLE}.exposed_at_us
        THEN excluded.phase_id ELSE {TABLE}.phase_id END,
    excluded = ({TABLE}.excluded OR excluded.excluded OR {TABLE}.variant <> excluded.variant)
WHERE excluded.exposed_at_us < {TABLE}.exposed_at_us
    OR (NOT {TABLE}.excluded AND (excluded.excluded OR {TABLE}.variant <> excluded.variant))
"""  # noqa: S608 - only our own table name is interpolated; values are bound parameters

_COLUMNS = "workspace_id, experiment_id, phase_id, unit_id, variant, exposed_at_us, excluded"


@dataclass(frozen=True)
class ExposureSyncResult:
    """What one sync did: units inserted or changed, and the last event id merged in."""

    units_written: int
    through_event_id: int


def current_phase(experiment: Experiment) -> Phase | None:
    return experiment.phases.filter(ended_at__isnull=True).order_by("-number").first()


def _exposure_upsert(
    *, experiment: Experiment, phase: Phase, unit_id: str, variant: str, exposed_at_us: int
) -> int:
    sql = f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) {_MERGE}"  # noqa: S608
    params = [experiment.workspace_id, experiment.pk, phase.pk, unit_id, variant, exposed_at_us]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, False])
        return cursor.rowcount


@transaction.atomic
def exposure_log(
    *, experiment: Experiment, phase: Phase, unit_id: str, variant: str, now: datetime | None = None
) -> bool:
    """Record a server-side exposure of ``unit_id`` to ``variant``; return whether it was news.

    News is the unit's first exposure, or its first to a second variant (which excludes it).
    Either is also stored as an ``$exposure`` event, so event consumers see what SDKs send.
    Repeats write nothing: one indexed read, then return.
    """
    seen = (
        Exposure.objects.filter(experiment=experiment, unit_id=unit_id)
        .values_list("variant", "excluded")
        .first()
    )
    if seen is not None and (seen[0] == variant or seen[1]):
        return False
    moment = now or datetime.now(tz=UTC)
    _exposure_upsert(
        experiment=experiment,
        phase=phase,
        unit_id=unit_id,
        variant=variant,
        exposed_at_us=to_epoch_us(moment),
    )
    events_store(
        workspace=experiment.workspace,
        events=[
            EventInput(
                event=EXPOSURE_EVENT,
                distinct_id=unit_id,
                timestamp=moment,
                insert_id=f"{EXPOSURE_EVENT}:{experiment.key}:{phase.number}:{unit_id}:{variant}"[
                    :200
                ],
                properties={
                    "experiment": experiment.key,
                    "variant": variant,
                    "phase": phase.number,
                    "source": "server",
                },
            )
        ],
        result=IngestResult(),
    )
    return True


def _phase_ranges(phases: Sequence[Phase]) -> list[tuple[int, int | None, int]]:
    """Return ``(start_us, end_us or None, phase id)`` of each phase."""
    return [
        (
            to_epoch_us(p.started_at),
            to_epoch_us(p.ended_at) if p.ended_at is not None else None,
            p.pk,
        )
        for p in phases
    ]


def _variant_keys(experiment: Experiment, phases: Sequence[Phase]) -> list[str]:
    """Every variant the experiment had in any phase, in a stable order."""
    keys = [v.key for v in experiment.variants.all()]
    for phase in phases:
        keys += [k for k in phase.weights if k not in keys]
    return keys


def _exposures_per_unit(
    *,
    experiment: Experiment,
    after_id: int,
    through_id: int,
    ranges: list[tuple[int, int | None, int]],
    variant_keys: list[str],
) -> QuerySet[Event, dict[str, Any]]:
    """Per unit, from this experiment's ``$exposure`` events in ``(after_id, through_id]`` that
    fall inside a phase and name a known variant: the first exposure time and variant index,
    and the lowest and highest variant index seen (they differ for a multiple exposure)."""
    variant_index = Case(
        *(When(properties__variant=key, then=Value(i)) for i, key in enumerate(variant_keys)),
        output_field=BigIntegerField(),
    )
    in_a_phase = Q()
    for start, end, _ in ranges:
        in_a_phase |= Q(timestamp_us__gte=start) & (
            Q(timestamp_us__lt=end) if end is not None else Q()
        )
    n = len(variant_keys)
    return (
        Event.objects.filter(
            workspace_id=experiment.workspace_id,
            event=EXPOSURE_EVENT,
            id__gt=after_id,
            id__lte=through_id,
        )
        .filter(
            in_a_phase,
            properties__experiment=experiment.key,
            properties__variant__in=variant_keys,
        )
        .annotate(
            # Clients hashing on another unit (an account) name it; else the unit is the user.
            unit=Coalesce(KT("properties__unit_id"), F("distinct_id"), output_field=CharField()),
            unit_length=Length("unit"),
        )
        # A unit id that does not fit the column would fail every later sync: skip it.
        .filter(unit_length__gte=1, unit_length__lte=UNIT_ID_MAX_LENGTH)
        .values("unit")
        .annotate(
            first_code=Min(F("timestamp_us") * n + variant_index, output_field=BigIntegerField()),
            lowest=Min(variant_index),
            highest=Max(variant_index),
        )
        .order_by()
    )


def _insert_select_sql(
    *,
    experiment: Experiment,
    per_unit: QuerySet[Event, dict[str, Any]],
    ranges: list[tuple[int, int | None, int]],
    variant_keys: list[str],
) -> tuple[str, list[Any]]:
    select_sql, select_params = per_unit.query.get_compiler(connection=connection).as_sql()
    n = len(variant_keys)
    first_us = f"(per_unit.first_code / {n})"
    first_index = f"(per_unit.first_code - {first_us} * {n})"
    # The phase and variant of each unit's first exposure, decoded from ``first_code``.
    phase_whens, phase_params = [], []
    for start, end, phase_id in ranges:
        if end is None:
            phase_whens.append(f"WHEN {first_us} >= %s THEN %s")
            phase_params += [start, phase_id]
        else:
            phase_whens.append(f"WHEN {first_us} >= %s AND {first_us} < %s THEN %s")
            phase_params += [start, end, phase_id]
    phase_case = f"CASE {' '.join(phase_whens)} END"
    variant_case = f"CASE {first_index} {' '.join('WHEN %s THEN %s' for _ in variant_keys)} END"
    variant_params = [x for i, key in enumerate(variant_keys) for x in (i, key)]
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
    sql = (
        f"INSERT INTO {TABLE} ({_COLUMNS}) "  # noqa: S608 - identifiers are ours, values bound
        f"SELECT %s, %s, {phase_case}, per_unit.unit, {variant_case}, {first_us}, "
        f"per_unit.lowest <> per_unit.highest "
        f"FROM ({select_sql}) per_unit WHERE true {_MERGE}"
    )
    params = [
        experiment.workspace_id,
        experiment.pk,
        *phase_params,
        *variant_params,
        *select_params,
    ]
    return sql, params


def exposures_sync_from_events(
    *,
    experiment: Experiment,
    full: bool = False,
    now: datetime | None = None,
    include_settling: bool = False,
) -> ExposureSyncResult:
    """Merge the ``$exposure`` events received since the last sync into ``Exposure``.

    Runs as one statement inside the database; memory does not grow with events or units.
    ``full`` re-reads every event of the experiment (safe: the merge is idempotent), e.g. to
    reconcile after variants were renamed. Events outside every phase, or naming a variant the
    experiment never had, are ignored.

    ``include_settling`` (an analysis about to run) also merges the events received in the last
    ``EVENT_SETTLE_SECONDS``, so a refresh right after exposures arrive analyses them; the
    watermark still stops at the settled events, and the next sync merges the settling ones
    again, which changes nothing (the merge is idempotent) except for an event that committed
    late with a smaller id, which it now picks up.
    """
    phases = list(experiment.phases.order_by("number"))
    after_id = 0 if full else experiment.exposures_synced_through_event_id
    if not phases:
        return ExposureSyncResult(units_written=0, through_event_id=after_id)
    variant_keys = _variant_keys(experiment, phases)
    if len(variant_keys) > MAX_VARIANTS:
        raise ValueError(f"At most {MAX_VARIANTS} variants can be synced.")
    new_events = Event.objects.filter(
        workspace_id=experiment.workspace_id, event=EXPOSURE_EVENT, id__gt=after_id
    )
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(seconds=EVENT_SETTLE_SECONDS)
    through_id = new_events.filter(received_at__lte=cutoff).aggregate(last=Max("id"))["last"]
    merge_through = new_events.aggregate(last=Max("id"))["last"] if include_settling else through_id
    if merge_through is None:
        return ExposureSyncResult(units_written=0, through_event_id=after_id)
    ranges = _phase_ranges(phases)
    per_unit = _exposures_per_unit(
        experiment=experiment,
        after_id=after_id,
        through_id=merge_through,
        ranges=ranges,
        variant_keys=variant_keys,
    )
    sql, params = _insert_select_sql(
        experiment=experiment, per_unit=per_unit, ranges=ranges, variant_keys=variant_keys
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written = max(cursor.rowcount, 0)
        if through_id is not None:
            # Only ever forward: a concurrent sync that got further keeps its watermark.
            Experiment.objects.filter(
                pk=experiment.pk, exposures_synced_through_event_id__lt=through_id
            ).update(exposures_synced_through_event_id=through_id)
    through_id = through_id if through_id is not None else after_id
    experiment.exposures_synced_through_event_id = max(
        experiment.exposures_synced_through_event_id, through_id
    )
    return ExposureSyncResult(units_written=written, through_event_id=through_id)


def exposures_sync_request_running() -> int:
    """Queue an exposure sync of every running experiment; return how many were queued.
    Experiments analysed from an event source read its exposure table instead: none for them."""
    ids = list(
        Experiment.objects.filter(status=ExperimentStatus.RUNNING, source__isnull=True).values_list(
            "pk", flat=True
        )
    )
    for experiment_id in ids:  # nothing written here, so nothing to wait for
        task_enqueue(SYNC_EXPOSURES, args=[experiment_id])
    return len(ids)
