"""Event ingestion (native batch API) and event browsing."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plg_platform.api.base import WorkspaceAPIView
from plg_platform.authentication import IngestionKeyAuthentication
from plg_platform.errors import PayloadTooLarge, ValidationFailed
from plg_platform.parsers import EventJSONParser
from plg_platform.permissions import IsIngestionKey
from plg_platform.selectors import events_list
from plg_platform.services.event_input import EventBatchInput
from plg_platform.services.ingestion import events_ingest, from_epoch_us

BATCH_TOO_LARGE = "At most {limit} events per request; split the batch."
BODY_TOO_LARGE = "The request body is over {limit} bytes; split the batch."
EVENTS_MUST_BE_LIST = "Expected a list of events under 'events'."


def check_body_size(request: Request, limit: int) -> None:
    """Refuse bodies over ``limit`` bytes before parsing them. A compressed body was expanded
    (and cut at the request cap) by ``CompressedBodyMiddleware``, so this is its real size."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit), field="body")


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the request.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by field path, e.g. properties.amount.",
    )


class BatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectionSerializer(many=True)


class EventBatchApi(APIView):
    """Store a batch of events. Invalid events are reported by index; valid ones are kept."""

    authentication_classes = [IngestionKeyAuthentication]
    permission_classes = [IsIngestionKey]
    parser_classes = [EventJSONParser]

    @extend_schema(request=EventBatchInput, responses=BatchOutputSerializer, tags=["events"])
    def post(self, request: Request) -> Response:
        check_body_size(request, settings.INGESTION_MAX_BATCH_BYTES)
        raw_events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(raw_events, list):
            raise ValidationFailed(EVENTS_MUST_BE_LIST, field="events")
        limit = settings.INGESTION_MAX_EVENTS_PER_BATCH
        if len(raw_events) > limit:
            raise PayloadTooLarge(BATCH_TOO_LARGE.format(limit=limit), field="events")
        result = events_ingest(workspace=request.auth.workspace, raw_events=raw_events)
        return Response(result.as_json())


class EventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True,
        help_text="null for a workspace whose events are kept in DuckDB or ClickHouse",
    )
    event = serializers.CharField()
    distinct_id = serializers.CharField()
    timestamp = serializers.SerializerMethodField()
    insert_id = serializers.CharField(allow_null=True)
    properties = serializers.DictField()

    def get_timestamp(self, obj) -> str:
        return from_epoch_us(obj.timestamp_us).isoformat()


class EventFilterSerializer(serializers.Serializer):
    event = serializers.CharField(required=False, max_length=200)
    distinct_id = serializers.CharField(required=False, max_length=200)
    after = serializers.DateTimeField(required=False, help_text="Inclusive lower bound.")
    before = serializers.DateTimeField(required=False, help_text="Exclusive upper bound.")


class EventListApi(WorkspaceAPIView):
    """Browse and count the workspace's events, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter("event", str),
            OpenApiParameter("distinct_id", str),
            OpenApiParameter("after", str, description="ISO 8601, inclusive"),
            OpenApiParameter("before", str, description="ISO 8601, exclusive"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses=EventOutputSerializer(many=True),
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        filters = EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = events_list(workspace=self.workspace, **filters.validated_data)
        return self.paginated(request, queryset, EventOutputSerializer)
