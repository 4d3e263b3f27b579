from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        # Ingestion (plg_platform, below this app) stores routed workspaces' events through
        # these sinks; registered here so plg_platform never imports the metric layer.
        from metrics.stores import ClickHouseSink, DuckDBFolderSink
        from plg_platform.event_sinks import sink_register
        from plg_platform.models import EventStore

        sink_register(EventStore.DUCKDB, DuckDBFolderSink())
        sink_register(EventStore.CLICKHOUSE, ClickHouseSink())
