"""DRF authentication by our keys: personal API tokens (Bearer), ingestion keys (Bearer, or as
the Basic-auth user name the way Segment clients send their write key).

SDK client keys are not an authentication method: they only name the public payload in a URL.
Wrong keys are counted per client address (``throttling``); past the limit, 429 before lookup.
"""

from __future__ import annotations

import base64
import binascii

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from plg_platform.models import ApiKey, ApiKeyKind
from plg_platform.services.keys import KEY_PREFIXES, api_key_authenticate
from plg_platform.throttling import auth_failure_record, auth_failures_check

INVALID_TOKEN = "Invalid or revoked API token."  # noqa: S105 - a message, not a secret
INVALID_INGESTION_KEY = "Invalid or revoked ingestion key."
WRONG_KEY_KIND = "This is {kind}; this endpoint needs {needed}."


def _bearer(request: Request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        return None


def _kind_of(raw: str) -> ApiKeyKind | None:
    for kind, prefix in KEY_PREFIXES.items():
        if raw.startswith(prefix):
            return kind
    return None


class _KeyAuthentication(BaseAuthentication):
    kind: ApiKeyKind
    invalid_message: str

    def _check(self, request: Request, raw: str) -> ApiKey:
        auth_failures_check(request)  # an address that sent too many wrong keys gets 429
        kind = _kind_of(raw)
        if kind is not None and kind != self.kind:
            raise AuthenticationFailed(
                WRONG_KEY_KIND.format(kind=kind.label, needed=self.kind.label)
            )
        key = api_key_authenticate(raw_key=raw, kind=self.kind)
        if key is None:
            auth_failure_record(request)
            raise AuthenticationFailed(self.invalid_message)
        return key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenAuthentication(_KeyAuthentication):
    """``Authorization: Bearer plg_pat_…``; the request acts as the token's user."""

    kind = ApiKeyKind.PERSONAL
    invalid_message = INVALID_TOKEN

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        raw = _bearer(request)
        if raw is None:
            return None
        key = self._check(request, raw)
        if not key.user.is_active:
            auth_failure_record(request)
            raise AuthenticationFailed(INVALID_TOKEN)
        return key.user, key


class IngestionKeyAuthentication(_KeyAuthentication):
    """``Authorization: Bearer plg_ing_…``, or HTTP Basic with the key as user name (Segment)."""

    kind = ApiKeyKind.INGESTION
    invalid_message = INVALID_INGESTION_KEY

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        raw = _bearer(request) or self._basic_user(request)
        if raw is None:
            return None
        return AnonymousUser(), self._check(request, raw)

    @staticmethod
    def _basic_user(request: Request) -> str | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(parts[1]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="ingestion"'


class SignInLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for password sign-ins (settings: ``AXES_*``).

    Every sign-in over HTTP (the login page, the admin) passes its request and is checked. A
    call without a request (a test client's ``login``, a shell) has no address to count, so it
    is left to the next backend instead of failing as axes' own backend does.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: object,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
