"""The event source form of our pages: one flat form whose fields are the model's, turned
into the service's connection, event and exposure mappings. Names and paths are checked by
``metrics.sources`` (the one place), so the form only parses what a person typed."""

from __future__ import annotations

from typing import Any

from django import forms

from metrics.models import EventSource, SourceEngine, TimeType
from metrics.sources.validation import API_NAMES, CONNECTION_FIELDS, EVENT_FIELDS, EXPOSURE_FIELDS
from plg_platform.web.forms import PageForm

BAD_PROPERTY_LINE = "Write one “property = column” per line; line {line} is {text!r}."
FILE_ENGINES = f"{SourceEngine.DUCKDB} {SourceEngine.DUCKDB_FOLDER} {SourceEngine.CHDB}"
# Each connection field and the engines that read it (the page shows it only for those).
SHOWN_FOR = {
    "path": FILE_ENGINES,
    "host": SourceEngine.CLICKHOUSE,
    "port": SourceEngine.CLICKHOUSE,
    "database": SourceEngine.CLICKHOUSE,
    "username": SourceEngine.CLICKHOUSE,
    "secure": SourceEngine.CLICKHOUSE,
    "url": SourceEngine.SPARK,
    "secret": f"{SourceEngine.CLICKHOUSE} {SourceEngine.SPARK}",
    "remove_secret": f"{SourceEngine.CLICKHOUSE} {SourceEngine.SPARK}",
}
_FORM_NAMES = {api: model for model, api in API_NAMES.items()}


def form_field_of(api_name: str) -> str:
    """The form field a service error names (``events.table`` → ``events_table``)."""
    if api_name.startswith("events.property_columns"):
        return "property_columns"
    return _FORM_NAMES.get(api_name, api_name)


def _text(label: str, help_text: str = "", max_length: int = 100, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label, help_text=help_text, max_length=max_length, required=False, **kwargs
    )


class SourceForm(PageForm):
    name = forms.CharField(max_length=100, help_text="How people will know it: “Snowplow events”.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    engine = forms.ChoiceField(choices=SourceEngine.choices, widget=forms.RadioSelect)
    # Connection
    path = _text(
        "Path",
        "The DuckDB file, Parquet/CSV folder or chdb directory, relative to the sources folder.",
        max_length=500,
    )
    host = _text("Host", max_length=255)
    port = forms.IntegerField(
        required=False, min_value=1, max_value=65535, help_text="Empty: 8123 (8443 with HTTPS)."
    )
    database = _text("Database", "Empty: default.")
    username = _text("User", "A user that may only read.")
    secure = forms.BooleanField(required=False, label="Connect over HTTPS")
    url = _text("Spark URL", "sc://host:15002 (Spark Connect), or local[2].", max_length=500)
    secret = forms.CharField(
        required=False,
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="Password or token",
        help_text="Stored encrypted and never shown again. Leave empty to keep the stored one.",
    )
    remove_secret = forms.BooleanField(required=False, label="Remove the stored password")
    # The event table
    events_table = forms.CharField(
        max_length=200, label="Event table", help_text="A table (or schema.table) you only read."
    )
    event_column = forms.CharField(max_length=100, initial="event", label="Event name column")
    unit_column = forms.CharField(max_length=100, initial="user_id", label="User id column")
    timestamp_column = forms.CharField(max_length=100, initial="timestamp", label="Time column")
    time_type = forms.ChoiceField(choices=TimeType.choices, label="Time is held as")
    properties_column = _text("JSON properties column", "Empty if properties are all typed.")
    property_columns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Typed property columns",
        help_text="One “property = column” per line, e.g. “plan = plan_name”.",
    )
    persons_table = _text(
        "Persons table",
        "Optional: columns distinct_id and properties (JSON), for segments and accounts.",
        max_length=200,
    )
    # The exposure table
    exposures_table = _text(
        "Exposure table",
        "Where experiments log who saw which variation. Empty: none.",
        max_length=200,
    )
    exposure_experiment_column = forms.CharField(
        required=False, max_length=100, initial="experiment_id", label="Experiment id column"
    )
    exposure_variation_column = forms.CharField(
        required=False, max_length=100, initial="variation_id", label="Variation column"
    )
    exposure_unit_column = forms.CharField(
        required=False, max_length=100, initial="user_id", label="Exposed user column"
    )
    exposure_timestamp_column = forms.CharField(
        required=False, max_length=100, initial="timestamp", label="Exposure time column"
    )
    exposure_time_type = forms.ChoiceField(
        choices=TimeType.choices, label="Exposure time is held as"
    )

    @classmethod
    def initial_from(cls, source: EventSource) -> dict[str, Any]:
        fields = ("name", "description", "engine", *CONNECTION_FIELDS, *EVENT_FIELDS.values())
        initial = {name: getattr(source, name) for name in fields}
        initial["property_columns"] = "\n".join(
            f"{prop} = {column}" for prop, column in (source.property_columns or {}).items()
        )
        if source.exposures_table:
            initial.update({name: getattr(source, name) for name in EXPOSURE_FIELDS.values()})
        return initial

    def clean_property_columns(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["property_columns"].splitlines(), 1):
            if not line.strip():
                continue
            prop, sep, column = line.partition("=")
            if not sep or not prop.strip() or not column.strip():
                raise forms.ValidationError(BAD_PROPERTY_LINE.format(line=number, text=line))
            out[prop.strip()] = column.strip()
        return out

    # --- what the service takes ------------------------------------------------------------------
    def connection(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in CONNECTION_FIELDS}

    def events(self) -> dict[str, Any]:
        return {api: self.cleaned_data[model] for api, model in EVENT_FIELDS.items()}

    def exposures(self) -> dict[str, Any] | None:
        if not self.cleaned_data["exposures_table"]:
            return None
        given = {api: self.cleaned_data[model] for api, model in EXPOSURE_FIELDS.items()}
        return {api: value for api, value in given.items() if value}  # empty: the default

    def new_secret(self) -> str | None:
        """The secret to store: a new one, '' to remove it, None to keep it."""
        if self.cleaned_data["remove_secret"]:
            return ""
        return self.cleaned_data["secret"] or None
