"""The KPI library's models: what a workspace counts (``KpiSettings``) and the caches the refresh
writes (KPI values, product-qualified leads, feature requests).

The caches are written by ``outcomes.kpis.refresh`` and ``outcomes.kpis.lists`` only; settings
change through ``outcomes.kpis.settings``. The definitions themselves are in
``docs/outcomes.md``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from plg_platform.models import TimeStampedModel, Workspace


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

    Changes go through ``outcomes.kpis.settings``, which also marks the cached values
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
    success_moments = models.JSONField(
        default=list,
        blank=True,
        help_text='Up to 4, e.g. [{"name": "Habit", "event": "doc_created", "window_days": 30, '
        '"min_count": 20, "min_distinct_days": 8}]: a user reaches the moment by doing the event '
        "at least min_count times on at least min_distinct_days days within window_days of "
        "signup (the metric layer's moment rule).",
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
    signup of ``cohort_retention``. Written only by ``outcomes.kpis.refresh``.
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
