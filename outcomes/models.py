"""Outcome models: metric definitions, the KPI library's cache, objectives and key results.

A ``Metric`` is a definition, not a number: the metric compiler (``outcomes.metrics``) turns it
into SQL that runs inside the database. KPI values, PQLs and feature requests are caches
written by ``outcomes.services.kpis``; every other change goes through ``outcomes.services``.
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
    TIME_TO_EVENT = "time_to_event", "Time to event (time to value)"


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

    Per-type fields are validated by ``outcomes.services.metric_create``; the database keeps the
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
        max_length=100, blank=True, help_text="Numeric property for sum, mean and ratio."
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


# --- The KPI library: settings, cached values, product-qualified leads, feature requests ------
def _default_excluded_activity() -> list[str]:
    return ["$exposure"]


class PqlUnit(models.TextChoices):
    USER = "user", "Users"
    ACCOUNT = "account", "Accounts (through the account property)"


class RevenuePeriod(models.TextChoices):
    MONTHLY = "monthly", "The amount is monthly (MRR)"
    ANNUAL = "annual", "The amount is annual (ARR): MRR is a twelfth of it"


class KpiSettings(TimeStampedModel):
    """What the KPI library counts in one workspace: who is new, who is active, which moments.

    Changes go through ``outcomes.services.kpi_settings``, which also marks the cached values
    for a full recompute. The definitions themselves are in ``docs/outcomes.md``.
    """

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="kpi_settings"
    )
    # Who is new and who is active.
    signup_event = models.CharField(
        max_length=200,
        blank=True,
        default="signed_up",
        help_text="A user's first such event starts them (empty: their first event of any kind).",
    )
    activity_events = models.JSONField(
        default=list, blank=True, help_text="Events that count as activity (empty: any event)."
    )
    excluded_activity_events = models.JSONField(
        default=_default_excluded_activity,
        blank=True,
        help_text="Events that never count as activity (e.g. SDK exposures).",
    )
    segment_properties = models.JSONField(
        default=list, blank=True, help_text="Person properties KPIs are also split by."
    )
    # Moments.
    aha_event = models.CharField(max_length=200, blank=True, help_text="The Aha moment.")
    activation_window_days = models.PositiveIntegerField(default=7)
    ttv_window_days = models.PositiveIntegerField(
        default=30, help_text="Time to value: how long after signup an Aha still counts."
    )
    core_events = models.JSONField(default=list, blank=True, help_text="Core events (for PES).")
    feature_events = models.JSONField(default=list, blank=True)
    feature_property = models.CharField(
        max_length=100,
        blank=True,
        help_text="Split feature events by this property (e.g. feature_used.feature).",
    )
    paid_event = models.CharField(max_length=200, blank=True, help_text="Free-to-paid moment.")
    paid_window_days = models.PositiveIntegerField(default=30)
    # Product-qualified leads: at least K events within the last D days.
    pql_event = models.CharField(max_length=200, blank=True)
    pql_min_count = models.PositiveIntegerField(default=20)
    pql_window_days = models.PositiveIntegerField(default=30)
    pql_unit = models.CharField(max_length=10, choices=PqlUnit.choices, default=PqlUnit.USER)
    # Accounts and their revenue (person properties).
    account_property = models.CharField(max_length=100, blank=True, default="account_id")
    arr_property = models.CharField(max_length=100, blank=True, default="arr")
    plan_property = models.CharField(max_length=100, blank=True, default="plan")
    # Voice of the customer.
    nps_event = models.CharField(max_length=200, blank=True, default="nps_response")
    nps_score_property = models.CharField(max_length=100, blank=True, default="score")
    ces_event = models.CharField(max_length=200, blank=True, default="ces_response")
    ces_score_property = models.CharField(max_length=100, blank=True, default="score")
    ces_scale_max = models.PositiveIntegerField(default=7)
    feedback_event = models.CharField(max_length=200, blank=True, default="feedback_submitted")
    feedback_property = models.CharField(max_length=100, blank=True, default="feature_request")
    feedback_window_days = models.PositiveIntegerField(default=90)
    feedback_topics = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"topic": "Offline mode", "keywords": ["offline"]}]: a request containing a '
        "keyword counts for the topic (the first match wins); others count by their own text.",
    )
    # Value capture.
    revenue_event = models.CharField(
        max_length=200, blank=True, help_text="Sets an account's recurring revenue (e.g. upgrade)."
    )
    revenue_property = models.CharField(max_length=100, blank=True, default="amount")
    revenue_period = models.CharField(
        max_length=10, choices=RevenuePeriod.choices, default=RevenuePeriod.MONTHLY
    )
    revenue_churn_event = models.CharField(
        max_length=200, blank=True, help_text="Sets an account's recurring revenue to zero."
    )
    # Incremental computation.
    computed_through = models.DateField(
        null=True, blank=True, help_text="Last local day computed by a scheduled refresh."
    )
    last_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "KPI settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(activation_window_days__gte=1)
                & Q(ttv_window_days__gte=1)
                & Q(paid_window_days__gte=1)
                & Q(pql_window_days__gte=1)
                & Q(pql_min_count__gte=1)
                & Q(feedback_window_days__gte=1)
                & Q(ces_scale_max__gte=2),
                name="kpisettings_positive_windows",
            ),
        ]

    def __str__(self) -> str:
        return f"KPI settings of {self.workspace}"


class KpiPeriod(models.TextChoices):
    DAY = "day", "Local day"
    WEEK = "week", "Local ISO week (Monday first)"


class KpiValue(models.Model):
    """One cached KPI value: a KPI on a local day (or a week's cohort), for a segment.

    ``value`` is ``numerator / denominator`` for ratios (``denominator`` is 1 for counts and
    scores), so a week's value is Σ numerator / Σ denominator of its days. ``dimension`` tells
    apart values of one KPI on one date: the feature of ``feature_adoption``, the weeks since
    signup of ``cohort_retention``. Written only by ``outcomes.services.kpis``.
    """

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="kpi_values")
    kpi = models.CharField(max_length=40)
    period = models.CharField(max_length=4, choices=KpiPeriod.choices, default=KpiPeriod.DAY)
    date = models.DateField(help_text="The local day, or the Monday of the week.")
    segment = models.CharField(max_length=300, blank=True, help_text="'' for everyone, or p=v.")
    dimension = models.CharField(max_length=300, blank=True)
    value = models.FloatField(null=True, blank=True)
    numerator = models.FloatField(default=0.0)
    denominator = models.FloatField(default=0.0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kpi", "period", "segment", "dimension", "date"],
                name="kpivalue_unique_point",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "period", "date"], name="kpivalue_ws_period_date"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.period} {self.date} {self.segment or 'all'}: {self.value}"


class ProductQualifiedLead(models.Model):
    """A user or account that crossed the PQL threshold in the last window (cached list)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="pqls")
    unit_type = models.CharField(max_length=10, choices=PqlUnit.choices)
    unit_id = models.CharField(max_length=200)
    event_count = models.PositiveIntegerField()
    users = models.PositiveIntegerField(help_text="Distinct users behind the events.")
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    qualified_at = models.DateTimeField(help_text="When the K-th event of the window happened.")
    plan = models.CharField(max_length=200, blank=True)
    arr = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-event_count", "unit_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "unit_type", "unit_id"], name="pql_unique_unit"
            ),
        ]

    def __str__(self) -> str:
        return f"PQL {self.unit_type} {self.unit_id} ({self.event_count})"


