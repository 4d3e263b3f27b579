"""The one output shape of a ``BackgroundJob``, used by every app's job-status endpoint."""

from __future__ import annotations

from rest_framework import serializers


class BackgroundJobOutputSerializer(serializers.Serializer):
    """Progress of one piece of background work, for progress bars and polling clients."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    subject = serializers.CharField(help_text="What the job works on.")
    status = serializers.CharField(help_text="queued | running | succeeded | failed")
    progress = serializers.FloatField(help_text="From 0 to 1.")
    message = serializers.CharField()
    result = serializers.DictField()
    error = serializers.CharField()
    snapshot_id = serializers.IntegerField(
        source="result.snapshot_id",
        allow_null=True,
        default=None,
        help_text="The result snapshot an experiment analysis wrote, when it wrote one.",
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
