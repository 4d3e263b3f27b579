"""OpenAPI descriptions of our authentication schemes, for drf-spectacular.

Loaded from ``PlgPlatformConfig.ready`` so the schema names each scheme instead of warning.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


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


class ApiAutoSchema(AutoSchema):
    pass
