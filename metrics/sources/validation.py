"""What a source may name and where it may point: safe identifiers, paths under the sources
folder, well-formed connection settings. Every check raises ``ValidationFailed`` naming the
field as the API names it (``events.table``, ``connection.path``, ...).

Names are checked here, before any SQL exists: table and column names go into statements as
identifiers, so only letters, digits and underscores pass (a table may be ``schema.table``).
Paths resolve (symlinks followed) inside ``METRICS_SOURCE_ROOT``, so a source cannot open
arbitrary files on the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from metrics.models import SourceEngine, TimeType
from plg_platform.errors import ValidationFailed

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,99}"
COLUMN_NAME = re.compile(rf"^{_IDENTIFIER}$")
TABLE_NAME = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER}){{0,2}}$")
HOST_NAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?)$")
SPARK_LOCAL = re.compile(r"^local(\[(\d{1,3}|\*)\])?$")
MAX_PROPERTY_COLUMNS = 100

BAD_COLUMN = (
    "{value!r} is not a column name we can use: letters, digits and underscores, "
    "starting with a letter or underscore."
)
BAD_TABLE = (
    "{value!r} is not a table name we can use: letters, digits and underscores, "
    "optionally as schema.table."
)
REQUIRED = "Required."
BAD_CHOICE = "Expected one of: {choices}."
BAD_PROPERTY_COLUMNS = 'Give an object of property name → column name, e.g. {"plan": "plan_name"}.'
TOO_MANY_PROPERTY_COLUMNS = "At most {max} typed property columns."
BAD_PROPERTY_NAME = "Property names are 1 to 100 characters: {value!r} is not."
OUTSIDE_ROOT = (
    "The path must lie inside the sources folder ({root}); {value!r} does not. Put the file "
    "there (or ask an operator to set METRICS_SOURCE_ROOT)."
)
NO_FILE = "No file {value!r} in the sources folder ({root})."
NO_FOLDER = "No folder {value!r} in the sources folder ({root})."
NEEDS_PATH = "A {engine} source needs the path of its {what}, relative to the sources folder."
NEEDS_HOST = "A ClickHouse source needs the server's host name."
BAD_HOST = "{value!r} is not a host name (letters, digits, dots and hyphens, or [IPv6])."
BAD_PORT = "A port is a number from 1 to 65535."
BAD_SPARK_URL = (
    "A Spark source takes a Spark Connect URL (sc://host:15002) or a local master "
    "(local, local[2], local[*])."
)
CREDENTIAL_IN_URL = "Put the Spark Connect token in the secret field, not in the URL."
NO_LOGIN_HERE = "A {engine} source has no password or token; leave the secret empty."
BAD_TEXT = "Give text of at most {max} characters."

# Connection fields each engine reads; the others are cleared when a source is saved.
ENGINE_FIELDS: dict[str, tuple[str, ...]] = {
    SourceEngine.DUCKDB: ("path",),
    SourceEngine.DUCKDB_FOLDER: ("path",),
    SourceEngine.CHDB: ("path",),
    SourceEngine.CLICKHOUSE: ("host", "port", "database", "username", "secure"),
    SourceEngine.SPARK: ("url",),
}
TAKES_SECRET = (SourceEngine.CLICKHOUSE, SourceEngine.SPARK)
CONNECTION_FIELDS = ("path", "host", "port", "database", "username", "secure", "url")
CONNECTION_DEFAULTS: dict[str, Any] = {
    "path": "",
    "host": "",
    "port": None,
    "database": "",
    "username": "",
    "secure": False,
    "url": "",
}
# The API's names of the event and exposure mappings → the model's fields.
EVENT_FIELDS = {
    "table": "events_table",
    "event_column": "event_column",
    "unit_column": "unit_column",
    "timestamp_column": "timestamp_column",
    "time_type": "time_type",
    "properties_column": "properties_column",
    "property_columns": "property_columns",
    "persons_table": "persons_table",
}
EXPOSURE_FIELDS = {
    "table": "exposures_table",
    "experiment_column": "exposure_experiment_column",
    "variation_column": "exposure_variation_column",
    "unit_column": "exposure_unit_column",
    "timestamp_column": "exposure_timestamp_column",
    "time_type": "exposure_time_type",
}
EVENT_DEFAULTS: dict[str, Any] = {
    "event_column": "event",
    "unit_column": "user_id",
    "timestamp_column": "timestamp",
    "time_type": TimeType.TIMESTAMP,
    "properties_column": "",
    "property_columns": {},
    "persons_table": "",
}
EXPOSURE_DEFAULTS: dict[str, Any] = {
    "experiment_column": "experiment_id",
    "variation_column": "variation_id",
    "unit_column": "user_id",
    "timestamp_column": "timestamp",
    "time_type": TimeType.TIMESTAMP,
}
# Model field → the API's name, for errors that come from the model (full_clean).
API_NAMES = {
    **{f: f"connection.{f}" for f in CONNECTION_FIELDS},
    **{model: f"events.{api}" for api, model in EVENT_FIELDS.items()},
    **{model: f"exposures.{api}" for api, model in EXPOSURE_FIELDS.items()},
}


def source_root() -> Path:
    """The folder every file source must lie in (``METRICS_SOURCE_ROOT``), resolved."""
    return Path(settings.METRICS_SOURCE_ROOT).resolve()


def resolved_path(value: str, *, field: str = "connection.path") -> Path:
    """Return ``value`` (relative to the sources folder, or absolute) resolved, if it lies
    inside the sources folder; symlinks are followed first, so a link cannot lead out."""
    root = source_root()
    candidate = Path(value)
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not full.is_relative_to(root):
        raise ValidationFailed(OUTSIDE_ROOT.format(root=root, value=value), field=field)
    return full


def check_path(engine: str, value: str) -> str:
    """Check a file source's path: inside the sources folder and there (a missing chdb
    directory would be created by opening it, which is a write)."""
    what = "DuckDB file" if engine == SourceEngine.DUCKDB else "folder"
    if not value:
        raise ValidationFailed(
            NEEDS_PATH.format(engine=SourceEngine(engine).label, what=what),
            field="connection.path",
        )
    full = resolved_path(value)
    root = source_root()
    if engine == SourceEngine.DUCKDB and not full.is_file():
        raise ValidationFailed(NO_FILE.format(value=value, root=root), field="connection.path")
    if engine != SourceEngine.DUCKDB and not full.is_dir():
        raise ValidationFailed(NO_FOLDER.format(value=value, root=root), field="connection.path")
    return value


def check_connection(engine: str, connection: Mapping[str, Any]) -> dict[str, Any]:
    """Return the engine's connection settings, checked; the fields it does not read are
    cleared."""
    if engine not in SourceEngine.values:
        choices = ", ".join(SourceEngine.values)
        raise ValidationFailed(BAD_CHOICE.format(choices=choices), field="engine")
    unknown = sorted(set(connection) - set(CONNECTION_FIELDS))
    if unknown:
        raise ValidationFailed("Unknown field.", field=f"connection.{unknown[0]}")
    used = ENGINE_FIELDS[engine]
    out = dict(CONNECTION_DEFAULTS)
    out.update({k: v for k, v in connection.items() if k in used and v is not None})
    for name in ("path", "host", "database", "username", "url"):
        if not isinstance(out[name], str):
            raise ValidationFailed(BAD_TEXT.format(max=500), field=f"connection.{name}")
        out[name] = out[name].strip()
    if "path" in used:
        check_path(engine, out["path"])
    if engine == SourceEngine.CLICKHOUSE:
        _check_server(out)
    if engine == SourceEngine.SPARK:
        _check_spark_url(out["url"])
    return out


def _check_server(out: dict[str, Any]) -> None:
    if not out["host"]:
        raise ValidationFailed(NEEDS_HOST, field="connection.host")
    if not HOST_NAME.match(out["host"]):
        raise ValidationFailed(BAD_HOST.format(value=out["host"]), field="connection.host")
    port = out["port"]
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise ValidationFailed(BAD_PORT, field="connection.port")
    if out["database"] and not COLUMN_NAME.match(out["database"]):
        raise ValidationFailed(BAD_TABLE.format(value=out["database"]), field="connection.database")
    out["secure"] = bool(out["secure"])


def _check_spark_url(url: str) -> None:
    if ";token=" in url.lower():
        raise ValidationFailed(CREDENTIAL_IN_URL, field="connection.url")
    if not (url.startswith("sc://") and len(url) > 5) and not SPARK_LOCAL.match(url):
        raise ValidationFailed(BAD_SPARK_URL, field="connection.url")


def _column(value: Any, field: str, *, required: bool = True) -> str:
    if value in (None, ""):
        if required:
            raise ValidationFailed(REQUIRED, field=field)
        return ""
    if not isinstance(value, str) or not COLUMN_NAME.match(value):
        raise ValidationFailed(BAD_COLUMN.format(value=value), field=field)
    return value


def _table(value: Any, field: str, *, required: bool = True) -> str:
    if value in (None, ""):
        if required:
            raise ValidationFailed(REQUIRED, field=field)
        return ""
    if not isinstance(value, str) or not TABLE_NAME.match(value):
        raise ValidationFailed(BAD_TABLE.format(value=value), field=field)
    return value


def _time_type(value: Any, field: str) -> str:
    if value not in TimeType.values:
        raise ValidationFailed(BAD_CHOICE.format(choices=", ".join(TimeType.values)), field=field)
    return value


def _property_columns(value: Any) -> dict[str, str]:
    field = "events.property_columns"
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise ValidationFailed(BAD_PROPERTY_COLUMNS, field=field)
    if len(value) > MAX_PROPERTY_COLUMNS:
        raise ValidationFailed(
            TOO_MANY_PROPERTY_COLUMNS.format(max=MAX_PROPERTY_COLUMNS), field=field
        )
    out: dict[str, str] = {}
    for prop, column in value.items():
        if not isinstance(prop, str) or not 1 <= len(prop) <= 100:
            raise ValidationFailed(BAD_PROPERTY_NAME.format(value=prop), field=field)
        out[prop] = _column(column, f"{field}.{prop}")
    return dict(sorted(out.items()))


def _unknown(mapping: Mapping[str, Any], known: Mapping[str, str], prefix: str) -> None:
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValidationFailed("Unknown field.", field=f"{prefix}.{unknown[0]}")


def check_events(events: Mapping[str, Any]) -> dict[str, Any]:
    """Return the event table's mapping as model fields, every name checked."""
    if not isinstance(events, Mapping):
        raise ValidationFailed("Give the event table's mapping as an object.", field="events")
    _unknown(events, EVENT_FIELDS, "events")
    m = {**EVENT_DEFAULTS, **{k: v for k, v in events.items() if v is not None}}
    return {
        "events_table": _table(m.get("table"), "events.table"),
        "event_column": _column(m["event_column"], "events.event_column"),
        "unit_column": _column(m["unit_column"], "events.unit_column"),
        "timestamp_column": _column(m["timestamp_column"], "events.timestamp_column"),
        "time_type": _time_type(m["time_type"], "events.time_type"),
        "properties_column": _column(
            m["properties_column"], "events.properties_column", required=False
        ),
        "property_columns": _property_columns(m["property_columns"]),
        "persons_table": _table(m["persons_table"], "events.persons_table", required=False),
    }


def check_exposures(exposures: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the exposure table's mapping as model fields (an empty table: none)."""
    if exposures is None:
        return {
            "exposures_table": "",
            **{EXPOSURE_FIELDS[k]: v for k, v in EXPOSURE_DEFAULTS.items()},
        }
    if not isinstance(exposures, Mapping):
        raise ValidationFailed("Give the exposure table's mapping as an object.", field="exposures")
    _unknown(exposures, EXPOSURE_FIELDS, "exposures")
    m = {**EXPOSURE_DEFAULTS, **{k: v for k, v in exposures.items() if v is not None}}
    return {
        "exposures_table": _table(m.get("table"), "exposures.table"),
        "exposure_experiment_column": _column(
            m["experiment_column"], "exposures.experiment_column"
        ),
        "exposure_variation_column": _column(m["variation_column"], "exposures.variation_column"),
        "exposure_unit_column": _column(m["unit_column"], "exposures.unit_column"),
        "exposure_timestamp_column": _column(m["timestamp_column"], "exposures.timestamp_column"),
        "exposure_time_type": _time_type(m["time_type"], "exposures.time_type"),
    }