class FeatureRequest(models.Model):
    """A feature request from feedback events, counted and weighted by the requesters' ARR."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="feature_requests"
    )
    request = models.CharField(max_length=500, help_text="Lower-cased, trimmed text.")
    text = models.CharField(max_length=500, help_text="One original phrasing, for display.")
    requests = models.PositiveIntegerField()
    accounts = models.PositiveIntegerField(help_text="Distinct requesting accounts.")
    arr = models.FloatField(help_text="Σ ARR of the distinct requesting accounts.")
    first_requested_at = models.DateTimeField()
    last_requested_at = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-arr", "-requests", "request"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "request"], name="featurerequest_unique_text"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.text} ({self.requests})"


# --- Objectives and key results -----------------------------------------------------------
class PeriodKind(models.TextChoices):
    QUARTER = "quarter", "Calendar quarter"
    CUSTOM = "custom", "Custom dates"


class Objective(TimeStampedModel):
    """An outcome a team commits to for a period, aligned under a parent objective."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="objectives")
    title = models.CharField(max_length=200)
    why_it_matters = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_objectives",
    )
    team = models.CharField(max_length=100, blank=True)
    period_kind = models.CharField(
        max_length=10, choices=PeriodKind.choices, default=PeriodKind.QUARTER
    )
    quarter = models.CharField(max_length=7, blank=True, help_text="e.g. 2026-Q3")
    period_start = models.DateField()
    period_end = models.DateField(help_text="The last day of the period (inclusive).")
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-period_start", "title", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="objective_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class KeyResult(TimeStampedModel):
    """A measurable outcome: a metric moving from a baseline to a target within the period.

    The value on a day is the metric over the latest fully matured cohort (``cohort_days`` of
    units whose window has passed); see ``outcomes.services.key_result_values``.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="key_results")
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="key_results")
    title = models.CharField(max_length=200)
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="key_results")
    segment_property = models.CharField(max_length=100, blank=True)
    segment_value = models.CharField(max_length=200, blank=True)
    start_event = models.CharField(
        max_length=200,
        blank=True,
        help_text="A unit starts at its first such event (empty: its first event of any kind).",
    )
    cohort_days = models.PositiveIntegerField(
        default=28, help_text="How many days of matured units make one measurement."
    )
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.INCREASE
    )
    baseline = models.FloatField(null=True, blank=True)
    baseline_units = models.PositiveIntegerField(null=True, blank=True)
    baseline_computed_at = models.DateTimeField(null=True, blank=True)
    target = models.FloatField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["objective_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(segment_property="") & Q(segment_value=""))
                | (~Q(segment_property="") & ~Q(segment_value="")),
                name="keyresult_segment_complete",
            ),
            models.CheckConstraint(
                condition=Q(baseline__isnull=True) | ~Q(target=models.F("baseline")),
                name="keyresult_target_differs_from_baseline",
            ),
            models.CheckConstraint(condition=Q(cohort_days__gte=1), name="keyresult_cohort_days"),
        ]

    def __str__(self) -> str:
        return self.title


class ValueSource(models.TextChoices):
    COMPUTED = "computed", "Computed from events"
    MANUAL = "manual", "Entered by a person"


class BaselineChange(models.Model):
    """One change of a key result's baseline: computed at the period start, or edited with a
    reason. The history is never rewritten."""

    key_result = models.ForeignKey(
        KeyResult, on_delete=models.CASCADE, related_name="baseline_changes"
    )
    previous = models.FloatField(null=True, blank=True)
    baseline = models.FloatField()
    source = models.CharField(max_length=10, choices=ValueSource.choices)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="computed") | ~Q(reason=""), name="baselinechange_manual_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_result}: {self.previous} → {self.baseline}"


class CheckIn(models.Model):
    """A dated value of a key result: computed on a schedule (one per day), or entered by a
    person with their confidence and a comment."""

    key_result = models.ForeignKey(KeyResult, on_delete=models.CASCADE, related_name="check_ins")
    date = models.DateField()
    source = models.CharField(max_length=10, choices=ValueSource.choices)
    value = models.FloatField(null=True, blank=True)
    units = models.PositiveIntegerField(null=True, blank=True, help_text="Units behind value.")
    confidence = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 (no chance) to 10 (certain)."
    )
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key_result", "date"],
                condition=Q(source="computed"),
                name="checkin_one_computed_per_day",
            ),
            models.CheckConstraint(
                condition=Q(source="computed") | (Q(confidence__gte=1) & Q(confidence__lte=10)),
                name="checkin_manual_confidence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_result} on {self.date}: {self.value}"


class InitiativeStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class Initiative(TimeStampedModel):
    """A deliverable (an output) pursued to move one or more key results (the outcomes)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="initiatives")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=InitiativeStatus.choices, default=InitiativeStatus.PLANNED
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    url = models.URLField(max_length=500, blank=True)
    key_results = models.ManyToManyField(KeyResult, related_name="initiatives")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.title
