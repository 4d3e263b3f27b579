"""Alerts sent to webhooks: encrypted secrets, verifiable signatures, retries with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from experiments.models import AlertKind, DeliveryStatus, Notification, WebhookDelivery
from experiments.services.alerts import notification_create
from experiments.services.webhook_signing import SIGNATURE_HEADER, secret_decrypt, signature_verify
from experiments.services.webhooks import (
    BACKOFF_BASE_SECONDS,
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_ATTEMPTS,
    backoff_seconds,
    webhook_create,
    webhook_delivery_attempt,
    webhook_rotate_secret,
)
from experiments.tasks import deliver_webhook, retry_due_webhook_deliveries
from plg_platform.celery import app as celery_app

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP endpoint that records what it receives and answers with ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []  # (lower-case headers, body)
        self.status = 200
        self.redirect_to = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    server = Receiver()
    yield server
    server.close()


def _notify(workspace, key: str = "srm:1:1", kind: str = AlertKind.SRM) -> Notification:
    notification = notification_create(
        workspace=workspace,
        experiment=None,
        kind=kind,
        dedupe_key=key,
        title="Sample ratio mismatch in Onboarding",
        body="Do not trust these results.",
        payload={"p_value": 1e-5},
    )
    assert notification is not None
    return notification


def test_the_signing_secret_is_shown_once_and_stored_encrypted(workspace):
    created = webhook_create(workspace=workspace, url="https://hooks.example.com/x")

    stored = created.webhook.secret_encrypted
    assert created.secret.startswith("whsec_")
    assert created.secret not in stored
    assert secret_decrypt(stored) == created.secret
    rotated = webhook_rotate_secret(webhook=created.webhook)
    assert rotated.secret != created.secret
    assert secret_decrypt(rotated.webhook.secret_encrypted) == rotated.secret


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    workspace, receiver, django_capture_on_commit_callbacks
):
    created = webhook_create(workspace=workspace, url=receiver.url)
    with django_capture_on_commit_callbacks() as callbacks:
        notification = _notify(workspace)
    delivery = WebhookDelivery.objects.get(notification=notification)

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt.delivered is True
    assert len(callbacks) == 1  # the delivery task is queued once the alert commits
    ((headers, body),) = receiver.requests
    # Verify as a receiver would, with nothing but the secret and hashlib.
    timestamp, mac = (
        part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER.lower()].split(",")
    )
    expected = hmac.new(
        created.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert signature_verify(
        secret=created.secret, header=headers[SIGNATURE_HEADER.lower()], body=body
    )
    assert not signature_verify(
        secret="whsec_wrong", header=headers[SIGNATURE_HEADER.lower()], body=body
    )
    assert not signature_verify(
        secret=created.secret, header=headers[SIGNATURE_HEADER.lower()], body=body + b" "
    )
    assert headers[EVENT_HEADER.lower()] == "srm"
    assert headers[DELIVERY_HEADER.lower()] == str(delivery.pk)
    payload = json.loads(body)
    assert payload["type"] == "srm"
    assert payload["text"] == "Sample ratio mismatch in Onboarding\nDo not trust these results."
    assert payload["data"] == {"p_value": 1e-5}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )


def test_an_old_signature_is_refused():
    secret = "whsec_test"
    header = f"t=1000,v1={hmac.new(secret.encode(), b'1000.{}', hashlib.sha256).hexdigest()}"

    assert signature_verify(secret=secret, header=header, body=b"{}", now=1000 + 299)
    assert not signature_verify(secret=secret, header=header, body=b"{}", now=1000 + 301)


def test_failed_deliveries_are_retried_with_backoff_then_given_up(workspace, receiver):
    webhook_create(workspace=workspace, url=receiver.url)
    receiver.status = 503
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))

    first = webhook_delivery_attempt(delivery_id=delivery.pk)
    too_soon = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert (first.attempted, first.delivered, first.retry_in) == (True, False, 30.0)
    assert too_soon.attempted is False  # not due yet: nothing is posted twice
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        "HTTP 503",
    )
    assert [backoff_seconds(n) for n in range(1, 5)] == [
        BACKOFF_BASE_SECONDS * f for f in (1, 2, 4, 8)
    ]
    later = timezone.now()
    for _ in range(MAX_ATTEMPTS - 1):
        later += timedelta(hours=7)
        webhook_delivery_attempt(delivery_id=delivery.pk, now=later)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_redirects_are_not_followed(workspace, receiver):
    webhook_create(workspace=workspace, url=receiver.url)
    receiver.status, receiver.redirect_to = 302, "http://169.254.169.254/latest/meta-data"
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt.delivered is False
    delivery.refresh_from_db()
    assert (delivery.response_status, delivery.last_error) == (302, "HTTP 302")


def test_webhooks_receive_only_the_kinds_they_asked_for(workspace):
    webhook_create(workspace=workspace, url="https://a.example.com", events=["srm"])
    webhook_create(workspace=workspace, url="https://b.example.com")

    _notify(workspace, "srm:1", AlertKind.SRM)
    _notify(workspace, "sig:1", AlertKind.SIGNIFICANT_RESULT)

    pairs = sorted(WebhookDelivery.objects.values_list("webhook__url", "notification__kind"))
    assert pairs == [
        ("https://a.example.com", "srm"),
        ("https://b.example.com", "significant_result"),
        ("https://b.example.com", "srm"),
    ]
    # The same alert raised again is deduplicated: no new notification, no new delivery.
    assert (
        notification_create(
            workspace=workspace, experiment=None, kind="srm", dedupe_key="srm:1", title="again"
        )
        is None
    )
    assert WebhookDelivery.objects.count() == 3


def test_delivery_tasks_retry_and_the_sweep_picks_up_due_deliveries(workspace, receiver):
    webhook_create(workspace=workspace, url=receiver.url)
    receiver.status = 500
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        # Eagerly, the retry scheduled by the failed attempt runs at once and finds the
        # delivery not yet due; the sweep later finds it due and delivers it.
        assert deliver_webhook.apply(args=[delivery.pk]).get() is False
        receiver.status = 200
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert retry_due_webhook_deliveries.apply().get() == 1
    finally:
        celery_app.conf.task_always_eager = previous

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.requests) == 2
