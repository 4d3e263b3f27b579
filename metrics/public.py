"""What other apps may import from the metric layer (an import-linter contract keeps it so).

Definitions and populations to ask for, the runner that computes them in the database, the
``Metric`` model with its choices, the reads and writes of definitions, the template SQL
pieces the KPI library builds its statements from, the engines statements run on, a
workspace's own store engine, and event sources (a workspace's warehouse tables) with the
read-only engine and mappings an analysis computes with there, and the incremental refresh
that keeps partial aggregates between analyses.
"""

from metrics.engine.definition import PROPERTY_NAME, SPEC_FIELDS, MetricDefinition
from metrics.engine.event_tables import EventTable, ExposureTable
from metrics.engine.populations import (
    ExposurePopulation,
    FirstSeenPopulation,
    Population,
    TablePopulation,
)
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE, CompilerError
from metrics.engine.templates import RenderedQuery, Statement, with_ctes
from metrics.engines.app_db import AppDatabaseEngine
from metrics.engines.base import Engine, EngineError, ScanStats, scan_collect
from metrics.incremental import (
    PartialsRefresh,
    partials_invalidate,
    partials_refresh,
    partials_statistics,
)
from metrics.models import (
    CapType,
    Direction,
    EventSource,
    Metric,
    MetricKind,
    MetricType,
    SourceEngine,
    UnitOfAnalysis,
)
from metrics.runner import MetricStatistics, compute_metric_statistics, dialect_of
from metrics.selectors import METRIC_NOT_FOUND, metric_get, metrics_list
from metrics.services import KEY_TAKEN, metric_create, metric_definition, metric_delete, metric_spec
from metrics.sources.connect import (
    NO_EXPOSURE_TABLE,
    engine_for_source,
    event_table_of,
    exposure_table_of,
    source_label,
)
from metrics.sources.probes import ExposureSummary, exposure_summary, source_problems
from metrics.sources.selectors import SOURCE_NOT_FOUND, source_get, sources_list
from metrics.stores import engine_for_workspace, store_exposures

__all__ = [
    "AppDatabaseEngine",
    "EVENTS_TABLE",
    "NO_EXPOSURE_TABLE",
    "SOURCE_NOT_FOUND",
    "KEY_TAKEN",
    "METRIC_NOT_FOUND",
    "PERSONS_TABLE",
    "PROPERTY_NAME",
    "SPEC_FIELDS",
    "CapType",
    "CompilerError",
    "Direction",
    "Engine",
    "EngineError",
    "EventSource",
    "EventTable",
    "ExposurePopulation",
    "ExposureSummary",
    "ExposureTable",
    "FirstSeenPopulation",
    "engine_for_workspace",
    "store_exposures",
    "Metric",
    "MetricDefinition",
    "MetricKind",
    "MetricStatistics",
    "MetricType",
    "PartialsRefresh",
    "Population",
    "RenderedQuery",
    "SourceEngine",
    "ScanStats",
    "Statement",
    "TablePopulation",
    "UnitOfAnalysis",
    "compute_metric_statistics",
    "dialect_of",
    "engine_for_source",
    "event_table_of",
    "exposure_summary",
    "exposure_table_of",
    "metric_create",
    "metric_definition",
    "metric_delete",
    "metric_get",
    "metric_spec",
    "metrics_list",
    "source_get",
    "source_label",
    "source_problems",
    "sources_list",
    "partials_invalidate",
    "partials_refresh",
    "partials_statistics",
    "scan_collect",
    "with_ctes",
]
