"""The JSON body parser of every API view: no ``RecursionError``, no NUL, no unsummable numbers.

DRF's own ``JSONParser`` uses the standard library, whose decoder recurses: a body nested a few
thousand levels deep escapes as ``RecursionError`` (a 500). Here orjson parses first (it stops
at 1,024 levels with an ordinary error); what orjson refuses but JSON allows (integers beyond 64
bits, ``1e309``) is parsed again by the standard library, with huge numbers read as infinities,
so that the checks below can name them. Bodies are then walked once, iteratively:

- ``ApiJSONParser`` (the default) refuses a NUL character, a lone surrogate, a non-finite number
  or nesting deeper than ``MAX_API_DEPTH`` with a 400 naming the field path;
- ``EventJSONParser`` (ingestion endpoints) leaves those checks to event validation, which
  rejects each bad event alone and keeps the rest of the batch.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from plg_platform.json_values import API_BOUNDS, first_problem

BAD_JSON = "The body is not valid JSON: {error}"
TOO_DEEP_TO_PARSE = "The body is not valid JSON: nested too deeply to read."
NOT_UTF8 = "The body is not UTF-8 JSON."
# Integer literals longer than this are beyond float64 anyway; Python would also refuse to
# convert more than 4,300 digits (a ValueError that would cost the whole batch).
_MAX_INTEGER_DIGITS = 309


def _read_int(text: str) -> int | float:
    digits = text.lstrip("-")
    if len(digits) > _MAX_INTEGER_DIGITS:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def json_loads(body: bytes) -> Any:
    """Parse a JSON body; raise ``ParseError`` for anything that is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as first_error:
        if "depth limit" in str(first_error):
            raise exceptions.ParseError(TOO_DEEP_TO_PARSE) from first_error
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(NOT_UTF8) from exc
        try:
            return json.loads(text, parse_int=_read_int, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(TOO_DEEP_TO_PARSE) from exc
        except ValueError as exc:
            raise exceptions.ParseError(BAD_JSON.format(error=exc)) from exc


class EventJSONParser(BaseParser):
    """JSON for ingestion endpoints: parsed safely; values are checked per event later."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        body = stream.read() if stream is not None else b""
        return json_loads(body or b"{}")


class ApiJSONParser(EventJSONParser):
    """JSON for every other API view: a value breaking ``API_BOUNDS`` is a 400 naming it."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if (problem := first_problem(data, API_BOUNDS)) is not None:
            raise exceptions.ValidationError({problem.dotted(): [problem.message]})
        return data
