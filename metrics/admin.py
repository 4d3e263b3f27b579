"""Django admin for operators: metric definitions."""

from django.contrib import admin

from metrics.models import Metric


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "type", "kind", "workspace", "created_at"]
    list_filter = ["type", "kind", "workspace"]
    search_fields = ["key", "name", "event"]
