"""The outcomes API: metrics and their series, the KPI library, objectives and key results.

Views are thin: validate the input's shape, call a service or selector, serialize the output.
Domain rules live in services and come back as 4xx responses naming the field; KPI reads only
read the cache.
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from outcomes.models import (
    CapType,
    Direction,
    InitiativeStatus,
    MetricKind,
    MetricType,
    Objective,
    PqlUnit,
    RevenuePeriod,
    UnitOfAnalysis,
)
from outcomes.selectors import (
    KeyResultDetail,
    KeyResultSummary,
    KpiCard,
    KpiPoint,
    ObjectiveNode,
    check_in_get,
    check_ins_list,
    feature_requests_list,
    initiative_get,
    initiatives_list,
    job_get,
    key_result_detail,
    key_result_get,
    key_result_summary,
    key_results_list,
    kpi_catalog,
    kpi_cohort_table,
    kpi_dashboard,
    kpi_feature_adoption,
    kpi_series,
    kpi_settings_read,
    metric_get,
    metrics_list,
    objective_get,
    objective_tree,
    objectives_list,
    pqls_list,
)
from outcomes.services.kpi_catalog import BY_KEY, KpiDefinition
from outcomes.services.kpi_settings import kpi_settings_update
from outcomes.services.kpis import kpi_recompute_request
from outcomes.services.metric_series import metric_series
from outcomes.services.metrics import metric_create, metric_delete, metric_spec
from outcomes.services.okrs import (
    check_in_create,
    check_in_delete,
    initiative_create,
    initiative_delete,
    initiative_update,
    key_result_create,
    key_result_delete,
    key_result_set_baseline,
    key_result_update,
    objective_create,
    objective_delete,
    objective_update,
)
from outcomes.tasks import compute_key_result_check_in, recompute_kpis
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView

SPEC_FIELDS = (
    "event",
    "filters",
    "property",
    "window_days",
    "denominator_event",
    "denominator_filters",
    "denominator_property",
    "retention_start_day",
    "retention_end_day",
    "min_count",
    "min_distinct_days",
    "cap_type",
    "cap_value",
    "unit_property",
    "tags",
)


class MetricInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=MetricType.choices)
    kind = serializers.ChoiceField(choices=MetricKind.choices, default=MetricKind.VALUE_CREATION)
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.INCREASE)
    unit = serializers.ChoiceField(choices=UnitOfAnalysis.choices, default=UnitOfAnalysis.USER)
    unit_property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    filters = serializers.ListField(child=serializers.DictField(), required=False)
    property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    window_days = serializers.IntegerField(required=False, allow_null=True)
    denominator_event = serializers.CharField(required=False, allow_blank=True, max_length=200)
    denominator_filters = serializers.ListField(child=serializers.DictField(), required=False)
    denominator_property = serializers.CharField(required=False, allow_blank=True, max_length=100)
    retention_start_day = serializers.IntegerField(required=False, allow_null=True)
    retention_end_day = serializers.IntegerField(required=False, allow_null=True)
    min_count = serializers.IntegerField(required=False, allow_null=True)
    min_distinct_days = serializers.IntegerField(required=False, allow_null=True)
    cap_type = serializers.ChoiceField(choices=CapType.choices, required=False)
    cap_value = serializers.FloatField(required=False, allow_null=True)


class MetricOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.CharField()
    direction = serializers.CharField()
    unit = serializers.CharField()
    definition = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_definition(self, metric) -> dict:
        return metric_spec(metric)


class MetricListApi(WorkspaceAPIView):
    @extend_schema(responses=MetricOutputSerializer(many=True), tags=["metrics"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, metrics_list(workspace=self.workspace), MetricOutputSerializer
        )

    @extend_schema(
        request=MetricInputSerializer, responses=MetricOutputSerializer, tags=["metrics"]
    )
    def post(self, request: Request) -> Response:
        serializer = MetricInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        metric = metric_create(
            workspace=self.workspace,
            key=data["key"],
            name=data["name"],
            description=data["description"],
            kind=data["kind"],
            direction=data["direction"],
            unit=data["unit"],
            spec={"type": data["type"], **{k: data[k] for k in SPEC_FIELDS if k in data}},
            actor=request.user,
        )
        return Response(MetricOutputSerializer(metric).data, status=status.HTTP_201_CREATED)


class MetricDetailApi(WorkspaceAPIView):
    @extend_schema(responses=MetricOutputSerializer, tags=["metrics"])
    def get(self, request: Request, key: str) -> Response:
        metric = metric_get(workspace=self.workspace, key=key)
        return Response(MetricOutputSerializer(metric).data)

    @extend_schema(responses={204: None}, tags=["metrics"])
    def delete(self, request: Request, key: str) -> Response:
        metric_delete(metric=metric_get(workspace=self.workspace, key=key), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeriesQuerySerializer(StrictSerializer):
    date_from = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    interval = serializers.ChoiceField(choices=["day", "week"], default="day")
    start_event = serializers.CharField(required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        data = {("date_from" if k == "from" else k): v for k, v in data.items()}
        return super().to_internal_value(data)


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    units = serializers.IntegerField()
    immature_units = serializers.IntegerField()
    n = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class MetricValuesApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", date, description="First cohort day (default: 30 days ago)"),
            OpenApiParameter("to", date, description="Last cohort day (default: today)"),
            OpenApiParameter("interval", str, enum=["day", "week"]),
            OpenApiParameter("start_event", str, description="Event that starts a unit's window"),
        ],
        responses=SeriesPointSerializer(many=True),
        tags=["metrics"],
    )
    def get(self, request: Request, key: str) -> Response:
        metric = metric_get(workspace=self.workspace, key=key)
        query = SeriesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        today = datetime.now(tz=ZoneInfo(self.workspace.timezone)).date()
        date_to = params.get("to") or today
        date_from = params.get("date_from") or date_to - timedelta(days=30)
        points = metric_series(
            metric=metric,
            date_from=date_from,
            date_to=date_to,
            interval=params["interval"],
            start_event=params["start_event"],
        )
        return Response(
            {
                "metric": metric.key,
                "interval": params["interval"],
                "results": SeriesPointSerializer([asdict(p) for p in points], many=True).data,
            }
        )


# =============================================================================================
# The KPI library: settings, catalogue, dashboard, series, cohort table, PQLs, feature requests,
# recompute on demand. Reads come from the cache; nothing here recomputes from events.
# =============================================================================================
def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _today(workspace) -> date:
    return datetime.now(tz=ZoneInfo(workspace.timezone)).date()


def _page_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
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


class KpiDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="value_creation or value_capture")
    family = serializers.CharField()
    unit = serializers.CharField()
    weekly = serializers.CharField(help_text="How a week's value comes from its days.")
    definition = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    has_dimension = serializers.BooleanField()


class KpiCatalogEntrySerializer(KpiDefinitionSerializer):
    configured = serializers.BooleanField()


class KpiCatalogSerializer(serializers.Serializer):
    results = KpiCatalogEntrySerializer(many=True)


def _definition_data(definition: KpiDefinition, configured: bool | None = None) -> dict:
    data = {
        "key": definition.key,
        "name": definition.name,
        "kind": definition.kind,
        "family": definition.family,
        "unit": definition.unit,
        "weekly": definition.weekly,
        "definition": definition.definition,
        "higher_is_better": definition.higher_is_better,
        "has_dimension": definition.has_dimension,
    }
    if configured is not None:
        data["configured"] = configured
    return data


class KpiCatalogApi(WorkspaceAPIView):
    @extend_schema(responses=KpiCatalogSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        entries = kpi_catalog(workspace=self.workspace)
        return Response({"results": [_definition_data(k, ok) for k, ok in entries]})


class KpiPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)
    numerator = serializers.FloatField()
    denominator = serializers.FloatField()
    computed = serializers.BooleanField(help_text="False: this day was never computed.")


class KpiSeriesSerializer(serializers.Serializer):
    kpi = KpiDefinitionSerializer()
    interval = serializers.ChoiceField(choices=["day", "week"])
    segment = serializers.CharField()
    dimension = serializers.CharField()
    computed_through = serializers.DateField(allow_null=True)
    last_computed_at = serializers.DateTimeField(allow_null=True)
    results = KpiPointSerializer(many=True)


def _range_fields() -> dict:
    return {
        "from": serializers.DateField(required=False),
        "to": serializers.DateField(required=False),
        "segment": serializers.CharField(required=False, allow_blank=True, default=""),
    }


KpiSeriesQuerySerializer = type(
    "KpiSeriesQuerySerializer",
    (StrictSerializer,),
    {
        **_range_fields(),
        "interval": serializers.ChoiceField(choices=["day", "week"], default="day"),
        "dimension": serializers.CharField(required=False, allow_blank=True, default=""),
    },
)
KpiRangeQuerySerializer = type("KpiRangeQuerySerializer", (StrictSerializer,), _range_fields())
RANGE_PARAMETERS = [
    OpenApiParameter("from", date, description="First local day (default: 90 days before 'to')"),
    OpenApiParameter("to", date, description="Last local day (default: today)"),
    OpenApiParameter("segment", str, description="e.g. plan=pro; empty for everyone"),
]


def _range(params: dict, workspace, default_days: int = 90) -> tuple[date, date]:
    date_to = params.get("to") or _today(workspace)
    date_from = params.get("from") or date_to - timedelta(days=default_days)
    return date_from, date_to


def _point_data(point: KpiPoint) -> dict:
    return {
        "period_start": point.period_start,
        "value": point.value,
        "numerator": point.numerator,
        "denominator": point.denominator,
        "computed": point.computed,
    }


class KpiSeriesApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("interval", str, enum=["day", "week"]),
            OpenApiParameter("dimension", str, description="The feature, for feature_adoption"),
        ],
        responses=KpiSeriesSerializer,
        tags=["kpis"],
    )
    def get(self, request: Request, kpi: str) -> Response:
        params = _query(KpiSeriesQuerySerializer, request)
        date_from, date_to = _range(params, self.workspace)
        series = kpi_series(
            workspace=self.workspace,
            kpi=kpi,
            date_from=date_from,
            date_to=date_to,
            interval=params["interval"],
            segment=params["segment"],
            dimension=params["dimension"],
        )
        return Response(
            {
                "kpi": _definition_data(series.kpi),
                "interval": series.interval,
                "segment": series.segment,
                "dimension": series.dimension,
                "computed_through": series.computed_through,
                "last_computed_at": series.last_computed_at,
                "results": [_point_data(p) for p in series.points],
            }
        )


class CohortCellSerializer(serializers.Serializer):
    weeks_since_signup = serializers.IntegerField()
    units = serializers.IntegerField(help_text="Users of the cohort whose week k has passed.")
    retained = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class CohortRowSerializer(serializers.Serializer):
    cohort_start = serializers.DateField(help_text="The Monday of the signup week.")
    size = serializers.IntegerField()
    cells = CohortCellSerializer(many=True)


class CohortTableSerializer(serializers.Serializer):
    definition = serializers.CharField()
    segment = serializers.CharField()
    results = CohortRowSerializer(many=True)


class KpiCohortTableApi(WorkspaceAPIView):
    @extend_schema(parameters=RANGE_PARAMETERS, responses=CohortTableSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = _query(KpiRangeQuerySerializer, request)
        date_from, date_to = _range(params, self.workspace, default_days=12 * 7)
        rows = kpi_cohort_table(
            workspace=self.workspace,
            date_from=date_from,
            date_to=date_to,
            segment=params["segment"],
        )
        return Response(
            {
                "definition": BY_KEY["cohort_retention"].definition,
                "segment": params["segment"],
                "results": [asdict(row) for row in rows],
            }
        )


class FeatureAdoptionItemSerializer(serializers.Serializer):
    feature = serializers.CharField()
    adopters = serializers.IntegerField()
    active_users = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class FeatureAdoptionSerializer(serializers.Serializer):
    date = serializers.DateField(allow_null=True)
    definition = serializers.CharField()
    results = FeatureAdoptionItemSerializer(many=True)


class OnQuerySerializer(StrictSerializer):
    on = serializers.DateField(required=False)
    segment = serializers.CharField(required=False, allow_blank=True, default="")


ON_PARAMETERS = [
    OpenApiParameter("on", date, description="Local day (default: the latest computed)"),
    OpenApiParameter("segment", str, description="e.g. plan=pro; empty for everyone"),
]


class KpiFeatureAdoptionApi(WorkspaceAPIView):
    @extend_schema(parameters=ON_PARAMETERS, responses=FeatureAdoptionSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = _query(OnQuerySerializer, request)
        day, features = kpi_feature_adoption(
            workspace=self.workspace, on=params.get("on"), segment=params["segment"]
        )
        return Response(
            {
                "date": day,
                "definition": BY_KEY["feature_adoption"].definition,
                "results": [asdict(f) for f in features],
            }
        )


class FeatureRequestSerializer(serializers.Serializer):
    request = serializers.CharField(help_text="Lower-cased, trimmed text (the grouping key).")
    text = serializers.CharField()
    requests = serializers.IntegerField()
    accounts = serializers.IntegerField()
    arr = serializers.FloatField(help_text="Σ ARR of the distinct requesting accounts.")
    first_requested_at = serializers.DateTimeField()
    last_requested_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField()


class KpiCardPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)


class KpiCardSerializer(KpiDefinitionSerializer):
    configured = serializers.BooleanField()
    value = serializers.FloatField(allow_null=True)
    previous_value = serializers.FloatField(allow_null=True)
    window_days = serializers.IntegerField()
    window_end = serializers.DateField(help_text="The last day (or cohort) of the window.")
    series = KpiCardPointSerializer(many=True)


class KpiDashboardSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    computed_through = serializers.DateField(allow_null=True)
    last_computed_at = serializers.DateTimeField(allow_null=True)
    segment = serializers.CharField()
    value_creation = KpiCardSerializer(many=True, help_text="Team goals.")
    value_capture = KpiCardSerializer(many=True, help_text="Revenue: finance and leadership.")
    feature_adoption = FeatureAdoptionItemSerializer(many=True)
    top_feature_requests = FeatureRequestSerializer(many=True)
    pql_count = serializers.IntegerField()


def _card_data(card: KpiCard) -> dict:
    return {
        **_definition_data(card.kpi, card.configured),
        "value": card.value,
        "previous_value": card.previous_value,
        "window_days": card.window_days,
        "window_end": card.window_end,
        "series": [{"period_start": p.period_start, "value": p.value} for p in card.series],
    }


class KpiDashboardApi(WorkspaceAPIView):
    @extend_schema(parameters=ON_PARAMETERS, responses=KpiDashboardSerializer, tags=["kpis"])
    def get(self, request: Request) -> Response:
        params = _query(OnQuerySerializer, request)
        board = kpi_dashboard(
            workspace=self.workspace, on=params.get("on"), segment=params["segment"]
        )
        return Response(
            {
                "as_of": board.as_of,
                "computed_through": board.computed_through,
                "last_computed_at": board.last_computed_at,
                "segment": board.segment,
                "value_creation": [_card_data(c) for c in board.value_creation],
                "value_capture": [_card_data(c) for c in board.value_capture],
                "feature_adoption": [asdict(f) for f in board.feature_adoption],
                "top_feature_requests": FeatureRequestSerializer(
                    board.top_feature_requests, many=True
                ).data,
                "pql_count": board.pql_count,
            }
        )


class PqlSerializer(serializers.Serializer):
    unit_type = serializers.CharField(help_text="user or account")
    unit_id = serializers.CharField()
    event_count = serializers.IntegerField()
    users = serializers.IntegerField()
    first_event_at = serializers.DateTimeField()
    last_event_at = serializers.DateTimeField()
    qualified_at = serializers.DateTimeField()
    plan = serializers.CharField()
    arr = serializers.FloatField(allow_null=True)
    computed_at = serializers.DateTimeField()


PqlPageSerializer = _page_serializer("PqlPageSerializer", PqlSerializer)
FeatureRequestPageSerializer = _page_serializer(
    "FeatureRequestPageSerializer", FeatureRequestSerializer
)


class PlanQuerySerializer(StrictSerializer):
    plan = serializers.CharField(required=False, allow_blank=True, default="")
    limit = serializers.IntegerField(required=False, min_value=1)
    offset = serializers.IntegerField(required=False, min_value=0)


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (default 100)"),
    OpenApiParameter("offset", int),
]


class PqlListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("plan", str), *PAGE_PARAMETERS],
        responses=PqlPageSerializer,
        tags=["kpis"],
        description="Users or accounts with at least K PQL events in the last D days, from "
        "the cache (refreshed with the KPIs).",
    )
    def get(self, request: Request) -> Response:
        params = _query(PlanQuerySerializer, request)
        leads = pqls_list(workspace=self.workspace, plan=params["plan"] or None)
        return self.paginated(request, leads, PqlSerializer)


CSV_COLUMNS = (
    "unit_type",
    "unit_id",
    "event_count",
    "users",
    "qualified_at",
    "first_event_at",
    "last_event_at",
    "plan",
    "arr",
)


def _csv_cell(value: object) -> str:
    """Return the cell's text; text that a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


class PqlCsvApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("plan", str)],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        tags=["kpis"],
        description="The PQL list as CSV (every row, streamed).",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = _query(PlanQuerySerializer, request)
        leads = pqls_list(workspace=self.workspace, plan=params["plan"] or None)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for lead in leads.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(getattr(lead, c)) for c in CSV_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        filename = f"pqls-{self.workspace.slug}-{_today(self.workspace).isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class FeatureRequestListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=FeatureRequestPageSerializer,
        tags=["kpis"],
        description="Feature requests of the feedback window, by requesting accounts' ARR.",
    )
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, feature_requests_list(workspace=self.workspace), FeatureRequestSerializer
        )


RecomputeInputSerializer = type(
    "KpiRecomputeInputSerializer",
    (StrictSerializer,),
    {"from": serializers.DateField(), "to": serializers.DateField()},
)


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, succeeded or failed")
    progress = serializers.FloatField()
    message = serializers.CharField()
    result = serializers.DictField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RecomputeQueuedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class KpiRecomputeApi(WorkspaceAPIView):
    @extend_schema(
        request=RecomputeInputSerializer,
        responses={202: RecomputeQueuedSerializer},
        tags=["kpis"],
        description="Recompute the KPIs of local days [from, to] from events, in the "
        "background; follow the job's progress at status_url. One at a time per workspace "
        "(409 while one is queued or running).",
    )
    def post(self, request: Request) -> Response:
        serializer = RecomputeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = kpi_recompute_request(
            workspace=self.workspace,
            date_from=data["from"],
            date_to=data["to"],
            actor=request.user,
        )
        transaction.on_commit(lambda: recompute_kpis.delay(job.pk))
        return Response(
            {
                "job_id": job.pk,
                "status": job.status,
                "status_url": reverse("kpi-job", kwargs={"job_id": job.pk}),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class KpiJobApi(WorkspaceAPIView):
    @extend_schema(responses=JobSerializer, tags=["kpis"])
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobSerializer(job_get(workspace=self.workspace, job_id=job_id)).data)


# =============================================================================================
# Objectives, key results, check-ins, initiatives
# =============================================================================================
class OkrKeyResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    objective = serializers.IntegerField()
    title = serializers.CharField()
    metric = serializers.CharField(help_text="The metric's key.")
    metric_name = serializers.CharField()
    segment_property = serializers.CharField()
    segment_value = serializers.CharField()
    start_event = serializers.CharField()
    cohort_days = serializers.IntegerField()
    direction = serializers.CharField(help_text="increase or decrease")
    baseline = serializers.FloatField(allow_null=True)
    baseline_computed_at = serializers.DateTimeField(allow_null=True)
    target = serializers.FloatField()
    current = serializers.FloatField(allow_null=True)
    current_date = serializers.DateField(allow_null=True)
    progress = serializers.FloatField(
        allow_null=True, help_text="(current − baseline) / (target − baseline)"
    )
    time_elapsed = serializers.FloatField(help_text="Share of the period's days passed.")
    status = serializers.CharField(help_text="on_track, at_risk, off_track or no_data")
    confidence = serializers.IntegerField(allow_null=True)
    last_comment = serializers.CharField()
    created_at = serializers.DateTimeField()


def _summary_data(summary: KeyResultSummary) -> dict:
    kr = summary.key_result
    return {
        "id": kr.pk,
        "objective": kr.objective_id,
        "title": kr.title,
        "metric": kr.metric.key,
        "metric_name": kr.metric.name,
        "segment_property": kr.segment_property,
        "segment_value": kr.segment_value,
        "start_event": kr.start_event,
        "cohort_days": kr.cohort_days,
        "direction": kr.direction,
        "baseline": summary.baseline,
        "baseline_computed_at": kr.baseline_computed_at,
        "target": summary.target,
        "current": summary.current,
        "current_date": summary.current_date,
        "progress": summary.progress,
        "time_elapsed": summary.time_elapsed,
        "status": summary.status,
        "confidence": summary.confidence,
        "last_comment": summary.last_comment,
        "created_at": kr.created_at,
    }


class OkrObjectiveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    why_it_matters = serializers.CharField()
    owner = serializers.IntegerField(allow_null=True)
    owner_email = serializers.CharField(allow_null=True)
    team = serializers.CharField()
    period_kind = serializers.CharField(help_text="quarter or custom")
    quarter = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    parent = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="The worst status of its key results.")
    key_results = OkrKeyResultSerializer(many=True)
    created_at = serializers.DateTimeField()


