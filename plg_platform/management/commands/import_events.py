"""``manage.py import_events FILE --workspace SLUG``: import events from CSV, JSON Lines or Parquet.

Rows are read in chunks (never the whole file) and each chunk goes through
``events_ingest``, so validation and deduplication by ``insert_id`` are exactly the HTTP
API's. Rejected rows are reported by line (CSV, JSON Lines; the CSV header is line 1) or row
(Parquet) and field, and summarised by reason. Each chunk is stored in its own transaction:
an interrupted import keeps what it stored, and rerunning it skips those events as duplicates
when they carry an ``insert_id``.

Columns (CSV, Parquet) or keys (JSON Lines): ``event``, ``distinct_id``, ``timestamp`` (ISO 8601
with a time zone; Parquet: a time-zone-aware timestamp column), optional ``insert_id`` and
``properties`` (a JSON object; Parquet: a struct or JSON text). CSV and Parquet may also carry
one column per property, named ``properties.<name>``; CSV cells there that read as JSON
numbers, ``true``, ``false`` or ``null`` keep that type, any other cell is a string.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import reset_queries
from tqdm import tqdm

from plg_platform.models import Workspace
from plg_platform.services.ingestion import events_ingest

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_SHOWN_REJECTIONS = 20
REQUIRED_COLUMNS = ("event", "distinct_id", "timestamp")
OPTIONAL_COLUMNS = ("insert_id", "properties")
PROPERTY_PREFIX = "properties."
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# A CSV cell that JSON reads as a number or literal keeps that type; "007" stays a string.
_JSON_SCALAR = re.compile(r"^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)$")

MISSING_COLUMNS = "Missing column(s): {names}. Required: event, distinct_id, timestamp."
UNKNOWN_COLUMNS = (
    "Unknown column(s): {names}. Allowed: event, distinct_id, timestamp, insert_id, "
    "properties, and properties.<name>."
)
UNKNOWN_FORMAT = "Cannot tell the format of {name}: use --format csv, jsonl or parquet."
INVALID_JSON = "Invalid JSON: {message} (column {column})."
PROPERTIES_NOT_OBJECT = "Must be a JSON object."
WRONG_FIELD_COUNT = "Expected {expected} fields, found {found}."
NOT_UTF8 = "{name} is not UTF-8 text; the first {rows} rows were imported before the bad bytes."
NOT_PARQUET = "Cannot read {name} as Parquet: {error}"
BAD_CSV = "Line {line}: unreadable CSV ({error}); the rows before it were imported."

# (line or row number, raw event or None, parse errors by field or None)
Row = tuple[int, Any, dict[str, list[str]] | None]


# --- Reading ----------------------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """A binary stream that reports how many bytes were read, for a progress bar in bytes."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer)
        self._on_read(count or 0)
        return count or 0


def _text_stream(path: Path, on_read: Callable[[int], None]) -> io.TextIOWrapper:
    counting = io.BufferedReader(_CountingReader(path.open("rb"), on_read))
    binary: IO[bytes] = gzip.GzipFile(fileobj=counting) if path.suffix == ".gz" else counting
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _check_columns(names: list[str]) -> None:
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        raise CommandError(MISSING_COLUMNS.format(names=", ".join(missing)))
    allowed = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    unknown = [n for n in names if n not in allowed and not n.startswith(PROPERTY_PREFIX)]
    if unknown:
        raise CommandError(UNKNOWN_COLUMNS.format(names=", ".join(unknown)))


def _json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return (object, None) for JSON object text, else (None, the error message)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, INVALID_JSON.format(message=exc.msg, column=exc.colno)
    if not isinstance(value, dict):
        return None, PROPERTIES_NOT_OBJECT
    return value, None


def _csv_cell(text: str) -> Any:
    return json.loads(text) if _JSON_SCALAR.match(text) else text


