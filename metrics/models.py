"""The metric model: a named, typed definition in a workspace, and the choices it is made of.

A ``Metric`` is a definition, not a number: ``metrics.engine`` turns it into SQL that runs
inside the database. Writes go through ``metrics.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from plg_platform.models import TimeStampedModel, Workspace


class MetricType(models.TextChoices):
    CONVERSION = "conversion", "Conversion (did the event within the window)"
    COUNT = "count", "Count of events per unit"
    SUM = "sum", "Sum of a numeric property per unit"
    MEAN = "mean", "Mean of a numeric property over a unit's events"
    RATIO = "ratio", "Ratio of two per-unit sums"
    RETENTION = "retention", "Retention (active on day N, or days N..M)"
    MOMENT = "moment", "Success moment (K times, on M distinct days, within D days)"
    TIME_TO_EVENT = "time_to_event", "Time to event (mean hours, among units that got there)"
    FUNNEL = "funnel", "Funnel (ordered steps within the window; conversion of the whole)"
    QUANTILE = "quantile", "Quantile (p50, p90, …) of a value per unit or per event"


class QuantileOf(models.TextChoices):
    UNIT = "unit", "One value per unit (a sum of the property, or hours to the first event)"
    EVENT = "event", "Each event's value of the property"


class MetricKind(models.TextChoices):
    VALUE_CREATION = "value_creation", "Value creation (team goal)"
    VALUE_CAPTURE = "value_capture", "Value capture (revenue, for finance)"


class Direction(models.TextChoices):
    INCREASE = "increase", "Up is good"
    DECREASE = "decrease", "Down is good"


class UnitOfAnalysis(models.TextChoices):
    USER = "user", "User (distinct id)"
    ACCOUNT = "account", "Account (through a unit property)"


class CapType(models.TextChoices):
    NONE = "none", "No capping"
    ABSOLUTE = "absolute", "Absolute cap"
    PERCENTILE = "percentile", "Percentile winsorisation (computed from the data)"


class Metric(TimeStampedModel):
    """A named, typed definition of a value-creation or value-capture metric in a workspace.

    Per-type fields are validated by ``metrics.services.metric_create``; the database keeps the
    invariants that do not depend on the type.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="metrics")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=20, choices=MetricType.choices)
    kind = models.CharField(
        max_length=20, choices=MetricKind.choices, default=MetricKind.VALUE_CREATION
    )
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.INCREASE
    )
    unit = models.CharField(
        max_length=10, choices=UnitOfAnalysis.choices, default=UnitOfAnalysis.USER
    )
    unit_property = models.CharField(
        max_length=100,
        blank=True,
        help_text="For account units: the unit property holding the account id.",
    )
    tags = models.JSONField(
        default=list, blank=True, help_text="e.g. ['acquisition'], ['retention']."
    )
    # What is counted.
    event = models.CharField(
        max_length=200, blank=True, help_text="Empty means any event (retention only)."
    )
    filters = models.JSONField(
        default=list, blank=True, help_text="[{'property', 'op', 'value'}] on the event."
    )
    property = models.CharField(
        max_length=100, blank=True, help_text="Numeric property for sum, mean, ratio and quantile."
    )
    window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days after the unit's start that count."
    )
    # Ratio: the denominator.
    denominator_event = models.CharField(max_length=200, blank=True)
    denominator_filters = models.JSONField(default=list, blank=True)
    denominator_property = models.CharField(
        max_length=100, blank=True, help_text="Empty: count the denominator events."
    )
    # Retention: active on day N (or days N..M) after the start.
    retention_start_day = models.PositiveIntegerField(null=True, blank=True)
    retention_end_day = models.PositiveIntegerField(null=True, blank=True)
    # Moment: did the event at least K times, on at least M distinct days, within the window.
    min_count = models.PositiveIntegerField(null=True, blank=True)
    min_distinct_days = models.PositiveIntegerField(null=True, blank=True)
    # Funnel: ordered steps, each reached at or after the one before, within the window.
    steps = models.JSONField(
        default=list, blank=True, help_text="[{'event', 'filters', 'name'}] in order (funnels)."
    )
    # Quantile: the level (0.5 is the median) and what it is of.
    quantile = models.FloatField(
        null=True, blank=True, help_text="Quantile metrics: the level, e.g. 0.5 or 0.9."
    )
    quantile_of = models.CharField(max_length=8, blank=True, choices=QuantileOf.choices)
    # Capping of per-unit values (count, sum, ratio numerator).
    cap_type = models.CharField(max_length=12, choices=CapType.choices, default=CapType.NONE)
    cap_value = models.FloatField(
        null=True, blank=True, help_text="The cap, or the percentile in (0, 1) to winsorise at."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["key"]
        db_table = "outcomes_metric"  # created by the outcomes app; the table keeps its name
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="metric_unique_key"),
            models.CheckConstraint(
                condition=Q(cap_type="none") | Q(cap_value__isnull=False),
                name="metric_cap_has_value",
            ),
            models.CheckConstraint(
                condition=Q(unit="user") | ~Q(unit_property=""),
                name="metric_account_unit_has_property",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


# --- Event sources --------------------------------------------------------------------------


class SourceEngine(models.TextChoices):
    DUCKDB = "duckdb", "DuckDB file (.duckdb, opened read-only)"
    DUCKDB_FOLDER = "duckdb_folder", "Folder of Parquet/CSV files (read by DuckDB)"
    CHDB = "chdb", "chdb data directory (ClickHouse in-process)"
    CLICKHOUSE = "clickhouse", "ClickHouse server"
    SPARK = "spark", "Spark (Spark Connect or a local master)"


class TimeType(models.TextChoices):
    TIMESTAMP = "timestamp", "TIMESTAMP / DateTime (UTC)"
    MICROS = "micros", "Integer microseconds since 1970"
    MILLIS = "millis", "Integer milliseconds since 1970"
    SECONDS = "seconds", "Integer seconds since 1970"


class EventSource(TimeStampedModel):
    """A table of events the team already has, in a warehouse or file we only read.

    Connection settings are plain fields (``path`` for files, ``host``/``port`` for a server,
    ``url`` for Spark); the one secret (a password or token) is stored only encrypted, in
    ``secret_encrypted``. The event table's columns map onto ``metrics.engine``'s
    ``EventTable``; an optional exposure table (GrowthBook's shape by default) maps onto
    ``ExposureTable`` and lets experiments be analysed inside the warehouse. Writes go through
    ``metrics.sources``, which validates every name and path.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    engine = models.CharField(max_length=16, choices=SourceEngine.choices)
    # Connection (nothing secret here).
    path = models.CharField(
        max_length=500,
        blank=True,
        help_text="DuckDB file, Parquet/CSV folder or chdb directory, under the sources folder.",
    )
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    database = models.CharField(max_length=100, blank=True)
    username = models.CharField(max_length=100, blank=True)
    secure = models.BooleanField(default=False, help_text="ClickHouse over HTTPS.")
    url = models.CharField(
        max_length=500, blank=True, help_text="Spark: sc://host:15002, or local[2]."
    )
    secret_encrypted = models.TextField(blank=True, editable=False)
    # The event table.
    events_table = models.CharField(max_length=200)
    event_column = models.CharField(max_length=100, default="event")
    unit_column = models.CharField(max_length=100, default="user_id")
    timestamp_column = models.CharField(max_length=100, default="timestamp")
    time_type = models.CharField(max_length=10, choices=TimeType.choices, default="timestamp")
    properties_column = models.CharField(
        max_length=100, blank=True, help_text="A JSON text column of event properties, if any."
    )
    property_columns = models.JSONField(
        default=dict, blank=True, help_text='Typed columns by property: {"plan": "plan_name"}.'
    )
    persons_table = models.CharField(
        max_length=200,
        blank=True,
        help_text="Person properties (columns distinct_id and properties, JSON), if any.",
    )
    # The exposure table (optional).
    exposures_table = models.CharField(max_length=200, blank=True)
    exposure_experiment_column = models.CharField(max_length=100, default="experiment_id")
    exposure_variation_column = models.CharField(max_length=100, default="variation_id")
    exposure_unit_column = models.CharField(max_length=100, default="user_id")
    exposure_timestamp_column = models.CharField(max_length=100, default="timestamp")
    exposure_time_type = models.CharField(
        max_length=10, choices=TimeType.choices, default="timestamp"
    )
    # The last dry run.
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="source_unique_name"),
            models.CheckConstraint(
                condition=Q(engine__in=SourceEngine.values), name="source_engine_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- Incremental refresh: partial aggregates kept between refreshes (metrics.incremental) ---
class PartialScope(TimeStampedModel):
    """One scope's partial aggregates (an experiment phase, say) in one engine's store.

    The rows themselves live in the tables below (in the app database) or in the same tables
    inside another engine; this row says up to which cut-off they hold events (``watermark_us``)
    and for which definitions (the fingerprints: a change rebuilds them).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200, help_text="e.g. 'experiment:12:phase:3'.")
    store = models.CharField(
        max_length=200, default="app", help_text="The engine holding the rows ('app': ours)."
    )
    day_fingerprint = models.CharField(max_length=64, blank=True)
    value_fingerprint = models.CharField(max_length=64, blank=True)
    watermark_us = models.BigIntegerField(
        null=True, blank=True, help_text="Events before this time (µs since the epoch) are in."
    )
    frozen_day = models.IntegerField(
        null=True,
        blank=True,
        help_text="Units' components hold the day rows of UTC days before it.",
    )
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_refresh = models.JSONField(
        default=dict, blank=True, help_text="Mode, slice and scan statistics of the last refresh."
    )

    class Meta:
        db_table = "metrics_partial_scope"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key", "store"], name="partial_scope_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.store})"


