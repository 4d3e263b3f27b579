"""Django admin for operators: learnings, their tags and override history, the area taxonomy,
the search synonyms.

Learnings and areas change through ``learnings.services`` (validation, cached paths, search
text, audit trail), which an admin form would bypass; so these pages only show.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from learnings.models import (
    EffectOverride,
    Learning,
    LearningKeyResult,
    LearningTag,
    ProductArea,
    SearchSynonyms,
)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EffectOverrideInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EffectOverride
    extra = 0
    fields = ["created_at", "dimension", "previous", "value", "reason", "actor"]
    readonly_fields = fields


class LearningTagInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LearningTag
    extra = 0


class LearningKeyResultInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LearningKeyResult
    extra = 0


@admin.register(Learning)
class LearningAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "workspace",
        "source",
        "learned_on",
        "product_area",
        "funnel_stage",
        "outcome",
        "acquisition_effect",
        "retention_effect",
    ]
    list_filter = ["source", "funnel_stage", "outcome", "acquisition_effect", "retention_effect"]
    search_fields = ["title", "hypothesis", "learned"]
    list_select_related = ["workspace", "product_area"]
    inlines = [LearningTagInline, LearningKeyResultInline, EffectOverrideInline]


@admin.register(ProductArea)
class ProductAreaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["path", "workspace", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["path"]


@admin.register(EffectOverride)
class EffectOverrideAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["learning", "dimension", "previous", "value", "actor", "created_at"]
    list_filter = ["dimension"]


@admin.register(LearningTag)
class LearningTagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "learning"]
    search_fields = ["name"]


@admin.register(LearningKeyResult)
class LearningKeyResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key_result_id", "title", "learning"]
    search_fields = ["title", "key_result_id"]


@admin.register(SearchSynonyms)
class SearchSynonymsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shown only: editors change synonyms on the learnings' synonyms page (audited)."""

    list_display = ["workspace", "updated_by", "updated_at"]
    list_filter = ["workspace"]
