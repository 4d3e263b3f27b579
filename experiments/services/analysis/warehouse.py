"""Warehouse-native analysis: an experiment bound to an event source is computed inside the
source's engine (opened read-only), on its event table, with each unit's first exposure in the
phase read from its exposure table. Only sufficient statistics and a few counts come back.

Variation ids in the exposure table may be our variant keys or GrowthBook's variation indexes
(0, 1, ... in the experiment's variant order); both are named by variant key here. A failed
statement becomes ``SourceFailed``, whose message names the source and, where the source's
schema explains the failure, the table and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from metrics.public import (
    Engine,
    EngineError,
    EventSource,
    EventTable,
    ExposurePopulation,
    ExposureSummary,
    ExposureTable,
    MetricStatistics,
    engine_for_source,
    engine_for_workspace,
    event_table_of,
    exposure_summary,
    exposure_table_of,
    source_get,
    source_problems,
    store_exposures,
)
from plg_platform.models import Workspace

SOURCE_FAILED = "The analysis could not be computed in its event source. {detail}"


class SourceFailed(Exception):
    """A statement failed in the experiment's event source (the message says where)."""


@dataclass(frozen=True)
class Warehouse:
    """An open source and what an analysis of one phase reads there."""

    source: EventSource | None  # None: the workspace's own store outside the app database
    engine: Engine
    events: EventTable
    exposures: ExposureTable
    starts_from_us: int
    starts_before_us: int | None
    variant_of: Mapping[str, str]  # the source's variation id → variant key
    workspace_id: int | None = None  # filters a store shared by workspaces

    def population(self, *, segment_property: str, bucket_us: int) -> ExposurePopulation:
        """The phase's exposed units: first exposure in the phase, one variation only."""
        return ExposurePopulation(
            exposures=self.exposures,
            bucket_us=bucket_us,
            segment_property=segment_property,
            starts_from_us=self.starts_from_us,
            starts_before_us=self.starts_before_us,
        )

    def named(self, rows: Iterable[MetricStatistics]) -> list[MetricStatistics]:
        """Rows with groups named by variant key; a group that is no variant is left out."""
        variant_of = self.variant_of
        return [replace(r, group=variant_of[r.group]) for r in rows if r.group in variant_of]

    def exposure_counts(self, *, cutoff_us: int, maturity_us: int) -> ExposureSummary:
        """The phase's exposed units per variant key (see ``exposure_summary``)."""
        counted = exposure_summary(
            engine=self.engine,
            exposures=self.exposures,
            cutoff_us=cutoff_us,
            maturity_us=maturity_us,
            starts_from_us=self.starts_from_us,
            starts_before_us=self.starts_before_us,
            workspace_id=self.workspace_id,
        )
        units, matured = self._by_variant(counted.units), self._by_variant(counted.matured)
        return replace(counted, units=units, matured=matured)

    def _by_variant(self, counts: Mapping[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for group, n in counts.items():
            if group in self.variant_of:
                key = self.variant_of[group]
                out[key] = out.get(key, 0) + n
        return out


def _explained(source: EventSource | None, error: EngineError) -> str:
    """What the source's schema says is wrong (missing or mistyped columns), else the
    engine's own message; either names the source."""
    if source is None:
        return SOURCE_FAILED.format(detail=error.message)
    problems = source_problems(source) if error.kind in ("missing", "type") else []
    return SOURCE_FAILED.format(detail=" ".join(problems) or error.message)


@contextmanager
def warehouse_open(
    *,
    workspace_id: int,
    source_id: int,
    experiment_id: str,
    starts_from_us: int,
    starts_before_us: int | None,
    variant_order: Sequence[str],
) -> Iterator[Warehouse]:
    """Open the source read-only for one phase's analysis and close it after; an engine error
    inside (or on opening) becomes ``SourceFailed``."""
    source = source_get(workspace=workspace_id, source_id=source_id)
    try:
        engine = engine_for_source(source)
    except EngineError as error:
        raise SourceFailed(_explained(source, error)) from error
    variant_of = {str(i): key for i, key in enumerate(variant_order)}
    variant_of.update({key: key for key in variant_order})
    try:
        yield Warehouse(
            source=source,
            engine=engine,
            events=event_table_of(source),
            exposures=exposure_table_of(source, experiment_id=experiment_id),
            starts_from_us=starts_from_us,
            starts_before_us=starts_before_us,
            variant_of=variant_of,
        )
    except EngineError as error:
        raise SourceFailed(_explained(source, error)) from error
    finally:
        engine.close()


@contextmanager
def store_open(
    *,
    workspace_id: int,
    experiment_key: str,
    starts_from_us: int,
    starts_before_us: int | None,
    variant_order: Sequence[str],
) -> Iterator[Warehouse]:
    """The workspace's own DuckDB or ClickHouse store (its ingestion is routed there), read
    like a source: exposures are the ``$exposure`` events the SDKs sent."""
    workspace = Workspace.objects.get(pk=workspace_id)
    try:
        engine = engine_for_workspace(workspace)
    except EngineError as error:
        raise SourceFailed(_explained(None, error)) from error
    variant_of = {str(i): key for i, key in enumerate(variant_order)}
    variant_of.update({key: key for key in variant_order})
    try:
        yield Warehouse(
            source=None,
            engine=engine,
            events=EventTable(),
            exposures=store_exposures(experiment_key),
            starts_from_us=starts_from_us,
            starts_before_us=starts_before_us,
            variant_of=variant_of,
            workspace_id=workspace_id,
        )
    except EngineError as error:
        raise SourceFailed(_explained(None, error)) from error
