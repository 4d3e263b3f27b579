"""Rate limits: requests per key, and wrong keys per client address.

Each request falls in one bucket: its API token or ingestion key, else its signed-in user,
else the SDK client key in its URL, else its client address. A bucket allows
``THROTTLE_RATES[scope]`` requests per fixed window (a counter in the cache, one atomic
increment per request on Redis); past it the API answers 429 with ``Retry-After`` (the seconds
until the window ends).

Wrong keys never reach a view's throttles (authentication fails first), so the
authentication classes count them per client address here; once an address has used up
``THROTTLE_RATES["auth_failure"]``, every key it sends is refused with 429 for the rest of the
window, before any database lookup.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from plg_platform.models import ApiKey, ApiKeyKind
from plg_platform.services.keys import key_digest

if TYPE_CHECKING:
    from rest_framework.views import APIView

AUTH_FAILURE_SCOPE = "auth_failure"
TOO_MANY_FAILURES = "Too many requests with wrong keys from this address; retry later."
_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """Return (requests, seconds) for "N/period", or None for no limit ("off", "", None)."""
    if not rate or rate.strip().lower() in ("off", "none"):
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's address: REMOTE_ADDR, or the address ``NUM_PROXIES`` proxies saw; None
    when the request has none (a test client's ``force_login``). Also django-axes' source."""
    meta = request.META
    proxies = getattr(settings, "NUM_PROXIES", 0) or 0
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return meta.get("REMOTE_ADDR") or None


def _window(scope: str, ident: str) -> tuple[str, int, int, float] | None:
    """The cache key of the current window, its limit, length and seconds left; None: no limit."""
    parsed = parse_rate(settings.THROTTLE_RATES.get(scope))
    if parsed is None:
        return None
    limit, seconds = parsed
    now = time.time()
    index = int(now // seconds)
    left = (index + 1) * seconds - now
    return f"throttle:{scope}:{ident}:{seconds}:{index}", limit, seconds, left


def _count(key: str, seconds: int) -> int:
    """Add one to the window's counter and return it (atomic on Redis)."""
    cache.add(key, 0, timeout=seconds + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds + 1)
        return 1


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class KeyRateThrottle(BaseThrottle):
    """One fixed-window bucket per credential; see the module docstring."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def bucket(self, request: Request, view: APIView) -> tuple[str, str]:
        """Return (scope, identity) for the request."""
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiKey):
            scope = "ingestion" if auth.kind == ApiKeyKind.INGESTION else "api"
            return scope, f"key{auth.digest[:32]}"  # never reused, unlike a primary key
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return "api", f"user{user.pk}"
        client_key = getattr(view, "kwargs", {}).get("client_key")
        if client_key:
            return "sdk", _digest(client_key)
        return "anon", client_ip(request) or "unknown"

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope, ident = self.bucket(request, view)
        window = _window(scope, ident)
        if window is None:
            return True
        if scope == "sdk":
            _sdk_key_check(request, view.kwargs["client_key"])
        key, limit, seconds, left = window
        if _count(key, seconds) > limit:
            self._wait = left
            return False
        return True

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None


def _sdk_key_check(request: Request, client_key: str) -> None:
    """Count an unknown SDK client key as a wrong key of the client's address."""
    auth_failures_check(request)
    known = ApiKey.objects.filter(
        digest=key_digest(client_key), kind=ApiKeyKind.SDK, revoked_at__isnull=True
    ).exists()
    if not known:
        auth_failure_record(request)


def auth_failures_check(request: HttpRequest | Request) -> None:
    """Raise ``Throttled`` when the client's address has sent too many wrong keys lately."""
    window = _window(AUTH_FAILURE_SCOPE, client_ip(request) or "unknown")
    if window is None:
        return
    key, limit, _seconds, left = window
    if (cache.get(key) or 0) >= limit:
        raise Throttled(wait=math.ceil(left), detail=TOO_MANY_FAILURES)


def auth_failure_record(request: HttpRequest | Request) -> None:
    """Count one wrong key from the client's address."""
    window = _window(AUTH_FAILURE_SCOPE, client_ip(request) or "unknown")
    if window is not None:
        key, _limit, seconds, _left = window
        _count(key, seconds)
