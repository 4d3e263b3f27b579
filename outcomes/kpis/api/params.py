"""Query parameters the KPI endpoints share: a range of local days, a page of a list."""

from __future__ import annotations

from datetime import date, timedelta

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from plg_platform.api.base import StrictSerializer
from plg_platform.clock import local_today


def page_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """Return a serializer describing one page of ``item`` (for the OpenAPI schema)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


def range_fields() -> dict:
    return {
        "from": serializers.DateField(required=False),
        "to": serializers.DateField(required=False),
        "segment": serializers.CharField(required=False, allow_blank=True, default=""),
    }


KpiRangeQuerySerializer = type("KpiRangeQuerySerializer", (StrictSerializer,), range_fields())
RANGE_PARAMETERS = [
    OpenApiParameter("from", date, description="First local day (default: 90 days before 'to')"),
    OpenApiParameter("to", date, description="Last local day (default: today)"),
    OpenApiParameter("segment", str, description="e.g. plan=pro; empty for everyone"),
]


def date_range(params: dict, workspace, default_days: int = 90) -> tuple[date, date]:
    date_to = params.get("to") or local_today(workspace)
    date_from = params.get("from") or date_to - timedelta(days=default_days)
    return date_from, date_to


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (default 100)"),
    OpenApiParameter("offset", int),
]
