"""One DRF exception handler: every error becomes ``{"detail": ..., "errors": {field: [...]}}``.

Domain errors from services map to their 4xx; DRF's own errors keep their status codes; a
Django ``ValidationError`` (from ``full_clean``) becomes a 400 naming its fields. A database
that cannot be reached (down, restarting, refusing connections) is a 503 with ``Retry-After``,
not a 500: the request did nothing and the client should send it again. ``server_error`` (the
``handler500``) gives the same 503 for errors raised outside DRF views (middleware, pages).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
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


DATABASE_UNAVAILABLE = "The database is unavailable; send the request again after Retry-After."
# Long enough for a restart or failover to finish, short enough not to pile up client backlogs.
DATABASE_RETRY_AFTER_SECONDS = 5
# SQLSTATE classes that mean "no usable connection" rather than "this statement is wrong":
# 08 connection exception, 53 insufficient resources (too many connections), 57P admin or
# crash shutdown and "cannot connect now" (the server is starting up).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
# SQLite's equivalents: the file is locked by another writer, or cannot be opened.
_UNAVAILABLE_SQLITE_ERRORS = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"}


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached, as opposed to a bad statement.

    ``InterfaceError`` is a connection already closed under us. An ``OperationalError`` counts
    when its driver error has an SQLSTATE of a connection class, or no SQLSTATE at all (psycopg
    raises those for a refused or dropped connection, before the server says anything).
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    sqlite_name = getattr(cause, "sqlite_errorname", None)
    if sqlite_name is not None:
        return sqlite_name in _UNAVAILABLE_SQLITE_ERRORS
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)


def _database_unavailable_body() -> dict[str, Any]:
    return {"detail": DATABASE_UNAVAILABLE, "errors": {"database": [DATABASE_UNAVAILABLE]}}


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a 503 with ``Retry-After`` when the database is unreachable, else the
    standard 500 page. Django calls it while the exception is being handled."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        response = JsonResponse(_database_unavailable_body(), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)


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
    if is_database_unavailable(exc):
        return Response(
            _database_unavailable_body(),
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
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
