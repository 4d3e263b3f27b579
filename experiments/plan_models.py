"""Templates and pre-registered plans: a reusable plan (``ExperimentTemplate``) and the plan an
experiment froze when it started (``ExperimentPlan``). Written by
``experiments/services/templates.py`` and ``plans.py``; read by ``experiments.plan_selectors``.

A module of its own, as ``experiments/holdouts/models.py`` is: ``experiments.models`` imports
these at its end, so Django registers them with the experiments app and
``from experiments.models import ExperimentPlan`` keeps working.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from experiments.models import Correction, Engine, Experiment, MetricRole
from plg_platform.models import TimeStampedModel, Workspace


class ExperimentTemplate(TimeStampedModel):
    """A reusable plan: metrics, smallest change worth detecting, minimum runtime, planned
    units, statistics settings and a decision rule (``experiments.decision_rules``).

    An experiment created from it copies these values; its ``ExperimentPlan`` remembers which
    template it came from. Changing the template later changes no experiment.
    """

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="experiment_templates"
    )
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    planned_mde = models.FloatField(null=True, blank=True, help_text="Relative MDE, e.g. 0.05.")
    min_runtime_days = models.PositiveIntegerField(null=True, blank=True)
    planned_units_per_variant = models.PositiveIntegerField(null=True, blank=True)
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.FREQUENTIST)
    sequential = models.BooleanField(default=False)
    sequential_tuning = models.PositiveIntegerField(default=5000)
    alpha = models.FloatField(default=0.05)
    cuped = models.BooleanField(default=True)
    correction = models.CharField(max_length=8, choices=Correction.choices, default=Correction.HOLM)
    decision_rule = models.JSONField(
        default=dict, blank=True, help_text="experiments.decision_rules.DecisionRule as JSON."
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="template_unique_key"),
            models.CheckConstraint(
                condition=Q(alpha__gt=0) & Q(alpha__lt=0.5), name="template_alpha_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentTemplateMetric(models.Model):
    template = models.ForeignKey(
        ExperimentTemplate, on_delete=models.CASCADE, related_name="metric_links"
    )
    metric = models.ForeignKey("metrics.Metric", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=MetricRole.choices)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "metric"], name="templatemetric_unique"),
            models.UniqueConstraint(
                fields=["template"],
                condition=Q(role="primary"),
                name="templatemetric_one_primary",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} ({self.role})"


class ExperimentPlan(TimeStampedModel):
    """An experiment's decision rule, the template it came from, and its plan as frozen when
    it first started (``frozen``: ``experiments.decision_rules.PlanSpec`` as JSON).

    The frozen plan never changes; later changes of planned fields are amendments, each in the
    audit log (action ``experiment.plan_amend``) with the old and new values and a reason.
    """

    experiment = models.OneToOneField(Experiment, on_delete=models.CASCADE, related_name="plan")
    template = models.ForeignKey(
        ExperimentTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="experiment_plans",
    )
    decision_rule = models.JSONField(
        default=dict, blank=True, help_text="experiments.decision_rules.DecisionRule as JSON."
    )
    frozen = models.JSONField(null=True, blank=True, editable=False)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(frozen__isnull=True, frozen_at__isnull=True)
                | Q(frozen__isnull=False, frozen_at__isnull=False),
                name="plan_frozen_with_time",
            ),
        ]

    def __str__(self) -> str:
        return f"plan of {self.experiment.key}"
