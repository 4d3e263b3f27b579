"""The KPI settings of a workspace (``/api/v1/kpis/settings``): read, and change (editors)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.kpis.models import PqlUnit, RevenuePeriod
from outcomes.kpis.selectors import kpi_settings_read
from outcomes.kpis.settings import kpi_settings_update
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView


class KpiSettingsOutputSerializer(serializers.Serializer):
    signup_event = serializers.CharField()
    activity_events = serializers.ListField(child=serializers.CharField())
    excluded_activity_events = serializers.ListField(child=serializers.CharField())
    segment_properties = serializers.ListField(child=serializers.CharField())
    aha_event = serializers.CharField()
    activation_window_days = serializers.IntegerField()
    ttv_window_days = serializers.IntegerField()
    core_events = serializers.ListField(child=serializers.CharField())
    feature_events = serializers.ListField(child=serializers.CharField())
    feature_property = serializers.CharField()
    paid_event = serializers.CharField()
    paid_window_days = serializers.IntegerField()
    pql_event = serializers.CharField()
    pql_min_count = serializers.IntegerField()
    pql_window_days = serializers.IntegerField()
    pql_unit = serializers.CharField(help_text="user or account")
    account_property = serializers.CharField()
    arr_property = serializers.CharField()
    plan_property = serializers.CharField()
    nps_event = serializers.CharField()
    nps_score_property = serializers.CharField()
    ces_event = serializers.CharField()
    ces_score_property = serializers.CharField()
    ces_scale_max = serializers.IntegerField()
    feedback_event = serializers.CharField()
    feedback_property = serializers.CharField()
    feedback_window_days = serializers.IntegerField()
    feedback_topics = serializers.ListField(child=serializers.DictField())
    success_moments = serializers.ListField(child=serializers.DictField())
    revenue_event = serializers.CharField()
    revenue_property = serializers.CharField()
    revenue_period = serializers.CharField(help_text="monthly or annual")
    revenue_churn_event = serializers.CharField()
    computed_through = serializers.DateField(allow_null=True)
    last_computed_at = serializers.DateTimeField(allow_null=True)


class KpiSettingsInputSerializer(StrictSerializer):
    """Every field optional; types only (the service validates the rules and names the field)."""

    signup_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    activity_events = serializers.ListField(child=serializers.CharField(), required=False)
    excluded_activity_events = serializers.ListField(child=serializers.CharField(), required=False)
    segment_properties = serializers.ListField(child=serializers.CharField(), required=False)
    aha_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    activation_window_days = serializers.IntegerField(required=False)
    ttv_window_days = serializers.IntegerField(required=False)
    core_events = serializers.ListField(child=serializers.CharField(), required=False)
    feature_events = serializers.ListField(child=serializers.CharField(), required=False)
    feature_property = serializers.CharField(required=False, allow_blank=True)
    paid_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    paid_window_days = serializers.IntegerField(required=False)
    pql_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    pql_min_count = serializers.IntegerField(required=False)
    pql_window_days = serializers.IntegerField(required=False)
    pql_unit = serializers.ChoiceField(choices=PqlUnit.choices, required=False)
    account_property = serializers.CharField(required=False, allow_blank=True)
    arr_property = serializers.CharField(required=False, allow_blank=True)
    plan_property = serializers.CharField(required=False, allow_blank=True)
    nps_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    nps_score_property = serializers.CharField(required=False, allow_blank=True)
    ces_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    ces_score_property = serializers.CharField(required=False, allow_blank=True)
    ces_scale_max = serializers.IntegerField(required=False)
    feedback_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    feedback_property = serializers.CharField(required=False, allow_blank=True)
    feedback_window_days = serializers.IntegerField(required=False)
    feedback_topics = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='[{"topic": "Offline mode", "keywords": ["offline"]}]',
    )
    success_moments = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Up to 4: [{"name": "Setup", "event": "workspace_setup", "window_days": 1, '
        '"min_count": 1, "min_distinct_days": 1}]',
    )
    revenue_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    revenue_property = serializers.CharField(required=False, allow_blank=True)
    revenue_period = serializers.ChoiceField(choices=RevenuePeriod.choices, required=False)
    revenue_churn_event = serializers.CharField(required=False, allow_blank=True, max_length=200)


class KpiSettingsApi(WorkspaceAPIView):
    @extend_schema(responses=KpiSettingsOutputSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        return Response(
            KpiSettingsOutputSerializer(kpi_settings_read(workspace=self.workspace)).data
        )

    @extend_schema(
        request=KpiSettingsInputSerializer,
        responses=KpiSettingsOutputSerializer,
        tags=["kpis"],
        description="Change some settings; a change of what KPIs count schedules a full "
        "recompute on the next refresh.",
    )
    def patch(self, request: Request) -> Response:
        serializer = KpiSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settings = kpi_settings_update(
            workspace=self.workspace, changes=serializer.validated_data, actor=request.user
        )
        return Response(KpiSettingsOutputSerializer(settings).data)
