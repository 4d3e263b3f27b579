"""What other apps may import from the metric layer (an import-linter contract keeps it so).

Definitions and populations to ask for, the runner that computes them in the database, the
incremental refresh that keeps partial aggregates between analyses, the ``Metric`` model with
its choices, the reads and writes of definitions, and the template SQL pieces the KPI library
builds its statements from.
"""

from metrics.engine.definition import PROPERTY_NAME, SPEC_FIELDS, MetricDefinition
from metrics.engine.populations import FirstSeenPopulation, Population, TablePopulation
from metrics.engine.sql import EVENTS_TABLE, PERSONS_TABLE, CompilerError
from metrics.engine.templates import RenderedQuery, Statement, with_ctes
from metrics.engines.app_db import AppDatabaseEngine
from metrics.engines.base import ScanStats, scan_collect
from metrics.incremental import (
    PartialsRefresh,
    partials_invalidate,
    partials_refresh,
    partials_statistics,
)
from metrics.models import CapType, Direction, Metric, MetricKind, MetricType, UnitOfAnalysis
from metrics.runner import MetricStatistics, compute_metric_statistics, dialect_of
from metrics.selectors import METRIC_NOT_FOUND, metric_get, metrics_list
from metrics.services import KEY_TAKEN, metric_create, metric_definition, metric_delete, metric_spec

__all__ = [
    "AppDatabaseEngine",
    "EVENTS_TABLE",
    "KEY_TAKEN",
    "METRIC_NOT_FOUND",
    "PERSONS_TABLE",
    "PROPERTY_NAME",
    "SPEC_FIELDS",
    "CapType",
    "CompilerError",
    "Direction",
    "FirstSeenPopulation",
    "Metric",
    "MetricDefinition",
    "MetricKind",
    "MetricStatistics",
    "MetricType",
    "PartialsRefresh",
    "Population",
    "RenderedQuery",
    "ScanStats",
    "Statement",
    "TablePopulation",
    "UnitOfAnalysis",
    "compute_metric_statistics",
    "dialect_of",
    "metric_create",
    "metric_definition",
    "metric_delete",
    "metric_get",
    "metric_spec",
    "metrics_list",
    "partials_invalidate",
    "partials_refresh",
    "partials_statistics",
    "scan_collect",
    "with_ctes",
]
