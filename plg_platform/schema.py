"""How our OpenAPI schema describes the API, for drf-spectacular, in one place for every app.

- Authentication schemes are named (``ApiTokenScheme``, ``IngestionKeyScheme``).
- ``ApiAutoSchema`` (the default schema class) makes the schema say what the endpoints do:
  operation ids from URL names (``experiment_start``, ``experiments_list``), a summary and
  description from the view's own docstring (never one inherited from a base class), list
  endpoints that page as ``{count, next, previous, results}``, and the error bodies every view
  can answer (400, 401/403, 404, 409, 413, 429) in our ``{"detail", "errors"}`` shape.

Loaded from ``PlgPlatformConfig.ready`` so the schema names each scheme instead of warning.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from plg_platform.api.base import StrictLimitOffsetPagination, WorkspaceAPIView


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "plg_platform.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (plg_pat_…); the request acts as its user.",
        }


class IngestionKeyScheme(OpenApiAuthenticationExtension):
    target_class = "plg_platform.authentication.IngestionKeyAuthentication"
    name = ["ingestionKey", "ingestionKeyBasic"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A write-only ingestion key (plg_ing_…).",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "Segment clients: the ingestion key as the user name.",
            },
        ]


class ErrorSerializer(serializers.Serializer):
    """Every 4xx answer: a one-line summary and the messages by field path."""

    detail = serializers.CharField(help_text="'<field>: <first message>'")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by field path, e.g. {'variants.0.key': ['This field is required.']}",
    )


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: a parameter or field breaks a rule (named in errors).",
    "401": "No valid credentials.",
    "403": "The credentials may not do this (role, key kind).",
    "404": "No such object in this workspace.",
    "409": "Valid, but it clashes with the current state (e.g. an illegal transition).",
    "413": "The body is too large (after decompression).",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
}
_VERBS = {"POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")

FEATURES_EXAMPLE = {
    "status": 200,
    "features": {
        "onboarding-checklist": {
            "defaultValue": None,
            "rules": [
                {
                    "id": "exp-onboarding-checklist",
                    "key": "onboarding-checklist",
                    "name": "Onboarding checklist",
                    "seed": "onboarding-checklist",
                    "hashVersion": 2,
                    "hashAttribute": "id",
                    "coverage": 1.0,
                    "weights": [0.5, 0.5],
                    "variations": ["control", "checklist"],
                    "meta": [
                        {"key": "control", "name": "Control"},
                        {"key": "checklist", "name": "Checklist"},
                    ],
                    "phase": "1",
                }
            ],
        }
    },
    "experiments": [],
    "dateUpdated": "2026-11-24T10:00:00+00:00",
}
# Examples of responses a generated id cannot guess, by operation id.
RESPONSE_EXAMPLES = {
    "sdk_features": OpenApiExample(
        "One running experiment",
        value=FEATURES_EXAMPLE,
        response_only=True,
        description="Evaluate with any GrowthBook SDK: gb.eval_feature('onboarding-checklist')"
        ".value is the variant key, null when the unit is not in the experiment.",
    )
}


@cache
def _url_names() -> dict[tuple[type, str], str]:
    """Map (view class, path as the schema writes it) to the URL's name (or view class)."""
    names: dict[tuple[type, str], str] = {}

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                view = pattern.callback.cls
                path = "/" + _CONVERTER.sub(r"{\1}", prefix + str(pattern.pattern))
                name = pattern.name or re.sub(r"Api$", "", view.__name__)
                names[(view, path)] = re.sub(r"(?<!^)(?=[A-Z])|-", "_", name).lower()

    walk(get_resolver().url_patterns, "")
    return names


@cache
def _answers_with_a_page(handler: Any) -> bool:
    """Whether the view method's code returns ``self.paginated(...)``."""
    try:
        return handler is not None and "self.paginated(" in inspect.getsource(handler)
    except (OSError, TypeError):
        return False


def _own_doc(obj: Any) -> str:
    """The docstring written on ``obj`` itself (a class's inherited docstring does not count)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


class ApiAutoSchema(AutoSchema):
    def _handler(self) -> Any:
        return getattr(type(self.view), self.method.lower(), None)

    def _paginates(self) -> bool:
        """A GET handler that answers through ``WorkspaceAPIView.paginated`` returns a page."""
        return self.method == "GET" and _answers_with_a_page(self._handler())

    def _is_list_view(self, serializer: Any = None) -> bool:
        return self._paginates() or super()._is_list_view(serializer)

    def _get_paginator(self) -> Any:
        return StrictLimitOffsetPagination() if self._paginates() else super()._get_paginator()

    def _methods(self) -> list[str]:
        return [
            m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if hasattr(self.view, m.lower())
        ]

    def get_operation_id(self) -> str:
        name = _url_names().get((type(self.view), self.path))
        if name is None:
            return super().get_operation_id()
        if len(self._methods()) == 1:
            return name
        if self.method == "GET":
            return f"{name}_{'list' if self._is_list_view() else 'get'}"
        return f"{name}_{_VERBS[self.method]}"

    def _doc(self) -> str:
        doc = _own_doc(self._handler()) or _own_doc(type(self.view))
        return doc.replace("``", "`")

    def get_description(self) -> str:
        return self._doc()

    def get_summary(self) -> str:
        doc = self._doc()
        if doc:
            first = re.split(r"(?<=[.:])\s", doc.replace("\n", " "), maxsplit=1)[0]
            return first.rstrip(".:")
        words = self.get_operation_id().replace("_", " ")
        return words[:1].upper() + words[1:]

    def get_examples(self) -> list[OpenApiExample]:
        example = RESPONSE_EXAMPLES.get(self.get_operation_id())
        return [*super().get_examples(), *([example] if example else [])]

    def _error_codes(self) -> list[str]:
        codes = ["400"]
        if self.view.get_authenticators():
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.method in _WRITES and isinstance(self.view, WorkspaceAPIView):
            codes.append("409")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code] = {**body, "description": ERROR_DESCRIPTIONS[code]}
        return responses
