"""Builders shared by the analysis tests (this module holds no tests itself).

``planted_experiment`` generates, with a seed, units exposed to an experiment and their events
with known truths: a conversion lifted by a planted relative effect, a guardrail conversion
with no effect (or a planted harm), and a session count whose pre-period is correlated with the
experiment period (for CUPED). Everything is written straight into the tables the analysis
reads (events, exposures, persons), so tests can compare the analysis with numpy on the same
arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection
from django.utils import timezone

from experiments.models import Experiment, Exposure, Phase
from experiments.services.design import ExperimentDesign, VariantSpec, experiment_create
from experiments.services.lifecycle import experiment_start
from metrics.public import metric_create
from plg_platform.models import Event, Workspace
from plg_platform.services.ingestion import persons_identify, to_epoch_us

T0 = datetime(2026, 1, 5, tzinfo=UTC)
DAY_US = 86_400_000_000
EXPOSURE_SPREAD_DAYS = 10
# Every unit's 7-day window has passed by then.
CUTOFF = T0 + timedelta(days=EXPOSURE_SPREAD_DAYS + 8)
COUNTRIES = ("US", "DE", "FR", "BR")
COUNTRY_SHARES = (0.4, 0.3, 0.2, 0.1)


@dataclass
class PlantedData:
    """Per-unit truths, aligned arrays (one entry per unit)."""

    unit: list[str]
    variant: np.ndarray  # index into the experiment's variants
    exposed_us: np.ndarray
    activated: np.ndarray  # 0/1 within 7 days
    unsubscribed: np.ndarray  # 0/1 within 7 days
    sessions: np.ndarray  # count within 7 days
    pre_sessions: np.ndarray  # count in the 14 days before exposure
    country: np.ndarray
    variants: tuple[str, ...] = ("control", "treatment")
    extra_events: int = field(default=0)

    def mask(self, variant: str) -> np.ndarray:
        return self.variant == self.variants.index(variant)


def generate(
    *,
    units_per_variant: tuple[int, ...] = (4000, 4000),
    variants: tuple[str, ...] = ("control", "treatment"),
    activation_rate: float = 0.20,
    activation_lift: float = 0.15,
    unsubscribe_rate: float = 0.05,
    unsubscribe_lift: float = 0.0,
    seed: int = 7,
) -> PlantedData:
    """Draw units and their outcomes; treatments share the planted lifts."""
    rng = np.random.default_rng(seed)
    variant = np.concatenate([np.full(n, i) for i, n in enumerate(units_per_variant)])
    count = variant.size
    treated = variant > 0
    exposed = to_epoch_us(T0) + (rng.random(count) * EXPOSURE_SPREAD_DAYS * DAY_US).astype(np.int64)
    p_activate = activation_rate * np.where(treated, 1 + activation_lift, 1.0)
    p_unsubscribe = unsubscribe_rate * np.where(treated, 1 + unsubscribe_lift, 1.0)
    # Each unit's own activity level drives both periods, so they are correlated (CUPED).
    rate = rng.gamma(2.0, 1.0, count)
    return PlantedData(
        unit=[f"u{i}" for i in range(count)],
        variant=variant,
        exposed_us=exposed,
        activated=(rng.random(count) < p_activate).astype(int),
        unsubscribed=(rng.random(count) < p_unsubscribe).astype(int),
        sessions=rng.poisson(rate),
        pre_sessions=rng.poisson(2 * rate),
        country=rng.choice(np.array(COUNTRIES), size=count, p=COUNTRY_SHARES),
        variants=variants,
    )


def _events(
    workspace_id: int, data: PlantedData, rng: np.random.Generator
) -> list[tuple[int, str, str, int]]:
    events = []
    week = 7 * DAY_US
    for i, unit in enumerate(data.unit):
        start = int(data.exposed_us[i])
        if data.activated[i]:
            events.append((workspace_id, "activated", unit, start + int(rng.random() * (week - 1))))
        elif rng.random() < 0.1:  # activates after the window: must not count
            late = start + week + int(rng.random() * 3 * DAY_US)
            events.append((workspace_id, "activated", unit, late))
        if data.unsubscribed[i]:
            at = start + int(rng.random() * (week - 1))
            events.append((workspace_id, "unsubscribed", unit, at))
        for _ in range(int(data.sessions[i])):
            events.append((workspace_id, "session", unit, start + int(rng.random() * (week - 1))))
        for _ in range(int(data.pre_sessions[i])):
            before = start - 1 - int(rng.random() * (2 * week - 1))
            events.append((workspace_id, "session", unit, before))
    return events


def metrics_create(workspace: Workspace, *, prefix: str = "") -> dict[str, str]:
    """Create the three metrics the planted data feed; return their keys by name."""
    keys = {name: f"{prefix}{name}" for name in ("activated", "unsubscribed", "sessions")}
    metric_create(
        workspace=workspace,
        key=keys["activated"],
        name="7-day activation",
        spec={"type": "conversion", "event": "activated", "window_days": 7},
    )
    metric_create(
        workspace=workspace,
        key=keys["unsubscribed"],
        name="7-day unsubscribes",
        spec={"type": "conversion", "event": "unsubscribed", "window_days": 7},
        direction="decrease",
    )
    metric_create(
        workspace=workspace,
        key=keys["sessions"],
        name="Sessions in 7 days",
        spec={"type": "count", "event": "session", "window_days": 7},
    )
    return keys


def planted_experiment(
    workspace: Workspace,
    data: PlantedData,
    *,
    key: str = "onboarding",
    weights: tuple[float, ...] | None = None,
    write_data: bool = True,
    seed: int = 11,
    **settings,
) -> Experiment:
    """A running experiment over ``data``: exposures, events and persons written."""
    keys = metrics_create(workspace, prefix=f"{key}-")
    weights = weights or tuple(1 / len(data.variants) for _ in data.variants)
    design = ExperimentDesign(
        key=key,
        name=key.replace("-", " ").capitalize(),
        hypothesis_change="an onboarding checklist",
        variants=tuple(
            VariantSpec(v, w, is_control=(i == 0))
            for i, (v, w) in enumerate(zip(data.variants, weights, strict=True))
        ),
        primary_metric=keys["activated"],
        secondary_metrics=(keys["sessions"],),
        guardrail_metrics=(keys["unsubscribed"],),
        **settings,
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    Phase.objects.filter(experiment=experiment).update(started_at=T0)
    if write_data:
        write(experiment, data, seed=seed)
    return experiment


def write(experiment: Experiment, data: PlantedData, *, seed: int = 11) -> None:
    phase = experiment.phases.order_by("-number").first()
    Exposure.objects.bulk_create(
        [
            Exposure(
                workspace_id=experiment.workspace_id,
                experiment=experiment,
                phase=phase,
                unit_id=unit,
                variant=data.variants[data.variant[i]],
                exposed_at_us=int(data.exposed_us[i]),
            )
            for i, unit in enumerate(data.unit)
        ],
        batch_size=2000,
    )
    rows = _events(experiment.workspace_id, data, np.random.default_rng(seed))
    received = timezone.now() - timedelta(hours=1)  # settled, as far as exposure syncs go
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Event._meta.db_table} "  # noqa: S608 - our own table name
            "(workspace_id, event, distinct_id, timestamp_us, properties, received_at) "
            "VALUES (%s, %s, %s, %s, '{}', %s)",
            [(*row, received) for row in rows],
        )
    persons_identify(
        workspace=experiment.workspace,
        traits=((unit, {"country": str(data.country[i])}) for i, unit in enumerate(data.unit)),
    )


def metric_entry(outputs, key: str, segment: dict | None = None) -> dict:
    """The snapshot's entry for metric ``key`` (overall, or in one segment), as stored: from
    the stored JSON, or from ``AnalysisOutputs`` before it is stored."""
    if not isinstance(outputs, dict):
        outputs = outputs.to_json()
    entries = outputs["metrics"] if segment is None else outputs["segments"]
    return next(m for m in entries if m["key"] == key and m["segment"] == segment)
