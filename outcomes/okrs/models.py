"""Objectives and key results: objectives, key results bound to a metric, their baseline changes
and check-ins, and initiatives. Every change goes through ``outcomes.okrs.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from metrics.public import Direction, Metric
from plg_platform.models import TimeStampedModel, Workspace


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
    units whose window has passed); see ``outcomes.okrs.progress``.
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
