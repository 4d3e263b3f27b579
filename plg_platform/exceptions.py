"""One DRF exception handler: every error becomes ``{"detail": ..., "errors": {field: [...]}}``.

Domain errors from services map to their 4xx; DRF's own errors keep their status codes; a
Django ``ValidationError`` (from ``full_clean``) becomes a 400 naming its fields.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from plg_platform.errors import DomainError

_FIELD_FOR_STATUS = {
    status.HTTP_401_UNAUTHORIZED: "authorization",
    status.HTTP_403_FORBIDDEN: "authorization",
    status.HTTP_404_NOT_FOUND: "id",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "content_type",
}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{field path: [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            for sub, messages in _flatten(value).items():
                path = str(key) if sub == "" else f"{key}.{sub}"
                out.setdefault(path, []).extend(messages)
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {"": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            for sub, messages in _flatten(item).items():
                path = str(index) if sub == "" else f"{index}.{sub}"
                out.setdefault(path, []).extend(messages)
        return out
    return {"": [str(detail)]}


def _summary(errors: dict[str, list[str]]) -> str:
    field, messages = next(iter(errors.items()))
    return f"{field}: {messages[0]}" if field != "non_field_errors" else messages[0]


VALUE_OUT_OF_RANGE = (
    "A value is out of range or cannot be stored by the database (e.g. an id beyond 64 bits)."
)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OverflowError | DataError):
        # An unbounded integer field passed a number the database cannot hold (SQLite raises
        # OverflowError binding it, PostgreSQL DataError): the client's input, not our fault.
        errors = {"non_field_errors": [VALUE_OUT_OF_RANGE]}
        return Response({"detail": VALUE_OUT_OF_RANGE, "errors": errors}, status=400)
    if isinstance(exc, DomainError):
        errors = exc.as_errors()
        return Response({"detail": _summary(errors), "errors": errors}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        errors = (
            {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"non_field_errors": [str(m) for m in exc.messages]}
        )
        return Response({"detail": _summary(errors), "errors": errors}, status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = {(k or "non_field_errors"): v for k, v in _flatten(exc.detail).items()}
    elif isinstance(exc, exceptions.ParseError):
        errors = {"body": [str(exc.detail)]}
    else:
        field = _FIELD_FOR_STATUS.get(response.status_code, "non_field_errors")
        errors = {field: [str(exc.detail) if isinstance(exc, exceptions.APIException) else ""]}
    response.data = {"detail": _summary(errors), "errors": errors}
    return response
