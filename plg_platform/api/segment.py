"""Segment-compatible tracking API: ``/v1/batch``, ``/v1/track``, ``/v1/identify`` (and page,
screen, group), authenticated the way Segment clients send their write key."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plg_platform.api.events import BATCH_TOO_LARGE, BatchOutputSerializer, check_body_size
from plg_platform.authentication import IngestionKeyAuthentication
from plg_platform.errors import PayloadTooLarge, ValidationFailed
from plg_platform.parsers import EventJSONParser
from plg_platform.permissions import IsIngestionKey
from plg_platform.services.event_input import SEGMENT_MAX_BATCH_BYTES, SEGMENT_MAX_MESSAGE_BYTES
from plg_platform.services.segment import segment_batch_ingest

BATCH_MUST_BE_LIST = "Expected a list of messages under 'batch'."


class _SegmentApi(APIView):
    authentication_classes = [IngestionKeyAuthentication]
    permission_classes = [IsIngestionKey]
    # JSON, gzip-compressed or not (CompressedBodyMiddleware expands it, capped).
    parser_classes = [EventJSONParser]
    message_type: str | None = None

    def _messages(self, request: Request) -> list:
        data = request.data
        if not isinstance(data, dict):
            raise ValidationFailed("Expected a JSON object.", field="body")
        if self.message_type is not None:
            return [{**data, "type": self.message_type}]
        batch = data.get("batch")
        if not isinstance(batch, list):
            raise ValidationFailed(BATCH_MUST_BE_LIST, field="batch")
        limit = settings.INGESTION_MAX_EVENTS_PER_BATCH
        if len(batch) > limit:
            raise PayloadTooLarge(BATCH_TOO_LARGE.format(limit=limit), field="batch")
        return batch

    @extend_schema(request=dict, responses=BatchOutputSerializer, tags=["segment"])
    def post(self, request: Request) -> Response:
        limit = SEGMENT_MAX_MESSAGE_BYTES if self.message_type else SEGMENT_MAX_BATCH_BYTES
        check_body_size(request, limit)
        result = segment_batch_ingest(
            workspace=request.auth.workspace, messages=self._messages(request)
        )
        return Response({"success": not result.rejected, **result.as_json()})


class SegmentBatchApi(_SegmentApi):
    """Segment's ``POST /v1/batch``."""


class SegmentTrackApi(_SegmentApi):
    message_type = "track"


class SegmentIdentifyApi(_SegmentApi):
    message_type = "identify"


class SegmentPageApi(_SegmentApi):
    message_type = "page"


class SegmentScreenApi(_SegmentApi):
    message_type = "screen"


class SegmentGroupApi(_SegmentApi):
    message_type = "group"
