"""Rate limits: sign-in lockout (django-axes), requests per key, wrong keys per address."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from plg_platform import throttling
from plg_platform.models import ApiKeyKind, Role
from plg_platform.services.keys import api_key_create
from plg_platform.throttling import TOO_MANY_FAILURES, parse_rate
from tests.conftest import make_actor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test password
EVENT = {"event": "signup", "distinct_id": "u1", "timestamp": "2026-11-24T10:00:00Z"}


def _address() -> str:
    """A client address no other test (or earlier run) has used."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


@pytest.fixture(autouse=True)
def mid_window(monkeypatch):
    """Hold the limiter's clock 30 s into an hour, so a test's requests never straddle the
    edge of a fixed window (which would reset a counter mid-test and make the test flaky)."""
    pinned = (time.time() // 3600) * 3600 + 30
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: pinned))


@pytest.fixture
def rates(settings):
    """Set some limits for one test."""

    def set_rates(**rates: str) -> None:
        settings.THROTTLE_RATES = {**django_settings.THROTTLE_RATES, **rates}

    return set_rates


def _sign_in(client: Client, email: str, password: str, address: str):
    return client.post("/login/", {"username": email, "password": password}, REMOTE_ADDR=address)


def test_after_five_wrong_passwords_even_the_right_one_is_refused_until_the_cool_off(
    workspace,
):
    user = UserFactory(email="ann@example.com", username="ann@example.com")
    user.set_password(PASSWORD)
    user.save()
    address = _address()
    client = Client()

    wrong = [_sign_in(client, user.username, "guess", address).status_code for _ in range(5)]
    locked = _sign_in(client, user.username, PASSWORD, address)
    elsewhere = _sign_in(Client(), user.username, PASSWORD, _address())

    assert wrong == [200, 200, 200, 200, 429]  # the 5th failure locks; the form says so
    assert locked.status_code == 429
    assert b"Sign-in paused" in locked.content
    assert "_auth_user_id" not in client.session
    # Only this address is locked for this user: nobody can lock a colleague out from afar.
    assert elsewhere.status_code == 302
    # After the cool-off the right password works again.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - django_settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _sign_in(client, user.username, PASSWORD, address).status_code == 302


def test_api_token_requests_beyond_the_limit_get_429_with_retry_after(editor, rates):
    rates(api="3/min")
    other = make_actor(editor.workspace, Role.VIEWER)

    codes = [editor.client.get("/api/v1/workspace/").status_code for _ in range(3)]
    refused = editor.client.get("/api/v1/workspace/")
    someone_else = other.client.get("/api/v1/workspace/")

    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()
    assert someone_else.status_code == 200


def test_ingestion_key_limits_count_native_and_segment_requests_together(editor, rates):
    rates(ingestion="2/min")
    _, raw = api_key_create(workspace=editor.workspace, kind=ApiKeyKind.INGESTION)
    native = APIClient()
    native.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    segment = APIClient()
    segment.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{raw}:".encode()).decode())
    batch = {"events": [EVENT]}
    track = {"type": "track", "event": "signup", "userId": "u1", "messageId": "m1"}

    first = native.post("/api/v1/events/batch", batch, format="json")
    second = segment.post("/v1/track", track, format="json")
    third = native.post("/api/v1/events/batch", batch, format="json")

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert 1 <= int(third["Retry-After"]) <= 60


def test_sdk_client_key_requests_are_limited_per_key(workspace, rates):
    rates(sdk="2/min")
    _, sdk = api_key_create(workspace=workspace, kind=ApiKeyKind.SDK)
    client = APIClient(REMOTE_ADDR=_address())

    codes = [client.get(f"/api/features/{sdk}").status_code for _ in range(3)]

    assert codes == [200, 200, 429]


def test_wrong_tokens_are_limited_per_address_then_even_a_right_one_is_refused(editor, rates):
    rates(auth_failure="5/min")
    address = _address()
    attacker = APIClient(REMOTE_ADDR=address)

    wrong = [
        attacker.get(
            "/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer plg_pat_wrong{n}"
        ).status_code
        for n in range(5)
    ]
    after = attacker.get("/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {editor.token}")
    wrong_sdk_keys = attacker.get("/api/features/sdk-unknown")
    elsewhere = APIClient(REMOTE_ADDR=_address()).get(
        "/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {editor.token}"
    )

    assert wrong == [401] * 5
    assert after.status_code == 429
    assert after.json()["errors"]["non_field_errors"][0].startswith(TOO_MANY_FAILURES)
    assert 1 <= int(after["Retry-After"]) <= 60
    assert wrong_sdk_keys.status_code == 429
    assert elsewhere.status_code == 200


def test_unknown_sdk_keys_count_as_wrong_keys(workspace, rates):
    rates(auth_failure="3/min")
    client = APIClient(REMOTE_ADDR=_address())

    codes = [client.get(f"/api/features/sdk-guess{n}").status_code for n in range(4)]

    assert codes == [404, 404, 404, 429]


def test_wrong_ingestion_keys_sent_as_segment_write_keys_are_limited(workspace, rates):
    rates(auth_failure="2/min")
    client = APIClient(REMOTE_ADDR=_address())
    basic = "Basic " + base64.b64encode(b"plg_ing_guess:").decode()

    codes = [
        client.post("/v1/track", {}, format="json", HTTP_AUTHORIZATION=basic).status_code
        for _ in range(3)
    ]

    assert codes == [401, 401, 429]


def test_default_limits_leave_room_for_the_benchmark_and_share_one_cache(settings):
    requests, seconds = parse_rate(settings.THROTTLE_RATES["ingestion"])
    api_requests, api_seconds = parse_rate(settings.THROTTLE_RATES["api"])

    # `make bench` sends about 30 batches of 1,000 events a second with one key.
    assert requests / seconds >= 100
    assert api_requests / api_seconds >= 10
    # A cache every gunicorn worker shares: a per-process memory cache would not limit.
    assert settings.CACHES["default"]["BACKEND"] in {
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    }


def test_rates_parse_and_can_be_switched_off():
    assert parse_rate("200/s") == (200, 1)
    assert parse_rate("3000/min") == (3000, 60)
    assert parse_rate("10/h") == (10, 3600)
    assert parse_rate("off") is None
