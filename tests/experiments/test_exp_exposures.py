"""Exposures: server-side first exposures, bulk merge of SDK ``$exposure`` events, exclusions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from experiments.models import Experiment, Exposure, Phase
from experiments.selectors import exposure_counts
from experiments.services.assignment import unit_assign
from experiments.services.design import (
    ExperimentDesign,
    VariantSpec,
    experiment_create,
    experiment_update,
)
from experiments.services.exposures import (
    EVENT_SETTLE_SECONDS,
    EXPOSURE_EVENT,
    exposures_sync_from_events,
)
from experiments.services.lifecycle import experiment_start
from experiments.tasks import sync_exposures, sync_exposures_of_running_experiments
from plg_platform.celery import app as celery_app
from plg_platform.models import Event
from plg_platform.services.ingestion import events_ingest, to_epoch_us
from tests.worker import wait_for

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def _running(workspace, make_metric, *, key: str = "checkout-copy") -> Experiment:
    make_metric(workspace, f"{key}-aha")
    design = ExperimentDesign(
        key=key,
        name="Checkout copy",
        hypothesis_change="clearer checkout copy",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("treatment", 0.5)),
        primary_metric=f"{key}-aha",
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    # A fixed start, so that event times can be placed inside or outside the phase exactly.
    Phase.objects.filter(experiment=experiment).update(started_at=T0)
    return experiment


def _exposure_event(
    unit: str, variant: str, seconds: float, *, experiment: str = "checkout-copy", **properties
) -> dict:
    return {
        "event": EXPOSURE_EVENT,
        "distinct_id": unit,
        "timestamp": (T0 + timedelta(seconds=seconds)).isoformat(),
        "properties": {"experiment": experiment, "variant": variant, **properties},
    }


def _settled() -> datetime:
    """A sync time late enough for every event ingested so far to count as settled."""
    return timezone.now() + timedelta(seconds=EVENT_SETTLE_SECONDS + 1)


def _us(seconds: float) -> int:
    return to_epoch_us(T0 + timedelta(seconds=seconds))


def _rows(experiment: Experiment) -> dict[str, tuple[str, int, bool, int]]:
    return {
        e.unit_id: (e.variant, e.exposed_at_us, e.excluded, e.phase.number)
        for e in Exposure.objects.filter(experiment=experiment).select_related("phase")
    }


def test_exposure_table_has_the_columns_the_metric_compiler_reads():
    with connection.cursor() as cursor:
        columns = {
            c.name
            for c in connection.introspection.get_table_description(cursor, "experiments_exposure")
        }

    assert Exposure._meta.db_table == "experiments_exposure"
    assert {"experiment_id", "unit_id", "variant", "exposed_at_us", "excluded"} <= columns


def test_server_assignment_stores_the_first_exposure_and_ignores_repeats(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    first_seen = T0 + timedelta(minutes=5)

    first = unit_assign(experiment=experiment, unit_id="u-1", now=first_seen)
    again = unit_assign(experiment=experiment, unit_id="u-1", now=first_seen + timedelta(days=1))

    assert first == again
    assert _rows(experiment) == {"u-1": (first.variant, to_epoch_us(first_seen), False, 1)}
    assert Event.objects.filter(event=EXPOSURE_EVENT, distinct_id="u-1").count() == 1


def test_assignment_endpoint_logs_one_exposure_per_unit_and_none_when_asked_not_to(
    editor, workspace, make_metric
):
    experiment = _running(workspace, make_metric)
    url = f"/api/v1/experiments/{experiment.key}/assignment"

    for _ in range(3):
        editor.client.get(url, {"unit_id": "u-1"})
    editor.client.get(url, {"unit_id": "u-2", "log_exposure": "false"})

    assert list(Exposure.objects.values_list("unit_id", flat=True)) == ["u-1"]


def test_sync_merges_exposure_events_into_one_row_per_unit(workspace, other_workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(
        workspace=workspace,
        raw_events=[
            _exposure_event("a", "control", 10),
            _exposure_event("a", "control", 5),  # arrives later, happened earlier: it is first
            _exposure_event("b", "treatment", 3),
            _exposure_event("b", "control", 7),  # a second variant: b is excluded
            _exposure_event("c", "bogus", 4),  # not a variant of this experiment
            _exposure_event("d", "control", 4, experiment="another-test"),
            _exposure_event("e", "control", -1),  # before the experiment started
            _exposure_event("user-f", "treatment", 8, unit_id="account-f"),  # hashed on account
            _exposure_event("user-h", "control", 9, unit_id="x" * 201),  # no such unit id
        ],
    )
    events_ingest(workspace=other_workspace, raw_events=[_exposure_event("g", "control", 4)])

    result = exposures_sync_from_events(experiment=experiment, now=_settled())

    assert _rows(experiment) == {
        "a": ("control", _us(5), False, 1),
        "b": ("treatment", _us(3), True, 1),
        "account-f": ("treatment", _us(8), False, 1),
    }
    assert result.units_written == 3
    assert result.through_event_id == Event.objects.filter(workspace=workspace).latest("id").pk
    experiment.refresh_from_db()
    assert experiment.exposures_synced_through_event_id == result.through_event_id


def test_later_syncs_merge_only_new_events_and_full_resync_changes_nothing(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(
        workspace=workspace,
        raw_events=[_exposure_event("a", "control", 10), _exposure_event("b", "treatment", 20)],
    )
    exposures_sync_from_events(experiment=experiment, now=_settled())
    nothing_new = exposures_sync_from_events(experiment=experiment, now=_settled())
    events_ingest(
        workspace=workspace,
        raw_events=[
            _exposure_event("a", "treatment", 30),  # a now saw both variants
            _exposure_event("b", "treatment", 2),  # a late event moves b's first exposure earlier
            _exposure_event("c", "control", 40),
        ],
    )

    second = exposures_sync_from_events(experiment=experiment, now=_settled())
    full = exposures_sync_from_events(experiment=experiment, full=True, now=_settled())

    assert nothing_new.units_written == 0
    assert second.units_written == 3
    assert full.units_written == 0  # re-reading every event is a no-op
    assert _rows(experiment) == {
        "a": ("control", _us(10), True, 1),
        "b": ("treatment", _us(2), False, 1),
        "c": ("control", _us(40), False, 1),
    }


def test_sdk_event_in_another_variant_excludes_a_server_assigned_unit(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    assigned = unit_assign(experiment=experiment, unit_id="u-1", now=T0 + timedelta(seconds=60))
    other = "treatment" if assigned.variant == "control" else "control"

    rereading_own_event = exposures_sync_from_events(experiment=experiment, now=_settled())
    events_ingest(workspace=workspace, raw_events=[_exposure_event("u-1", other, 90)])
    exposures_sync_from_events(experiment=experiment, now=_settled())

    assert rereading_own_event.units_written == 0
    assert _rows(experiment) == {"u-1": (assigned.variant, _us(60), True, 1)}


def test_events_still_settling_wait_for_the_next_sync(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(workspace=workspace, raw_events=[_exposure_event("a", "control", 10)])

    early = exposures_sync_from_events(experiment=experiment, now=timezone.now())
    later = exposures_sync_from_events(experiment=experiment, now=_settled())

    assert (early.units_written, early.through_event_id) == (0, 0)
    assert later.units_written == 1


def test_each_unit_is_attributed_to_the_phase_of_its_first_exposure(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    experiment_update(
        experiment=experiment,
        changes={
            "variants": (
                VariantSpec("control", 0.2, is_control=True),
                VariantSpec("treatment", 0.8),
            )
        },
        actor=None,
        phase_reason="Ramp up",
    )
    Phase.objects.filter(experiment=experiment, number=1).update(
        started_at=T0, ended_at=T0 + timedelta(hours=1)
    )
    Phase.objects.filter(experiment=experiment, number=2).update(started_at=T0 + timedelta(hours=1))
    events_ingest(
        workspace=workspace,
        raw_events=[
            _exposure_event("early", "control", 60),
            _exposure_event("late", "treatment", 3600),  # the first microsecond of phase 2
            _exposure_event("both", "treatment", 3599),
            _exposure_event("both", "treatment", 7200),
        ],
    )

    exposures_sync_from_events(experiment=experiment, now=_settled())

    assert _rows(experiment) == {
        "early": ("control", _us(60), False, 1),
        "late": ("treatment", _us(3600), False, 2),
        "both": ("treatment", _us(3599), False, 1),
    }


def test_sync_runs_in_the_database_with_a_fixed_number_of_queries(
    workspace, make_metric, django_assert_num_queries
):
    """Thousands of events, a handful of queries: events never travel to Python one by one."""
    experiment = _running(workspace, make_metric)
    rng = random.Random(11)
    events, truth = [], {}
    for _ in range(3000):
        unit = f"u{rng.randrange(800)}"
        usual, other = ("control", "treatment")[:: 1 if int(unit[1:]) % 2 else -1]
        variant = usual if rng.random() < 0.98 else other  # about 2% see the other variant
        us = _us(rng.randrange(1, 86_400))
        events.append(
            Event(
                workspace=workspace,
                event=EXPOSURE_EVENT,
                distinct_id=unit,
                timestamp_us=us,
                properties={"experiment": experiment.key, "variant": variant},
            )
        )
        first_us, first_variant, variants = truth.get(unit, (us + 1, variant, set()))
        if (us, variant) < (first_us, first_variant):
            first_us, first_variant = us, variant
        truth[unit] = (first_us, first_variant, variants | {variant})
    Event.objects.bulk_create(events)
    Event.objects.update(received_at=timezone.now() - timedelta(hours=1))

    # Phases, variants, the last settled event id, then INSERT ... SELECT and the watermark
    # update inside a savepoint (SAVEPOINT, RELEASE): seven, however many events there are.
    with django_assert_num_queries(7):
        result = exposures_sync_from_events(experiment=experiment)

    expected = {
        unit: (variant, us, len(variants) > 1, 1) for unit, (us, variant, variants) in truth.items()
    }
    assert result.units_written == len(truth)
    assert _rows(experiment) == expected


def test_exposure_counts_split_included_units_by_phase_and_variant(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(
        workspace=workspace,
        raw_events=[
            _exposure_event("a", "control", 1),
            _exposure_event("b", "control", 2),
            _exposure_event("c", "treatment", 3),
            _exposure_event("d", "treatment", 4),
            _exposure_event("d", "control", 5),
        ],
    )
    exposures_sync_from_events(experiment=experiment, now=_settled())

    counts = exposure_counts(experiment=experiment)

    assert counts.included == {1: {"control": 2, "treatment": 1}}
    assert (counts.included_units, counts.excluded_units) == (3, 1)
    assert counts.excluded_share == pytest.approx(0.25)


def test_sync_task_merges_events_and_is_safe_to_repeat(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(
        workspace=workspace,
        raw_events=[_exposure_event("a", "control", 1), _exposure_event("b", "treatment", 2)],
    )
    Event.objects.update(received_at=timezone.now() - timedelta(hours=1))

    first = sync_exposures.apply(args=[experiment.pk]).get()
    redelivered = sync_exposures.apply(args=[experiment.pk], kwargs={"full": True}).get()
    missing = sync_exposures.apply(args=[experiment.pk + 1000]).get()

    assert (first, redelivered, missing) == (2, 0, 0)
    assert _rows(experiment) == {
        "a": ("control", _us(1), False, 1),
        "b": ("treatment", _us(2), False, 1),
    }
    assert sync_exposures.acks_late is True


def test_beat_fan_out_syncs_every_running_experiment_when_run_eagerly(workspace, make_metric):
    experiment = _running(workspace, make_metric)
    events_ingest(workspace=workspace, raw_events=[_exposure_event("a", "control", 1)])
    Event.objects.update(received_at=timezone.now() - timedelta(hours=1))
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        queued = sync_exposures_of_running_experiments.apply().get()
    finally:
        celery_app.conf.task_always_eager = previous

    assert queued == 1
    assert _rows(experiment) == {"a": ("control", _us(1), False, 1)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_syncs_the_exposures_of_an_experiment(
    celery_worker_process, workspace, make_metric
):
    experiment = _running(workspace, make_metric)
    events_ingest(
        workspace=workspace,
        raw_events=[_exposure_event("a", "control", 1), _exposure_event("b", "treatment", 2)],
    )
    Event.objects.update(received_at=timezone.now() - timedelta(hours=1))

    sync_exposures.delay(experiment.pk)

    wait_for(lambda: Exposure.objects.count() == 2, what="the worker to sync the exposures")
    assert _rows(experiment) == {
        "a": ("control", _us(1), False, 1),
        "b": ("treatment", _us(2), False, 1),
    }
