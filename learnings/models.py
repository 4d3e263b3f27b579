"""Learnings: what an experiment (or an interview, a study, a support trend) taught us.

A ``Learning`` carries the numbers behind it as a JSON snapshot, its tags (funnel and loop
stage, effect on acquisition and retention, product area, free tags, key results) and the
fields the full-text index is built from. Changes go through ``learnings.services``; the
search index itself is maintained by the database (see ``learnings.search.index``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from experiments.models import Decision, Experiment, FunnelStage
from plg_platform.models import TimeStampedModel, Workspace

AREA_SEPARATOR = " › "


class Source(models.TextChoices):
    EXPERIMENT = "experiment", "Experiment"
    INTERVIEW = "interview", "User interviews"
    RESEARCH = "research", "Research"
    SUPPORT = "support", "Support trends"
    OTHER = "other", "Other"


class LoopStage(models.TextChoices):
    ATTRACT = "attract", "Attract"
    ENGAGE = "engage", "Engage"
    DELIGHT = "delight", "Delight"


class Effect(models.TextChoices):
    """Effect on acquisition or retention; blank means no metric measured it."""

    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class EffectDimension(models.TextChoices):
    ACQUISITION = "acquisition", "Acquisition"
    RETENTION = "retention", "Retention"


class Outcome(models.TextChoices):
    """The primary metric's verdict for the variant the learning is about."""

    WIN = "win", "Win"
    LOSS = "loss", "Loss"
    FLAT = "flat", "Flat"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class ProductArea(TimeStampedModel):
    """A node of the workspace's product-area taxonomy, e.g. Editor › Sharing.

    ``path`` (names) and ``id_path`` (``/3/7/``, ids from the root) are kept by
    ``learnings.services.areas`` so that "Editor and everything under it" is one indexed
    prefix filter, and so that a rename never touches a learning.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=500, editable=False)
    id_path = models.CharField(max_length=255, editable=False, db_index=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "path"], name="productarea_unique_path"),
            models.CheckConstraint(condition=~Q(name=""), name="productarea_has_name"),
        ]

    def __str__(self) -> str:
        return self.path


class Learning(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="learnings")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EXPERIMENT)
    title = models.CharField(max_length=300)
    hypothesis = models.TextField(blank=True)
    learned = models.TextField(blank=True, help_text="What we learned.")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decision_variant = models.CharField(max_length=100, blank=True)
    rationale = models.TextField(blank=True)
    # The experiment it came from (one learning per experiment) and the numbers behind it.
    experiment = models.OneToOneField(
        Experiment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="learning",
    )
    result_snapshot_id = models.BigIntegerField(
        null=True, blank=True, help_text="The analysis snapshot the numbers were taken from."
    )
    primary_result = models.JSONField(
        default=dict, blank=True, help_text="The primary metric's comparison, as analysed."
    )
    guardrail_results = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    impact = models.FloatField(
        null=True,
        blank=True,
        help_text="Primary metric's lift for the learning's variant; positive is better.",
    )
    impact_se = models.FloatField(
        null=True, blank=True, help_text="Standard error of the impact, from its interval."
    )
    # Tags
    funnel_stage = models.CharField(max_length=16, choices=FunnelStage.choices, blank=True)
    loop_stage = models.CharField(max_length=16, choices=LoopStage.choices, blank=True)
    acquisition_effect = models.CharField(max_length=16, choices=Effect.choices, blank=True)
    retention_effect = models.CharField(max_length=16, choices=Effect.choices, blank=True)
    effect_evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="{dimension: {derived, comparisons: [...]}}: the numbers behind each effect.",
    )
    product_area = models.ForeignKey(
        ProductArea, on_delete=models.SET_NULL, null=True, blank=True, related_name="learnings"
    )
    team = models.CharField(max_length=100, blank=True)
    attachments = models.JSONField(default=list, blank=True, help_text="[{url, title}]")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    learned_on = models.DateField(help_text="When we learned it (an experiment's conclusion).")
    quarter = models.CharField(max_length=7, editable=False, help_text="e.g. 2026-Q3")
    # Product-area path, tags, key results and team, for the full-text index.
    search_extra = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-learned_on", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-learned_on"], name="learning_ws_date"),
            models.Index(fields=["workspace", "-impact"], name="learning_ws_impact"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(impact_se__isnull=True) | Q(impact_se__gte=0),
                name="learning_impact_se_nonnegative",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="learning_has_title"),
        ]

    def __str__(self) -> str:
        return self.title


class LearningTag(models.Model):
    """A free tag on a learning, stored lower-case."""

    learning = models.ForeignKey(Learning, on_delete=models.CASCADE, related_name="tag_links")
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["learning", "name"], name="learningtag_unique"),
        ]
        indexes = [models.Index(fields=["name"], name="learningtag_name")]

    def __str__(self) -> str:
        return self.name


class LearningKeyResult(models.Model):
    """A key result the learning served, by reference (id and title as the OKR had them)."""

    learning = models.ForeignKey(Learning, on_delete=models.CASCADE, related_name="key_results")
    key_result_id = models.CharField(max_length=64)
    title = models.CharField(max_length=300)

    class Meta:
        ordering = ["key_result_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["learning", "key_result_id"], name="learningkeyresult_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class EffectOverride(models.Model):
    """One human change of an effect tag, with its reason; the latest one per dimension wins.

    A blank ``value`` hands the tag back to the automatic derivation.
    """

    learning = models.ForeignKey(
        Learning, on_delete=models.CASCADE, related_name="effect_overrides"
    )
    dimension = models.CharField(max_length=16, choices=EffectDimension.choices)
    previous = models.CharField(max_length=16, choices=Effect.choices, blank=True)
    value = models.CharField(max_length=16, choices=Effect.choices, blank=True)
    reason = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="effectoverride_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension}: {self.previous or '—'} → {self.value or 'automatic'}"


class SearchSynonyms(TimeStampedModel):
    """A workspace's synonym groups for the learnings search, e.g. ``["annual", "yearly"]``.

    No row means the defaults (``learnings.search.terms.DEFAULT_SYNONYMS``); a row, even with
    no groups, is what the workspace's editors chose. Written by
    ``learnings.services.synonyms``.
    """

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="search_synonyms"
    )
    groups = models.JSONField(default=list, blank=True, help_text="[[term, term, ...], ...]")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        verbose_name_plural = "search synonyms"

    def __str__(self) -> str:
        return f"{len(self.groups)} synonym groups"
