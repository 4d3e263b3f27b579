"""Django admin for operators: KPI settings and cache, OKRs.

The KPI cache, PQLs and feature requests are computed by the refresh tasks: the admin shows
them read-only. OKRs are edited through the API or the app (services validate and audit);
here they are read-only too, so an operator cannot bypass those rules by accident.
"""

from django.contrib import admin

from outcomes.kpis.models import FeatureRequest, KpiSettings, KpiValue, ProductQualifiedLead
from outcomes.okrs.models import BaselineChange, CheckIn, Initiative, KeyResult, Objective


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse, search and delete; never add or edit (a service or a task owns the writes)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(KpiSettings)
class KpiSettingsAdmin(ReadOnlyAdmin):
    list_display = [
        "workspace",
        "signup_event",
        "aha_event",
        "computed_through",
        "last_computed_at",
    ]
    search_fields = ["workspace__name", "workspace__slug"]


@admin.register(KpiValue)
class KpiValueAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "kpi", "period", "date", "segment", "dimension", "value"]
    list_filter = ["period", "kpi", "workspace"]
    date_hierarchy = "date"
    search_fields = ["kpi", "segment", "dimension"]


@admin.register(ProductQualifiedLead)
class ProductQualifiedLeadAdmin(ReadOnlyAdmin):
    list_display = ["unit_id", "unit_type", "event_count", "plan", "arr", "workspace"]
    list_filter = ["unit_type", "workspace"]
    search_fields = ["unit_id"]


@admin.register(FeatureRequest)
class FeatureRequestAdmin(ReadOnlyAdmin):
    list_display = ["text", "requests", "accounts", "arr", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["request"]


class KeyResultInline(admin.TabularInline):
    model = KeyResult
    fields = ["title", "metric", "baseline", "target", "direction"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Objective)
class ObjectiveAdmin(ReadOnlyAdmin):
    list_display = ["title", "team", "period_start", "period_end", "owner", "workspace"]
    list_filter = ["period_kind", "workspace"]
    search_fields = ["title", "team"]
    inlines = [KeyResultInline]


class CheckInInline(admin.TabularInline):
    model = CheckIn
    fields = ["date", "source", "value", "units", "confidence", "comment", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False


class BaselineChangeInline(admin.TabularInline):
    model = BaselineChange
    fields = ["created_at", "previous", "baseline", "source", "reason", "changed_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(KeyResult)
class KeyResultAdmin(ReadOnlyAdmin):
    list_display = ["title", "objective", "metric", "baseline", "target", "workspace"]
    list_filter = ["direction", "workspace"]
    search_fields = ["title", "metric__key"]
    inlines = [BaselineChangeInline, CheckInInline]


@admin.register(Initiative)
class InitiativeAdmin(ReadOnlyAdmin):
    list_display = ["title", "status", "owner", "workspace", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["title"]


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = ["key_result", "date", "source", "value", "confidence", "created_by"]
    list_filter = ["source"]
    date_hierarchy = "date"


@admin.register(BaselineChange)
class BaselineChangeAdmin(ReadOnlyAdmin):
    list_display = ["key_result", "previous", "baseline", "source", "changed_by", "created_at"]
    list_filter = ["source"]
