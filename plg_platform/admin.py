"""Django admin for operators. Keys show only their prefix; secrets are never stored."""

from django.contrib import admin

from plg_platform.models import (
    ApiKey,
    AuditLog,
    BackgroundJob,
    Event,
    Invitation,
    Membership,
    Person,
    Workspace,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "event_store", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Changing the store here would leave the stored events behind (every analysis would
        # lose its history): an existing workspace moves with ``manage.py move_event_store``.
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if obj is None else [*readonly, "event_store"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role"]
    list_filter = ["role", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are made and accepted in the app; operators look and may revoke."""

    list_display = ["email", "workspace", "role", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["email"]
    readonly_fields = ["token_digest", "accepted_at", "accepted_by", "invited_by"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "kind", "name", "workspace", "user", "last_used_at", "revoked_at"]
    list_filter = ["kind", "workspace"]
    readonly_fields = ["prefix", "digest", "last_used_at"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["distinct_id", "workspace", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["distinct_id"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event", "distinct_id", "timestamp_us", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["distinct_id", "event"]
    show_full_result_count = False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "workspace"]


@admin.register(BackgroundJob)
class BackgroundJobAdmin(admin.ModelAdmin):
    list_display = ["kind", "subject", "workspace", "status", "progress", "created_at"]
    list_filter = ["kind", "status"]
