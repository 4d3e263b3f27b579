"""Django admin for operators: a read-only window on experiments and what they produced.

Experiments change only through ``experiments.services``, which validate, start phases and
write the audit trail; an admin form would do none of that, so these pages only show. The one
exception is switching a webhook off.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from experiments.holdouts.models import Holdout, HoldoutReport, HoldoutUnit
from experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentPlan,
    ExperimentTemplate,
    ExperimentTemplateMetric,
    Exposure,
    Notification,
    PendingAnalysis,
    Phase,
    ResultSnapshot,
    Variant,
    Webhook,
    WebhookDelivery,
)


class ReadOnlyAdminMixin:
    """Show rows; never add, change or delete them from the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VariantInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["key", "name", "weight", "is_control", "position"]


class ExperimentMetricInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ExperimentMetric
    extra = 0
    fields = ["metric", "role", "position"]


class PhaseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Phase
    extra = 0
    fields = ["number", "started_at", "ended_at", "coverage", "weights", "reason"]


@admin.register(Experiment)
class ExperimentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "workspace", "status", "owner", "started_at", "updated_at"]
    list_filter = ["status", "funnel_stage", "workspace"]
    search_fields = ["key", "name", "product_area", "team"]
    list_select_related = ["workspace", "owner"]
    inlines = [VariantInline, ExperimentMetricInline, PhaseInline]


@admin.register(Variant)
class VariantAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "experiment", "weight", "is_control"]
    search_fields = ["key", "experiment__key"]
    list_select_related = ["experiment"]


@admin.register(ExperimentMetric)
class ExperimentMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["experiment", "metric", "role"]
    list_filter = ["role"]
    list_select_related = ["experiment", "metric"]


@admin.register(Phase)
class PhaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["experiment", "number", "started_at", "ended_at", "reason"]
    search_fields = ["experiment__key"]
    list_select_related = ["experiment"]


@admin.register(Exposure)
class ExposureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["unit_id", "experiment", "variant", "phase", "exposed_at_us", "excluded"]
    list_filter = ["excluded", "experiment"]
    search_fields = ["unit_id"]
    list_select_related = ["experiment", "phase__experiment"]
    # Exposure tables grow to millions of rows: skip the exact COUNT(*) on filtered pages.
    show_full_result_count = False


@admin.register(ResultSnapshot)
class ResultSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["experiment", "phase", "data_cutoff", "engine_version", "run_seconds"]
    list_filter = ["experiment"]
    list_select_related = ["experiment", "phase__experiment"]


@admin.register(PendingAnalysis)
class PendingAnalysisAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The analysis each experiment has queued or running (at most one; see the services)."""

    list_display = ["experiment", "job", "trigger", "task_id", "created_at"]
    list_filter = ["trigger"]
    list_select_related = ["experiment", "job"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "workspace", "experiment", "created_at", "read_at"]
    list_filter = ["kind", "workspace"]
    search_fields = ["title", "dedupe_key"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "workspace", "is_active", "updated_at"]
    list_filter = ["is_active", "workspace"]
    # The signing secret is encrypted and never shown; only switching off is allowed here.
    fields = ["workspace", "url", "events", "is_active"]
    readonly_fields = ["workspace", "url", "events"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "webhook",
        "notification",
        "status",
        "attempts",
        "response_status",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    list_select_related = ["webhook", "notification"]


# --- Templates and pre-registered plans (read-only: they change through their services) --------


class ExperimentTemplateMetricInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ExperimentTemplateMetric
    extra = 0
    fields = ["metric", "role", "position"]


@admin.register(ExperimentTemplate)
class ExperimentTemplateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "workspace", "planned_mde", "min_runtime_days", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["key", "name"]
    list_select_related = ["workspace"]
    inlines = [ExperimentTemplateMetricInline]


@admin.register(ExperimentPlan)
class ExperimentPlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["experiment", "template", "frozen_at"]
    search_fields = ["experiment__key"]
    list_select_related = ["experiment", "template"]


@admin.register(ExperimentTemplateMetric)
class ExperimentTemplateMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("template", "metric", "role", "position")
    list_filter = ("role",)


# --- Global holdouts (experiments/holdouts/): changed through their services and pages only ----


@admin.register(Holdout)
class HoldoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "name", "workspace", "share", "starts_at")
    list_filter = ("workspace",)
    search_fields = ("key", "name")


@admin.register(HoldoutUnit)
class HoldoutUnitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("holdout", "unit_id", "arm")
    list_filter = ("arm",)
    search_fields = ("unit_id",)


@admin.register(HoldoutReport)
class HoldoutReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("holdout", "data_cutoff", "final", "created_at")
    list_filter = ("final",)