# The row tables are written and read by SQL built in ``metrics.engine.partials`` only. Their
# foreign key to the scope has no database constraint: millions of rows are inserted in bulk
# per refresh, and deleting a scope deletes them through Django's cascade.
def _scope_fk() -> models.ForeignKey:
    # No index of its own either: every table's key or index starts with the scope.
    return models.ForeignKey(
        PartialScope,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )


class PartialDay(models.Model):
    """Per metric part × unit × day after the start × UTC day: the matching events' sums."""

    # Slice first (``metrics.engine.partials.layout.DAY_KEY``): a refresh's rows are one range.
    pk = models.CompositePrimaryKey("scope", "slice_day", "unit_id", "part", "rel_day")
    scope = _scope_fk()
    unit_id = models.TextField()
    part = models.SmallIntegerField()
    rel_day = models.IntegerField(help_text="floor((t - start) / day); negative before it.")
    slice_day = models.IntegerField(help_text="floor(t / day): the event's UTC day.")
    cnt = models.BigIntegerField()
    total = models.FloatField(help_text="Sum of the part's property (JSON numbers only).")
    nvals = models.BigIntegerField(help_text="Events whose property is a number.")
    min_rel_us = models.BigIntegerField(help_text="Earliest t - start.")

    class Meta:
        db_table = "metrics_partial_day"

    def __str__(self) -> str:
        return f"{self.unit_id} part {self.part} day {self.rel_day}"


