"""The event sources API: list and create (``/api/v1/sources/``), read, change and delete one,
and its dry run. A source connects to a team's own warehouse with a stored credential, so
creating, changing and deleting one needs the admin role (as webhooks do); a dry run, which
only reads, needs an editor. The secret is write-only: no answer ever carries it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from metrics.models import EventSource, SourceEngine, TimeType
from metrics.sources.probes import source_dry_run
from metrics.sources.selectors import source_get, sources_list
from metrics.sources.services import (
    MAX_SECRET_LENGTH,
    UNSET,
    source_create,
    source_delete,
    source_exposures,
    source_update,
)
from plg_platform.api.base import StrictSerializer, WorkspaceAPIView
from plg_platform.models import Role

CREDENTIAL_HELP = (
    "The ClickHouse password or Spark Connect token. Write-only: stored encrypted, never "
    "returned. Omit it to keep the stored one; send an empty string to remove it."
)


# --- input ---------------------------------------------------------------------------------------
def _text(max_length: int, help_text: str = "", **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length, required=False, allow_blank=True, help_text=help_text, **kwargs
    )


class ConnectionInputSerializer(StrictSerializer):
    path = _text(500, "duckdb, duckdb_folder, chdb: the file or folder, in the sources folder.")
    host = _text(255, "clickhouse: the server's host name.")
    port = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=65535, help_text="Default 8123."
    )
    database = _text(100, "clickhouse: the database (default 'default').")
    username = _text(100, "clickhouse: the user (a read-only one).")
    secure = serializers.BooleanField(required=False, help_text="clickhouse: HTTPS.")
    url = _text(500, "spark: sc://host:15002 (Spark Connect), or local[2].")


class EventsInputSerializer(StrictSerializer):
    table = serializers.CharField(max_length=200, help_text="The event table (or schema.table).")
    event_column = _text(100, "The event name's column (default 'event').")
    unit_column = _text(100, "The unit (user) id's column (default 'user_id').")
    timestamp_column = _text(100, "The time's column (default 'timestamp').")
    time_type = serializers.ChoiceField(TimeType.choices, required=False)
    properties_column = _text(100, "A JSON text column of event properties, if any.")
    property_columns = serializers.DictField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text='Typed columns by property name, e.g. {"plan": "plan_name"}.',
    )
    persons_table = _text(
        200, "Person properties: a table with columns distinct_id and properties (JSON)."
    )


class ExposuresInputSerializer(StrictSerializer):
    table = serializers.CharField(max_length=200, help_text="One row per exposure.")
    experiment_column = _text(100, "Default 'experiment_id'.")
    variation_column = _text(100, "Default 'variation_id' (a variant key or its index).")
    unit_column = _text(100, "Default 'user_id'.")
    timestamp_column = _text(100, "Default 'timestamp'.")
    time_type = serializers.ChoiceField(TimeType.choices, required=False)


class SourceInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    description = _text(2000)
    engine = serializers.ChoiceField(SourceEngine.choices)
    connection = ConnectionInputSerializer(required=False)
    secret = serializers.CharField(
        max_length=MAX_SECRET_LENGTH,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=CREDENTIAL_HELP,
    )
    events = EventsInputSerializer()
    exposures = ExposuresInputSerializer(
        required=False,
        allow_null=True,
        help_text="The experiments' exposure table (GrowthBook's shape); null for none.",
    )


def _given(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    return None if value is None else {k: v for k, v in value.items()}


# --- output --------------------------------------------------------------------------------------
class ConnectionOutputSerializer(serializers.Serializer):
    path = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)
    database = serializers.CharField()
    username = serializers.CharField()
    secure = serializers.BooleanField()
    url = serializers.CharField()


class EventsOutputSerializer(serializers.Serializer):
    table = serializers.CharField(source="events_table")
    event_column = serializers.CharField()
    unit_column = serializers.CharField()
    timestamp_column = serializers.CharField()
    time_type = serializers.CharField()
    properties_column = serializers.CharField()
    property_columns = serializers.DictField(child=serializers.CharField())
    persons_table = serializers.CharField()


class ExposuresOutputSerializer(serializers.Serializer):
    table = serializers.CharField()
    experiment_column = serializers.CharField()
    variation_column = serializers.CharField()
    unit_column = serializers.CharField()
    timestamp_column = serializers.CharField()
    time_type = serializers.CharField()


class SourceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    engine = serializers.CharField()
    connection = ConnectionOutputSerializer(source="*")
    has_secret = serializers.SerializerMethodField(
        help_text="Whether a secret is stored (it is never shown)."
    )
    events = EventsOutputSerializer(source="*")
    exposures = serializers.SerializerMethodField()
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_check = serializers.DictField(help_text="The last dry run's report ({} before one).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_secret(self, source: EventSource) -> bool:
        return bool(source.secret_encrypted)

    @extend_schema_field(ExposuresOutputSerializer(allow_null=True))
    def get_exposures(self, source: EventSource) -> dict[str, Any] | None:
        return source_exposures(source)


class DryRunErrorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["missing", "type", "unreachable", "timeout", "error"])
    message = serializers.CharField(help_text="Names the source, the table and the column.")
    table = serializers.CharField()
    column = serializers.CharField()
    field = serializers.CharField(help_text="The mapping field at fault, e.g. events.unit_column.")


class DryRunOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    engine = serializers.CharField(help_text="The source and where it reads.")
    events = serializers.DictField(
        allow_null=True,
        help_text="table, columns (mapped, with types), rows, units, event_names, first_time, "
        "last_time.",
    )
    persons = serializers.DictField(allow_null=True, help_text="table, rows.")
    exposures = serializers.DictField(
        allow_null=True,
        help_text="table, rows, experiments: [{experiment_id, exposures, units, "
        "multiple_variation_units, variations: {id: units}, first_time, last_time}].",
    )
    # The report's own key; this serializer only describes the answer (it shadows ``errors``).
    errors = DryRunErrorSerializer(many=True)  # type: ignore[assignment]
    seconds = serializers.FloatField()
    checked_at = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------------
class _SourceApi(WorkspaceAPIView):
    required_roles = {"POST": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


class SourceListApi(_SourceApi):
    @extend_schema(responses=SourceOutputSerializer(many=True), tags=["sources"])
    def get(self, request: Request) -> Response:
        """The workspace's event sources: warehouse tables its metrics and experiments can read."""
        return self.paginated(
            request, sources_list(workspace=self.workspace), SourceOutputSerializer
        )

    @extend_schema(
        request=SourceInputSerializer, responses={201: SourceOutputSerializer}, tags=["sources"]
    )
    def post(self, request: Request) -> Response:
        """Connect a table the team already has (admins). Nothing is read until a dry run."""
        data = SourceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        source = source_create(
            workspace=self.workspace,
            name=given["name"],
            description=given.get("description", ""),
            engine=given["engine"],
            connection=_given(given, "connection") or {},
            events=_given(given, "events") or {},
            exposures=_given(given, "exposures"),
            secret=given.get("secret", ""),
            actor=request.user,
        )
        return Response(SourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(_SourceApi):
    @extend_schema(responses=SourceOutputSerializer, tags=["sources"])
    def get(self, request: Request, source_id: int) -> Response:
        """One source, with its last dry run."""
        source = source_get(workspace=self.workspace, source_id=source_id)
        return Response(SourceOutputSerializer(source).data)

    @extend_schema(
        request=SourceInputSerializer(partial=True),
        responses=SourceOutputSerializer,
        tags=["sources"],
    )
    def patch(self, request: Request, source_id: int) -> Response:
        """Change a source (admins): connection and mapping fields change one by one; changing
        where it connects needs the secret again."""
        source = source_get(workspace=self.workspace, source_id=source_id)
        data = SourceInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        source = source_update(
            source=source,
            actor=request.user,
            name=given.get("name"),
            description=given.get("description"),
            engine=given.get("engine"),
            connection=_given(given, "connection"),
            events=_given(given, "events"),
            exposures=_given(given, "exposures") if "exposures" in given else UNSET,
            secret=given.get("secret"),
        )
        return Response(SourceOutputSerializer(source).data)

    @extend_schema(request=None, responses={204: None}, tags=["sources"])
    def delete(self, request: Request, source_id: int) -> Response:
        """Delete a source no experiment is analysed from (admins)."""
        source_delete(
            source=source_get(workspace=self.workspace, source_id=source_id), actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceDryRunApi(WorkspaceAPIView):
    @extend_schema(request=None, responses=DryRunOutputSerializer, tags=["sources"])
    def post(self, request: Request, source_id: int) -> Response:
        """Check the source without changing anything: its tables and mapped columns exist
        with usable types; report rows, units, the time range and exposures per experiment.
        A problem is reported in ``errors`` (200), not as a failed request."""
        source = source_get(workspace=self.workspace, source_id=source_id)
        return Response(source_dry_run(source))
