"""Django admin for operators: metric definitions and event sources."""

from django.contrib import admin

from metrics.models import EventSource, Metric


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "type", "kind", "workspace", "created_at"]
    list_filter = ["type", "kind", "workspace"]
    search_fields = ["key", "name", "event"]


@admin.register(EventSource)
class EventSourceAdmin(admin.ModelAdmin):
    """Operators see where sources read and their last dry run; the encrypted secret is not
    shown, and changes go through the pages or the API (which check names and paths)."""

    list_display = ["name", "engine", "workspace", "events_table", "last_checked_at"]
    list_filter = ["engine", "workspace"]
    search_fields = ["name", "events_table", "exposures_table"]
    exclude = ["secret_encrypted"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