class PartialUnit(models.Model):
    """A unit whose day rows are stored: its start as built and its components over the
    settled days (``v0``..``v15``: see ``metrics.engine.partials.layout``), 16 to a row."""

    pk = models.CompositePrimaryKey("scope", "unit_id", "chunk")
    scope = _scope_fk()
    unit_id = models.TextField()
    chunk = models.SmallIntegerField(default=0)
    start_us = models.BigIntegerField()
    v0 = models.FloatField(null=True)
    v1 = models.FloatField(null=True)
    v2 = models.FloatField(null=True)
    v3 = models.FloatField(null=True)
    v4 = models.FloatField(null=True)
    v5 = models.FloatField(null=True)
    v6 = models.FloatField(null=True)
    v7 = models.FloatField(null=True)
    v8 = models.FloatField(null=True)
    v9 = models.FloatField(null=True)
    v10 = models.FloatField(null=True)
    v11 = models.FloatField(null=True)
    v12 = models.FloatField(null=True)
    v13 = models.FloatField(null=True)
    v14 = models.FloatField(null=True)
    v15 = models.FloatField(null=True)

    class Meta:
        db_table = "metrics_partial_unit"

    def __str__(self) -> str:
        return f"{self.unit_id} from {self.start_us}"


class PartialDirty(models.Model):
    """Units a refresh in progress must recompute (``rebuild``: from all their events)."""

    id = models.BigAutoField(primary_key=True)
    scope = _scope_fk()
    unit_id = models.TextField()
    start_us = models.BigIntegerField(null=True)
    rebuild = models.BooleanField()

    class Meta:
        db_table = "metrics_partial_dirty"
        indexes = [models.Index(fields=["scope", "unit_id"], name="partial_dirty_unit")]

    def __str__(self) -> str:
        return self.unit_id