def _objective_data(objective: Objective, summaries: list[KeyResultSummary]) -> dict:
    statuses = [s.status for s in summaries if s.status != "no_data"]
    order = ("off_track", "at_risk", "on_track")
    return {
        "id": objective.pk,
        "title": objective.title,
        "why_it_matters": objective.why_it_matters,
        "owner": objective.owner_id,
        "owner_email": objective.owner.email if objective.owner else None,
        "team": objective.team,
        "period_kind": objective.period_kind,
        "quarter": objective.quarter,
        "period_start": objective.period_start,
        "period_end": objective.period_end,
        "parent": objective.parent_id,
        "status": min(statuses, key=order.index) if statuses else "no_data",
        "key_results": [_summary_data(s) for s in summaries],
        "created_at": objective.created_at,
    }


def _objectives_data(workspace, objectives: list[Objective]) -> list[dict]:
    today = _today(workspace)
    by_objective: dict[int, list[KeyResultSummary]] = {o.pk: [] for o in objectives}
    for kr in key_results_list(workspace=workspace).filter(objective_id__in=list(by_objective)):
        by_objective[kr.objective_id].append(key_result_summary(key_result=kr, today=today))
    return [_objective_data(o, by_objective[o.pk]) for o in objectives]


class OkrObjectiveInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    why_it_matters = serializers.CharField(required=False, allow_blank=True, default="")
    owner = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    quarter = serializers.CharField(required=False, allow_blank=True, default="")
    period_start = serializers.DateField(required=False, allow_null=True)
    period_end = serializers.DateField(required=False, allow_null=True)
    parent = serializers.IntegerField(required=False, allow_null=True)


