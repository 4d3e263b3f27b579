"""Assignment: the variant one unit gets, and the GrowthBook SDK features payload."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.api.shared import ExperimentObjectMixin
from experiments.services.assignment import sdk_payload, unit_assign
from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKeyKind
from plg_platform.services.keys import api_key_authenticate

BAD_ATTRIBUTES = "attributes must be a JSON object of unit properties."


class AssignmentQuerySerializer(serializers.Serializer):
    unit_id = serializers.CharField(max_length=200)
    attributes = serializers.CharField(required=False, help_text="JSON object of unit properties")
    log_exposure = serializers.BooleanField(required=False, default=True)


class AssignmentOutputSerializer(serializers.Serializer):
    variant = serializers.CharField(allow_null=True)
    in_experiment = serializers.BooleanField()
    reason = serializers.CharField()


class AssignmentApi(ExperimentObjectMixin):
    """The variant a unit gets (exactly what the GrowthBook SDKs pick), logging the exposure."""

    @extend_schema(
        parameters=[AssignmentQuerySerializer],
        responses=AssignmentOutputSerializer,
        tags=["experiments"],
    )
    def get(self, request: Request, key: str) -> Response:
        experiment = self.get_experiment(key)
        query = AssignmentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        attributes = None
        if "attributes" in query.validated_data:
            try:
                attributes = json.loads(query.validated_data["attributes"])
            except ValueError:
                attributes = None
            if not isinstance(attributes, dict):
                raise ValidationFailed(BAD_ATTRIBUTES, field="attributes")
        result = unit_assign(
            experiment=experiment,
            unit_id=query.validated_data["unit_id"],
            attributes=attributes,
            log_exposure=query.validated_data["log_exposure"],
        )
        return Response(AssignmentOutputSerializer(result).data)


class FeaturesPayloadApi(APIView):
    """GrowthBook SDK endpoint: ``GET /api/features/<client_key>`` (public SDK key)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses=dict, tags=["sdk"])
    def get(self, request: Request, client_key: str) -> Response:
        key = api_key_authenticate(raw_key=client_key, kind=ApiKeyKind.SDK)
        if key is None:
            return Response(
                {
                    "detail": "Unknown SDK client key.",
                    "errors": {"client_key": ["Unknown SDK client key."]},
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(sdk_payload(workspace=key.workspace))
