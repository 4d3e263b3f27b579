"""Experiments: design, variants, phases, metrics, exposures, result snapshots, alerts, webhooks.

Changes of state go through ``experiments.services``; nothing here holds business logic.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from experiments.hypothesis import hypothesis_part
from plg_platform.models import BackgroundJob, TimeStampedModel, Workspace


class FunnelStage(models.TextChoices):
    ACQUISITION = "acquisition", "Acquisition"
    ACTIVATION = "activation", "Activation"
    RETENTION = "retention", "Retention"
    REFERRAL = "referral", "Referral"
    REVENUE = "revenue", "Revenue"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    CONCLUDED = "concluded", "Concluded"
    ARCHIVED = "archived", "Archived"


class Decision(models.TextChoices):
    SHIP = "ship", "Ship a variant"
    ROLLBACK = "rollback", "Roll back"
    ITERATE = "iterate", "Iterate"


class Engine(models.TextChoices):
    FREQUENTIST = "frequentist", "Frequentist"
    BAYESIAN = "bayesian", "Bayesian"


class Correction(models.TextChoices):
    NONE = "none", "None"
    HOLM = "holm", "Holm–Bonferroni"
    BH = "bh", "Benjamini–Hochberg"


def _new_seed() -> str:
    return uuid.uuid4().hex


class Experiment(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="experiments")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    # The hypothesis, in the template's four parts.
    hypothesis_change = models.TextField(help_text="We believe [this change]…")
    hypothesis_audience = models.TextField(blank=True, help_text="…for [whom]…")
    hypothesis_outcome = models.TextField(blank=True, help_text="…will [move which metric]…")
    hypothesis_evidence = models.TextField(blank=True, help_text="…because [evidence].")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    team = models.CharField(max_length=100, blank=True)
    product_area = models.CharField(max_length=200, blank=True)
    funnel_stage = models.CharField(max_length=20, choices=FunnelStage.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    # The key results (outcomes) this experiment serves; same workspace only (see services).
    key_results = models.ManyToManyField("outcomes.KeyResult", blank=True, related_name="+")
    # Assignment
    hash_seed = models.CharField(max_length=64, default=_new_seed)
    coverage = models.FloatField(default=1.0, help_text="Share of eligible units included, 0–1.")
    targeting = models.JSONField(
        default=dict, blank=True, help_text="GrowthBook condition on unit properties."
    )
    unit_property = models.CharField(
        max_length=100, blank=True, help_text="Empty: users. Else the unit property to hash on."
    )
    # Analysis settings
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.FREQUENTIST)
    sequential = models.BooleanField(default=False)
    sequential_tuning = models.PositiveIntegerField(default=5000)
    alpha = models.FloatField(default=0.05)
    cuped = models.BooleanField(default=True)
    correction = models.CharField(max_length=8, choices=Correction.choices, default=Correction.HOLM)
    segments = models.JSONField(
        default=list, blank=True, help_text="Unit properties to break down by."
    )
    min_days_for_alerts = models.PositiveIntegerField(default=3)
    min_units_for_alerts = models.PositiveIntegerField(default=200)
    multiple_exposure_threshold = models.FloatField(default=0.01)
    # Warehouse-native analysis: exposures and events read from a source's tables, in the
    # source's engine (none: our exposures and event store).
    source = models.ForeignKey(
        "metrics.EventSource",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="experiments",
    )
    source_experiment_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The experiment's id in the source's exposure table; empty: its key.",
    )
    # Planning
    planned_mde = models.FloatField(null=True, blank=True, help_text="Relative MDE, e.g. 0.05.")
    planned_sample_size_per_variant = models.PositiveIntegerField(null=True, blank=True)
    planned_duration_days = models.PositiveIntegerField(null=True, blank=True)
    # Conclusion
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decision_variant = models.CharField(max_length=100, blank=True)
    decision_rationale = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    concluded_at = models.DateTimeField(null=True, blank=True)
    # Bookkeeping of the exposure sync: ``$exposure`` events up to this id are merged in.
    exposures_synced_through_event_id = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="experiment_unique_key"),
            models.CheckConstraint(
                condition=Q(coverage__gte=0) & Q(coverage__lte=1), name="experiment_coverage_0_1"
            ),
            models.CheckConstraint(
                condition=Q(alpha__gt=0) & Q(alpha__lt=0.5), name="experiment_alpha_range"
            ),
            models.CheckConstraint(
                condition=~Q(status="concluded") | ~Q(decision=""),
                name="experiment_concluded_has_decision",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def hypothesis(self) -> str:
        """The hypothesis as one sentence, from the template's parts."""
        # Parts stored with their connecting word ("for new users") still read once.
        change = hypothesis_part(self.hypothesis_change, "change").rstrip(".")
        audience = hypothesis_part(self.hypothesis_audience, "audience")
        outcome = hypothesis_part(self.hypothesis_outcome, "outcome")
        evidence = hypothesis_part(self.hypothesis_evidence, "evidence").rstrip(".")
        parts = [f"We believe {change}"]
        if audience:
            parts.append(f"for {audience}")
        if outcome:
            parts.append(f"will {outcome}")
        sentence = " ".join(parts)
        if evidence:
            sentence += f" because {evidence}"
        return sentence + "."


class Variant(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    weight = models.FloatField()
    is_control = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_unique_key"),
            models.UniqueConstraint(
                fields=["experiment"], condition=Q(is_control=True), name="variant_one_control"
            ),
            models.CheckConstraint(
                condition=Q(weight__gte=0) & Q(weight__lte=1), name="variant_weight_0_1"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class MetricRole(models.TextChoices):
    PRIMARY = "primary", "Primary"
    SECONDARY = "secondary", "Secondary"
    GUARDRAIL = "guardrail", "Guardrail"


class ExperimentMetric(models.Model):
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="metric_links"
    )
    metric = models.ForeignKey("metrics.Metric", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=MetricRole.choices)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "metric"], name="expmetric_unique"),
            models.UniqueConstraint(
                fields=["experiment"], condition=Q(role="primary"), name="expmetric_one_primary"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} ({self.role})"