class ObjectiveQuerySerializer(StrictSerializer):
    on = serializers.DateField(required=False)
    team = serializers.CharField(required=False, allow_blank=True)


class ObjectiveListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("on", date, description="Only objectives whose period holds it"),
            OpenApiParameter("team", str),
        ],
        responses=OkrObjectiveSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = _query(ObjectiveQuerySerializer, request)
        objectives = list(
            objectives_list(workspace=self.workspace, on=params.get("on"), team=params.get("team"))
        )
        return Response(_objectives_data(self.workspace, objectives))

    @extend_schema(
        request=OkrObjectiveInputSerializer,
        responses={201: OkrObjectiveSerializer},
        tags=["okrs"],
        description="Give a quarter (YYYY-Qn) or period_start and period_end.",
    )
    def post(self, request: Request) -> Response:
        serializer = OkrObjectiveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        objective = objective_create(
            workspace=self.workspace,
            title=data["title"],
            why_it_matters=data["why_it_matters"],
            owner_id=data.get("owner"),
            team=data["team"],
            quarter=data["quarter"],
            period_start=data.get("period_start"),
            period_end=data.get("period_end"),
            parent_id=data.get("parent"),
            actor=request.user,
        )
        return Response(_objective_data(objective, []), status=status.HTTP_201_CREATED)