def _csv_row(header: list[str], values: list[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    event: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in zip(header, values, strict=True):
        if name == "properties":
            if value.strip():
                parsed, error = _json_object(value)
                if error:
                    errors["properties"] = [error]
                else:
                    properties.update(parsed or {})
        elif name.startswith(PROPERTY_PREFIX):
            if value != "":
                properties[name[len(PROPERTY_PREFIX) :]] = _csv_cell(value)
        elif name != "insert_id" or value != "":
            event[name] = value
    event["properties"] = properties
    return event, errors


def read_csv(stream: IO[str]) -> Iterator[Row]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    _check_columns(header)
    last_line = reader.line_num
    while True:
        try:
            values = next(reader, None)
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(): cannot go on
            raise CommandError(BAD_CSV.format(line=last_line + 1, error=exc)) from exc
        if values is None:
            return
        line, last_line = last_line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            message = WRONG_FIELD_COUNT.format(expected=len(header), found=len(values))
            yield line, None, {"row": [message]}
            continue
        event, errors = _csv_row(header, values)
        yield line, event, errors or None


def read_jsonl(stream: IO[str]) -> Iterator[Row]:
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield line, json.loads(text), None
        except json.JSONDecodeError as exc:
            message = INVALID_JSON.format(message=exc.msg, column=exc.colno)
            yield line, None, {"line": [message]}


def _parquet_event(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    event: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in record.items():
        if value is None:
            continue
        if name == "properties":
            if isinstance(value, str):
                parsed, error = _json_object(value)
                if error:
                    errors["properties"] = [error]
                value = parsed or {}
            elif isinstance(value, list):  # a Parquet MAP column reads as key/value pairs
                value = dict(value)
            properties.update({k: v for k, v in value.items() if v is not None})
        elif name.startswith(PROPERTY_PREFIX):
            properties[name[len(PROPERTY_PREFIX) :]] = value
        else:
            event[name] = value
    event["properties"] = properties
    return event, errors


def read_parquet(path: Path, *, batch_size: int) -> tuple[int, Iterator[Row]]:
    """Return the number of rows and an iterator over them, one record batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CommandError(NOT_PARQUET.format(name=path.name, error=exc)) from exc
    _check_columns(parquet.schema_arrow.names)

    def rows() -> Iterator[Row]:
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for record in batch.to_pylist():
                number += 1
                event, errors = _parquet_event(record)
                yield number, event, errors or None

    return parquet.metadata.num_rows, rows()


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise CommandError(UNKNOWN_FORMAT.format(name=path.name))
    return kind


# --- Importing --------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import did; rejections are kept in full only up to ``keep`` examples."""

    keep: int
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)

    def reject(self, line: int, errors: dict[str, list[str]]) -> None:
        self.rejected += 1
        for name, messages in errors.items():
            for message in messages:
                self.reasons[(name, message)] += 1
        if len(self.examples) < self.keep:
            self.examples.append((line, errors))


def import_rows(
    *,
    workspace: Workspace,
    rows: Iterator[Row],
    chunk_size: int,
    summary: ImportSummary,
    on_chunk: Callable[[int], None] = lambda rows: None,
    rejected_out: IO[str] | None = None,
) -> None:
    """Ingest ``rows`` chunk by chunk; record counts and rejections in ``summary``."""
    while chunk := list(islice(rows, chunk_size)):
        raw_events, lines, rejections = [], [], []
        for line, event, errors in chunk:
            if errors:
                rejections.append((line, errors))
            else:
                raw_events.append(event)
                lines.append(line)
        result = events_ingest(workspace=workspace, raw_events=raw_events)
        rejections.extend((lines[r["index"]], r["errors"]) for r in result.rejected)
        for line, errors in sorted(rejections, key=lambda rejection: rejection[0]):
            summary.reject(line, errors)
            if rejected_out is not None:
                rejected_out.write(json.dumps({"line": line, "errors": errors}) + "\n")
        summary.rows += len(chunk)
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        reset_queries()  # with DEBUG on, Django would keep the last 9,000 (large) statements
        on_chunk(len(chunk))


class Command(BaseCommand):
    help = "Import events from a CSV, JSON Lines or Parquet file (optionally .gz for text)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--workspace", required=True, help="Slug of the workspace.")
        parser.add_argument("--format", choices=("csv", "jsonl", "parquet"))
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
        parser.add_argument(
            "--show-rejected",
            type=int,
            default=DEFAULT_SHOWN_REJECTIONS,
            help="List at most this many rejected rows (all are counted by reason).",
        )
        parser.add_argument(
            "--rejected-out", type=Path, help="Write every rejection to this file as JSON Lines."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        kind = options["format"] or detect_format(path)
        summary = ImportSummary(keep=max(options["show_rejected"], 0))
        rejected_out = options["rejected_out"].open("w") if options["rejected_out"] else None
        try:
            self._import(path, kind, workspace, summary, options, rejected_out)
        finally:
            if rejected_out is not None:
                rejected_out.close()
        self._report(path, kind, workspace, summary)

    def _import(self, path, kind, workspace, summary, options, rejected_out) -> None:
        show = not options["no_progress"]
        chunk_size = options["chunk_size"]
        if kind == "parquet":
            total, rows = read_parquet(path, batch_size=chunk_size)
            with tqdm(total=total, unit="row", desc=path.name, disable=not show) as bar:
                import_rows(
                    workspace=workspace,
                    rows=rows,
                    chunk_size=chunk_size,
                    summary=summary,
                    on_chunk=bar.update,
                    rejected_out=rejected_out,
                )
            return
        size = path.stat().st_size
        with (
            tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show) as bar,
            _text_stream(path, bar.update) as stream,
        ):
            rows = read_csv(stream) if kind == "csv" else read_jsonl(stream)
            try:
                import_rows(
                    workspace=workspace,
                    rows=rows,
                    chunk_size=chunk_size,
                    summary=summary,
                    rejected_out=rejected_out,
                )
            except UnicodeDecodeError as exc:
                raise CommandError(NOT_UTF8.format(name=path.name, rows=summary.rows)) from exc

    def _report(self, path: Path, kind: str, workspace: Workspace, summary: ImportSummary) -> None:
        where = "row" if kind == "parquet" else "line"
        self.stdout.write(
            f"Imported {path.name} into {workspace.slug}: {summary.rows} rows read, "
            f"{summary.accepted} stored, {summary.duplicates} duplicates skipped, "
            f"{summary.rejected} rejected."
        )
        if not summary.rejected:
            return
        self.stdout.write("Rejected, by reason:")
        for (name, message), count in summary.reasons.most_common():
            self.stdout.write(f"  {count} x {name}: {message}")
        self.stdout.write("Rejected rows:")
        for line, errors in summary.examples:
            detail = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
            self.stdout.write(f"  {where} {line}: {detail}")
        if summary.rejected > len(summary.examples):
            hidden = summary.rejected - len(summary.examples)
            self.stdout.write(f"  ... and {hidden} more (see --show-rejected, --rejected-out)")
