"""Platform-wide models: workspaces, their members and invitations, API keys, events and unit
properties, the audit trail and background-job progress.

Every other object in the product belongs to a ``Workspace``; nothing is shared across them.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class EventStore(models.TextChoices):
    """Where a workspace's ingested events are kept (see docs/engines.md)."""

    APP = "app", "App database"
    DUCKDB = "duckdb", "DuckDB (Parquet files on this server)"
    CLICKHOUSE = "clickhouse", "ClickHouse"


class Workspace(TimeStampedModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone used for calendar days in KPIs."
    )
    analysis_interval_minutes = models.PositiveIntegerField(
        default=360, help_text="How often running experiments are re-analysed."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )
    event_store = models.CharField(
        max_length=16,
        choices=EventStore.choices,
        default=EventStore.APP,
        help_text="Where ingested events are stored; metrics and KPIs are computed there.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class Membership(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    last_chosen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the user last chose this workspace; sign-in lands in the latest.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def has_role(self, role: str) -> bool:
        """Return whether this membership's role is at least ``role``."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class Invitation(TimeStampedModel):
    """An invitation of an e-mail address into a workspace, pending until its invitee accepts.

    The token in the link is stored only as its SHA-256 digest; it works once, until
    ``expires_at``, unless revoked.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_sent",
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_accepted_or_revoked_not_both",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.role})"

    def status_at(self, now: datetime) -> InvitationStatus:
        """Return whether the invitation is pending, accepted, revoked or expired at ``now``."""
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class ApiKeyKind(models.TextChoices):
    INGESTION = "ingestion", "Ingestion key (write events only)"
    PERSONAL = "personal", "Personal API token (acts as its user)"
    SDK = "sdk", "SDK client key (reads the public assignment payload)"


class ApiKey(TimeStampedModel):
    """A secret credential. Only its SHA-256 digest is stored; the plain key is shown once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=16, choices=ApiKeyKind.choices)
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a key.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="The user a personal token acts as.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="personal") | Q(user__isnull=False),
                name="apikey_personal_has_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Person(TimeStampedModel):
    """Properties of one unit (user) from ``identify`` calls: plan, country, account id, ARR…"""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="persons")
    distinct_id = models.CharField(max_length=200)
    properties = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "distinct_id"], name="person_unique_distinct_id"
            ),
        ]

    def __str__(self) -> str:
        return self.distinct_id


class Event(models.Model):
    """One product event.

    The time is stored as integer microseconds since the Unix epoch (UTC): window arithmetic in
    the metric SQL is then plain integer arithmetic on every engine, exact at window edges and
    immune to time zones and daylight-saving changes.
    """

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=200)
    distinct_id = models.CharField(max_length=200)
    timestamp_us = models.BigIntegerField(help_text="Microseconds since the Unix epoch, UTC.")
    # NULL, not "": events without an insert_id are exempt from the unique constraint below.
    insert_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "event", "timestamp_us"], name="event_ws_event_time"),
            models.Index(
                fields=["workspace", "distinct_id", "timestamp_us"], name="event_ws_unit_time"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "insert_id"],
                condition=Q(insert_id__isnull=False),
                name="event_unique_insert_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} by {self.distinct_id}"


class AuditLog(models.Model):
    """Who changed what, and when. Written by the service that makes the change."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundJob(TimeStampedModel):
    """Progress of one piece of long work done by a Celery worker, for progress bars."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=200, blank=True, help_text="What the job works on.")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="From 0 to 1.")
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "kind", "subject", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.status})"