class OkrObjectiveUpdateSerializer(OkrObjectiveInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    why_it_matters = serializers.CharField(required=False, allow_blank=True)
    team = serializers.CharField(required=False, allow_blank=True, max_length=100)
    quarter = serializers.CharField(required=False, allow_blank=True)


_RENAMED = {"owner": "owner_id", "parent": "parent_id", "key_results": "key_result_ids"}


def _changes(data: dict) -> dict:
    return {_RENAMED.get(name, name): value for name, value in data.items()}


class ObjectiveDetailApi(WorkspaceAPIView):
    @extend_schema(responses=OkrObjectiveSerializer, tags=["okrs"])
    def get(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        return Response(_objectives_data(self.workspace, [objective])[0])

    @extend_schema(
        request=OkrObjectiveUpdateSerializer, responses=OkrObjectiveSerializer, tags=["okrs"]
    )
    def patch(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        serializer = OkrObjectiveUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        objective = objective_update(
            objective=objective, changes=_changes(serializer.validated_data), actor=request.user
        )
        return Response(_objectives_data(self.workspace, [objective])[0])

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, objective_id: int) -> Response:
        objective = objective_get(workspace=self.workspace, objective_id=objective_id)
        objective_delete(objective=objective, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OkrTreeNodeSerializer(OkrObjectiveSerializer):
    children = serializers.ListField(
        child=serializers.DictField(), help_text="Sub-objectives, in the same shape."
    )


def _node_data(node: ObjectiveNode) -> dict:
    return {
        **_objective_data(node.objective, node.key_results),
        "status": node.status,
        "children": [_node_data(child) for child in node.children],
    }


class ObjectiveTreeApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("on", date, description="Only objectives whose period holds it")
        ],
        responses=OkrTreeNodeSerializer(many=True),
        tags=["okrs"],
        description="Objectives aligned under their parents, with key results' status.",
    )
    def get(self, request: Request) -> Response:
        params = _query(ObjectiveQuerySerializer, request)
        tree = objective_tree(
            workspace=self.workspace, on=params.get("on"), today=_today(self.workspace)
        )
        return Response([_node_data(node) for node in tree])


class OkrKeyResultInputSerializer(StrictSerializer):
    objective = serializers.IntegerField()
    title = serializers.CharField(max_length=200)
    metric = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="The metric's key (required)."
    )
    target = serializers.FloatField(required=False, allow_null=True)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    segment_property = serializers.CharField(required=False, allow_blank=True, default="")
    segment_value = serializers.CharField(required=False, allow_blank=True, default="")
    start_event = serializers.CharField(required=False, allow_blank=True, default="")
    cohort_days = serializers.IntegerField(required=False, default=28)
    baseline = serializers.FloatField(required=False, allow_null=True)
    baseline_reason = serializers.CharField(required=False, allow_blank=True, default="")


class OkrKeyResultUpdateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    target = serializers.FloatField(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)


class KeyResultQuerySerializer(StrictSerializer):
    objective = serializers.IntegerField(required=False)


class KeyResultListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("objective", int)],
        responses=OkrKeyResultSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = _query(KeyResultQuerySerializer, request)
        today = _today(self.workspace)
        key_results = key_results_list(
            workspace=self.workspace, objective_id=params.get("objective")
        )
        return Response(
            [_summary_data(key_result_summary(key_result=kr, today=today)) for kr in key_results]
        )

    @extend_schema(
        request=OkrKeyResultInputSerializer,
        responses={201: OkrKeyResultSerializer},
        tags=["okrs"],
        description="A key result measures an outcome with a metric: 'metric' is required "
        "(deliverables are initiatives). The baseline is computed at the period's start; "
        "giving one by hand needs baseline_reason.",
    )
    def post(self, request: Request) -> Response:
        serializer = OkrKeyResultInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        objective = objective_get(
            workspace=self.workspace, objective_id=data["objective"], field="objective"
        )
        key_result = key_result_create(
            objective=objective,
            title=data["title"],
            metric_key=data.get("metric"),
            target=data.get("target"),
            direction=data.get("direction"),
            segment_property=data["segment_property"],
            segment_value=data["segment_value"],
            start_event=data["start_event"],
            cohort_days=data["cohort_days"],
            baseline=data.get("baseline"),
            baseline_reason=data["baseline_reason"],
            actor=request.user,
        )
        transaction.on_commit(lambda: compute_key_result_check_in.delay(key_result.pk))
        summary = key_result_summary(key_result=key_result, today=_today(self.workspace))
        return Response(_summary_data(summary), status=status.HTTP_201_CREATED)


class CheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    source = serializers.CharField(help_text="computed or manual")
    value = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField(allow_null=True)
    confidence = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_created_by(self, check_in) -> str | None:
        return check_in.created_by.email if check_in.created_by else None


class BaselineChangeSerializer(serializers.Serializer):
    previous = serializers.FloatField(allow_null=True)
    baseline = serializers.FloatField()
    source = serializers.CharField(help_text="computed or manual")
    reason = serializers.CharField()
    changed_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_changed_by(self, change) -> str | None:
        return change.changed_by.email if change.changed_by else None


class InitiativeBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField(help_text="planned, in_progress, done or dropped")


class LinkedExperimentSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.CharField()
    estimated_impact = serializers.FloatField(allow_null=True)
    impact_description = serializers.CharField()


class OkrKeyResultDetailSerializer(OkrKeyResultSerializer):
    check_ins = CheckInSerializer(many=True)
    baseline_history = BaselineChangeSerializer(many=True)
    initiatives = InitiativeBriefSerializer(many=True)
    experiments = LinkedExperimentSerializer(many=True)


def _detail_data(detail: KeyResultDetail) -> dict:
    return {
        **_summary_data(detail.summary),
        "check_ins": CheckInSerializer(detail.check_ins, many=True).data,
        "baseline_history": BaselineChangeSerializer(detail.baseline_history, many=True).data,
        "initiatives": InitiativeBriefSerializer(detail.initiatives, many=True).data,
        "experiments": [asdict(e) for e in detail.experiments],
    }


