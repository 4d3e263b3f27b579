"""Holdouts, the units seen during one (and which arm they are in), and its impact reports.

Kept apart from ``experiments/models.py`` (which imports this module at its end so that Django
finds the models); changes of state go through ``experiments.holdouts.services``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from plg_platform.models import TimeStampedModel, Workspace


def _new_seed() -> str:
    return uuid.uuid4().hex


class HoldoutArm(models.TextChoices):
    HOLDOUT = "holdout", "Held out"
    GENERAL = "general", "Everyone else"


class Holdout(TimeStampedModel):
    """``share`` of the workspace's units, chosen by their own hash, see no experiment between
    ``starts_at`` and ``ends_at``. A unit is held out when GrowthBook's hash (version 2) of
    ``hash_seed`` + its ``hash_attribute`` value is below ``share``."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="holdouts")
    key = models.SlugField(max_length=100, help_text="Also the SDK's tracking key.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    share = models.FloatField(help_text="Share of units held out, e.g. 0.05.")
    hash_seed = models.CharField(max_length=64, default=_new_seed)
    hash_attribute = models.CharField(max_length=100, default="id")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Bookkeeping of the sync of SDK holdout exposures: events up to this id are merged in.
    units_synced_through_event_id = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="holdout_unique_key"),
            models.CheckConstraint(
                condition=Q(share__gt=0) & Q(share__lte=0.5), name="holdout_share_range"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="holdout_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class HoldoutUnit(models.Model):
    """A unit seen while the holdout ran, with its arm: the population of the impact report.

    One row per (holdout, unit), written by server-side assignment and merged in bulk from the
    ``$exposure`` events SDKs send for the holdout (their tracking callback fires whenever the
    holdout gate is evaluated, in either arm). Time in microseconds since the epoch, UTC.
    """

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    holdout = models.ForeignKey(Holdout, on_delete=models.CASCADE, related_name="units")
    unit_id = models.CharField(max_length=200)
    arm = models.CharField(max_length=16, choices=HoldoutArm.choices)
    first_seen_us = models.BigIntegerField()

    class Meta:
        db_table = "experiments_holdoutunit"
        constraints = [
            models.UniqueConstraint(fields=["holdout", "unit_id"], name="holdoutunit_unique_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} ({self.arm})"


class HoldoutReport(models.Model):
    """One immutable comparison of the holdout with everyone else on the key-result metrics,
    with the shipped experiments' shrunk lifts beside it. ``final``: computed after the end."""

    holdout = models.ForeignKey(Holdout, on_delete=models.CASCADE, related_name="reports")
    data_cutoff = models.DateTimeField()
    final = models.BooleanField(default=False)
    results = models.JSONField(help_text="Per key-result metric: counts, lift, interval, sums.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_cutoff", "-id"]

    def __str__(self) -> str:
        return f"{self.holdout} @ {self.data_cutoff:%Y-%m-%d %H:%M}"
