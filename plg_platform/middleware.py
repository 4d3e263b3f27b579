"""Request screening that every view relies on, so no view has to repeat it.

- ``CompressedBodyMiddleware`` expands ``Content-Encoding: gzip`` / ``deflate`` bodies while
  streaming them and stops at ``REQUEST_MAX_DECOMPRESSED_BYTES``: a 254 kB body expanding to
  256 MB is cut after the first few megabytes and answered with 413, so memory never exceeds the
  cap. Views then see a plain body and its real (decompressed) ``Content-Length``, so their own
  size limits (5 MB per native batch, 500 kB per Segment batch) apply after decompression.
- ``NulParameterMiddleware`` refuses a NUL character in any query parameter or form field (name
  or value) with a 400 naming the parameter: PostgreSQL cannot store or compare text with NUL,
  so such a value reaching a query is a 500.

Both answer API paths with our JSON error body and pages with a short readable text.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

BODY_TOO_LARGE_DECOMPRESSED = "The decompressed request body is over {limit} bytes."
BAD_COMPRESSION = "The body is not valid {encoding} data: {error}"
UNSUPPORTED_ENCODING = "Content-Encoding {encoding!r} is not supported: use gzip or deflate."
NUL_IN_PARAMETER = "Must not contain the NUL character (\\u0000)."

_CHUNK = 64 * 1024
# zlib's window bits: gzip header, zlib header, or auto-detect either (47 = 32 + 15).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + 15}
_API_PREFIXES = ("/api/", "/v1/")


def _error(request: HttpRequest, status: int, field: str, message: str) -> HttpResponse:
    if request.path.startswith(_API_PREFIXES):
        return JsonResponse(
            {"detail": f"{field}: {message}", "errors": {field: [message]}}, status=status
        )
    return HttpResponse(
        f"{field}: {message}", status=status, content_type="text/plain; charset=utf-8"
    )


class BodyTooLarge(Exception):
    pass


def decompress_capped(stream: io.RawIOBase | io.BufferedIOBase, *, wbits: int, limit: int) -> bytes:
    """Decompress ``stream`` chunk by chunk; raise ``BodyTooLarge`` as soon as the output would
    pass ``limit`` bytes (so at most ``limit`` + one chunk is ever held), ``zlib.error`` for bad
    data."""
    decompressor = zlib.decompressobj(wbits=wbits)
    out = bytearray()
    while chunk := stream.read(_CHUNK):
        data = chunk
        while data:
            out += decompressor.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyTooLarge
            data = decompressor.unconsumed_tail
        if decompressor.eof:
            break
    out += decompressor.flush(limit + 1 - len(out))
    if len(out) > limit:
        raise BodyTooLarge
    if not decompressor.eof:
        raise zlib.error("the compressed stream ends early")
    return bytes(out)


class CompressedBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding in ("", "identity"):
            return self.get_response(request)
        if encoding not in _WBITS:
            return _error(
                request, 415, "content_encoding", UNSUPPORTED_ENCODING.format(encoding=encoding)
            )
        limit = settings.REQUEST_MAX_DECOMPRESSED_BYTES
        try:
            body = decompress_capped(request, wbits=_WBITS[encoding], limit=limit)
        except BodyTooLarge:
            message = BODY_TOO_LARGE_DECOMPRESSED.format(limit=limit)
            return _error(request, 413, "body", message)
        except zlib.error as exc:
            message = BAD_COMPRESSION.format(encoding=encoding, error=exc)
            return _error(request, 400, "body", message)
        # The view reads the plain body as if it had been sent uncompressed.
        request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
        request._read_started = False  # type: ignore[attr-defined]
        request.META["CONTENT_LENGTH"] = str(len(body))
        del request.META["HTTP_CONTENT_ENCODING"]
        return self.get_response(request)


class NulParameterMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sources = [request.GET]
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            try:
                sources.append(request.POST)
            except MultiPartParserError:
                pass  # the view's own parser answers 400 for a body it cannot read
        for params in sources:
            for name, values in params.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    return _error(request, 400, name.replace("\x00", "\\u0000"), NUL_IN_PARAMETER)
        return self.get_response(request)