class KeyResultDetailApi(WorkspaceAPIView):
    @extend_schema(responses=OkrKeyResultDetailSerializer, tags=["okrs"])
    def get(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        detail = key_result_detail(key_result=key_result, today=_today(self.workspace))
        return Response(_detail_data(detail))

    @extend_schema(
        request=OkrKeyResultUpdateSerializer,
        responses=OkrKeyResultSerializer,
        tags=["okrs"],
        description="Title, target and direction only: a different metric, segment or cohort "
        "is a different key result.",
    )
    def patch(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = OkrKeyResultUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key_result = key_result_update(
            key_result=key_result, changes=serializer.validated_data, actor=request.user
        )
        summary = key_result_summary(key_result=key_result, today=_today(self.workspace))
        return Response(_summary_data(summary))

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        key_result_delete(key_result=key_result, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BaselineInputSerializer(StrictSerializer):
    baseline = serializers.FloatField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class KeyResultBaselineApi(WorkspaceAPIView):
    @extend_schema(
        request=BaselineInputSerializer,
        responses=OkrKeyResultDetailSerializer,
        tags=["okrs"],
        description="Replace the baseline by hand; a reason is required and kept in history.",
    )
    def post(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = BaselineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key_result = key_result_set_baseline(
            key_result=key_result,
            baseline=data["baseline"],
            reason=data["reason"],
            actor=request.user,
        )
        detail = key_result_detail(key_result=key_result, today=_today(self.workspace))
        return Response(_detail_data(detail))


class CheckInInputSerializer(StrictSerializer):
    confidence = serializers.IntegerField(help_text="1 (no chance) to 10 (certain).")
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    value = serializers.FloatField(required=False, allow_null=True)
    date = serializers.DateField(required=False)


class CheckInListApi(WorkspaceAPIView):
    @extend_schema(responses=CheckInSerializer(many=True), tags=["okrs"])
    def get(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        return Response(CheckInSerializer(check_ins_list(key_result=key_result), many=True).data)

    @extend_schema(
        request=CheckInInputSerializer,
        responses={201: CheckInSerializer},
        tags=["okrs"],
        description="A manual check-in: confidence and comment, optionally a value.",
    )
    def post(self, request: Request, key_result_id: int) -> Response:
        key_result = key_result_get(workspace=self.workspace, key_result_id=key_result_id)
        serializer = CheckInInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_in = check_in_create(
            key_result=key_result,
            confidence=data["confidence"],
            comment=data["comment"],
            value=data.get("value"),
            day=data.get("date"),
            actor=request.user,
        )
        return Response(CheckInSerializer(check_in).data, status=status.HTTP_201_CREATED)


class CheckInDetailApi(WorkspaceAPIView):
    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, check_in_id: int) -> Response:
        check_in = check_in_get(workspace=self.workspace, check_in_id=check_in_id)
        check_in_delete(check_in=check_in, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InitiativeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField(help_text="planned, in_progress, done or dropped")
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    url = serializers.CharField()
    key_results = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_key_results(self, initiative) -> list[int]:
        return sorted(kr.pk for kr in initiative.key_results.all())


class InitiativeInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(
        choices=InitiativeStatus.choices, default=InitiativeStatus.PLANNED
    )
    owner = serializers.IntegerField(required=False, allow_null=True)
    url = serializers.URLField(required=False, allow_blank=True, default="", max_length=500)
    key_results = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list
    )


class InitiativeUpdateSerializer(InitiativeInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=InitiativeStatus.choices, required=False)
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    key_results = serializers.ListField(child=serializers.IntegerField(), required=False)


class InitiativeQuerySerializer(StrictSerializer):
    key_result = serializers.IntegerField(required=False)


class InitiativeListApi(WorkspaceAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("key_result", int)],
        responses=InitiativeSerializer(many=True),
        tags=["okrs"],
    )
    def get(self, request: Request) -> Response:
        params = _query(InitiativeQuerySerializer, request)
        initiatives = initiatives_list(
            workspace=self.workspace, key_result_id=params.get("key_result")
        )
        return Response(InitiativeSerializer(initiatives, many=True).data)

    @extend_schema(
        request=InitiativeInputSerializer,
        responses={201: InitiativeSerializer},
        tags=["okrs"],
        description="A deliverable (an output) linked to the key results it should move.",
    )
    def post(self, request: Request) -> Response:
        serializer = InitiativeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        initiative = initiative_create(
            workspace=self.workspace,
            title=data["title"],
            key_result_ids=data["key_results"],
            description=data["description"],
            status=data["status"],
            owner_id=data.get("owner"),
            url=data["url"],
            actor=request.user,
        )
        return Response(InitiativeSerializer(initiative).data, status=status.HTTP_201_CREATED)


class InitiativeDetailApi(WorkspaceAPIView):
    @extend_schema(responses=InitiativeSerializer, tags=["okrs"])
    def get(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        return Response(InitiativeSerializer(initiative).data)

    @extend_schema(
        request=InitiativeUpdateSerializer, responses=InitiativeSerializer, tags=["okrs"]
    )
    def patch(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        serializer = InitiativeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        initiative = initiative_update(
            initiative=initiative, changes=_changes(serializer.validated_data), actor=request.user
        )
        return Response(InitiativeSerializer(initiative).data)

    @extend_schema(responses={204: None}, tags=["okrs"])
    def delete(self, request: Request, initiative_id: int) -> Response:
        initiative = initiative_get(workspace=self.workspace, initiative_id=initiative_id)
        initiative_delete(initiative=initiative, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