class Phase(models.Model):
    """A period with fixed variants, weights and metrics. Changing any of them while the
    experiment runs ends the phase and starts a new one, with its own analysis and SRM check."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    coverage = models.FloatField()
    weights = models.JSONField(help_text="{variant key: weight} during this phase.")
    metric_keys = models.JSONField(help_text="{role: [metric keys]} during this phase.")
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "number"], name="phase_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key} phase {self.number}"


class Exposure(models.Model):
    """A unit's first exposure to an experiment: the population every analysis starts from.

    One row per (experiment, unit), written by server-side assignment and merged in bulk from
    ``$exposure`` events. The time is integer microseconds since the epoch (UTC), like
    ``Event.timestamp_us``, so the metric SQL anchors each unit's window with integer arithmetic.
    A unit seen in more than one variant is ``excluded``: kept here so health checks can count
    it, left out of the analysis; so is a unit the workspace holdout held out (``held_out``).
    """

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    phase = models.ForeignKey(
        Phase,
        on_delete=models.CASCADE,
        related_name="exposures",
        help_text="The phase of the first exposure.",
    )
    unit_id = models.CharField(max_length=200)
    variant = models.CharField(max_length=100, help_text="Key of the variant first exposed to.")
    exposed_at_us = models.BigIntegerField(
        help_text="First exposure, in microseconds since the Unix epoch, UTC."
    )
    excluded = models.BooleanField(
        default=False, help_text="Seen in more than one variant: left out of analysis."
    )
    # db_default: the exposure merges insert rows with raw SQL naming their own columns.
    held_out = models.BooleanField(
        default=False,
        db_default=False,
        help_text=(
            "Held out by the workspace holdout when exposed (a client ignored the holdout): left "
            "out of analysis. Set before each analysis (experiments.holdouts.srm)."
        ),
    )

    class Meta:
        db_table = "experiments_exposure"
        constraints = [
            models.UniqueConstraint(fields=["experiment", "unit_id"], name="exposure_unique_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} → {self.variant}"


class ResultSnapshot(models.Model):
    """One immutable analysis: inputs, settings, outputs, engine version, data cut-off.

    Written once, by a successful run only; ``job`` (one snapshot per job) is the idempotency
    key that makes a redelivered analysis task a no-op.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="snapshots")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="snapshots")
    job = models.OneToOneField(
        BackgroundJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="snapshot"
    )
    data_cutoff = models.DateTimeField()
    engine_version = models.CharField(max_length=32)
    settings = models.JSONField()
    inputs = models.JSONField(help_text="Sufficient statistics per metric × variant × segment.")
    outputs = models.JSONField(help_text="Comparisons, corrections and summaries.")
    health = models.JSONField(help_text="SRM, multiple exposures, guardrails, power.")
    run_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_cutoff", "-id"]
        indexes = [models.Index(fields=["experiment", "-data_cutoff"])]

    def __str__(self) -> str:
        return f"{self.experiment.key} @ {self.data_cutoff:%Y-%m-%d %H:%M}"


class AnalysisTrigger(models.TextChoices):
    MANUAL = "manual", "Requested"
    SCHEDULE = "schedule", "Scheduled"


class PendingAnalysis(models.Model):
    """The one analysis of an experiment that is queued or running.

    At most one row per experiment (a unique constraint, so it holds on SQLite and PostgreSQL
    alike): a refresh requested while it exists joins its job instead of queuing another. The
    row goes when the analysis ends, whatever the outcome; a row whose job stopped reporting
    is stale and the next request replaces it (see ``experiments.services.analysis``).
    """

    experiment = models.OneToOneField(
        Experiment, on_delete=models.CASCADE, related_name="pending_analysis"
    )
    job = models.OneToOneField(BackgroundJob, on_delete=models.CASCADE, related_name="+")
    task_id = models.CharField(max_length=64)
    trigger = models.CharField(
        max_length=16, choices=AnalysisTrigger.choices, default=AnalysisTrigger.MANUAL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.experiment.key}: job {self.job_id}"


class AlertKind(models.TextChoices):
    SRM = "srm", "Sample ratio mismatch"
    MULTIPLE_EXPOSURES = "multiple_exposures", "Units exposed to several variants"
    GUARDRAIL_HARM = "guardrail_harm", "Guardrail harmed"
    SIGNIFICANT_RESULT = "significant_result", "Significant result"
    CHECK_IN_DUE = "check_in_due", "Key result check-in due"


class Notification(models.Model):
    """An in-app alert, e.g. an SRM, a significant result or a key result's weekly check-in."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="notifications")
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=50)
    dedupe_key = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "dedupe_key"], name="notification_unique_dedupe"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Webhook(TimeStampedModel):
    """An outgoing webhook; its signing secret is stored encrypted, never in plain text."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list, blank=True, help_text="Alert kinds; empty means all.")
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due; an attempt in flight pushes it forward (a short lease).
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "notification"], name="delivery_unique_per_notification"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.webhook} ← {self.notification} ({self.status})"


# Templates and plans, and global holdouts, live in their own modules
# (experiments/plan_models.py, experiments/holdouts/models.py); imported here so that Django
# registers them with this app.
from experiments.holdouts.models import Holdout, HoldoutReport, HoldoutUnit  # noqa: E402, F401
from experiments.plan_models import (  # noqa: E402, F401
    ExperimentPlan,
    ExperimentTemplate,
    ExperimentTemplateMetric,
)
