"""Health check for load balancers and operators: the database and the Celery broker."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plg_platform.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 3


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses=dict, tags=["health"])
    def get(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, check in (("database", _check_database), ("broker", _check_broker)):
            try:
                checks[name] = check()
            except Exception as exc:  # noqa: BLE001 - any failure is the answer
                checks[name] = f"error: {type(exc).__name__}: {exc}"
        healthy = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
        )
