"""Webhooks never reach private, loopback, link-local or metadata addresses: not when saved,
not when delivered (DNS rebinding), and the ping cannot map ports behind the server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from experiments.models import DeliveryStatus, Webhook, WebhookDelivery
from experiments.services.webhooks import (
    secret_encrypt,
    webhook_create,
    webhook_delivery_attempt,
)
from plg_platform.net import CONNECTION_FAILED, TARGET_REFUSED
from tests.experiments.test_exp_health_webhooks import Receiver, _notify

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://0.0.0.0:6379/",
    "http://10.0.0.5/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/hook",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def rebinding_dns(monkeypatch) -> list[list[str]]:
    """``rebind.test`` answers, in turn, the addresses queued in the returned list."""
    answers: list[list[str]] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _stored(workspace, url: str) -> Webhook:
    """A webhook saved before these checks (or while the switch was on)."""
    return Webhook.objects.create(
        workspace=workspace, url=url, secret_encrypted=secret_encrypt("s")
    )


@pytest.mark.parametrize("url", REFUSED)
def test_creating_a_webhook_to_a_private_target_is_a_400_naming_url(admin_actor, url):
    response = admin_actor.client.post("/api/v1/webhooks/", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"url": [TARGET_REFUSED]}
    assert not Webhook.objects.exists()


def test_moving_a_webhook_to_a_private_target_is_a_400_and_changes_nothing(admin_actor):
    created = admin_actor.client.post(
        "/api/v1/webhooks/", {"url": "https://hooks.example.com/x"}, format="json"
    ).json()

    response = admin_actor.client.patch(
        f"/api/v1/webhooks/{created['id']}/",
        {"url": "http://169.254.169.254/latest/meta-data/"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"url": [TARGET_REFUSED]}
    assert Webhook.objects.get().url == "https://hooks.example.com/x"


def test_the_switch_allows_internal_receivers(admin_actor, settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    created = admin_actor.client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    ping = admin_actor.client.post(f"/api/v1/webhooks/{created.json()['id']}/ping")

    assert created.status_code == 201
    assert ping.json() == {"delivered": True, "response_status": 200, "error": ""}
    assert len(receiver.requests) == 1


def test_a_stored_private_target_is_refused_at_delivery(workspace, receiver):
    _stored(workspace, receiver.url)
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (attempt.attempted, attempt.delivered) == (True, False)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.PENDING, TARGET_REFUSED)
    assert receiver.requests == []


def test_dns_rebinding_after_the_check_does_not_reach_the_private_address(
    workspace, receiver, rebinding_dns
):
    port = receiver.server.server_address[1]
    # Public when saved and when checked before the delivery; loopback on any later lookup.
    rebinding_dns.extend([["93.184.216.34"], ["93.184.216.34"], ["127.0.0.1"]])
    webhook_create(workspace=workspace, url=f"http://rebind.test:{port}/hook")
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt.delivered is False
    assert receiver.requests == []  # the connection went to the checked address, not 127.0.0.1


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(
    workspace, settings, receiver, rebinding_dns
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    port = receiver.server.server_address[1]
    # Checked answer 127.0.0.1 (allowed by the switch); a second lookup would say 10.255.255.1.
    rebinding_dns.extend([["127.0.0.1"], ["127.0.0.1"], ["10.255.255.1"]])
    webhook_create(workspace=workspace, url=f"http://rebind.test:{port}/hook")
    delivery = WebhookDelivery.objects.get(notification=_notify(workspace))

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt.delivered is True
    [(headers, _body)] = receiver.requests
    assert headers["host"] == f"rebind.test:{port}"


def test_ping_is_not_a_port_scanner(admin_actor, receiver):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    urls = [
        receiver.url,  # an open port
        f"http://127.0.0.1:{closed_port}/hook",  # a closed one
        "http://10.255.255.1:22/",  # an unroutable one (would time out)
        "http://169.254.169.254/latest/meta-data/",
    ]
    answers = []
    for url in urls:
        webhook = _stored(admin_actor.workspace, url)
        response = admin_actor.client.post(f"/api/v1/webhooks/{webhook.pk}/ping")
        answers.append((response.status_code, response.json()))

    refused = (200, {"delivered": False, "response_status": None, "error": TARGET_REFUSED})
    assert answers == [refused] * len(urls)
    assert receiver.requests == []


def test_a_failed_connection_gives_no_detail_about_the_port(admin_actor, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    webhook = _stored(admin_actor.workspace, f"http://127.0.0.1:{closed_port}/hook")

    response = admin_actor.client.post(f"/api/v1/webhooks/{webhook.pk}/ping")

    assert response.json() == {
        "delivered": False,
        "response_status": None,
        "error": CONNECTION_FAILED,
    }


def test_a_name_with_any_private_answer_is_refused(admin_actor, rebinding_dns):
    rebinding_dns.append(["93.184.216.34", "127.0.0.1"])

    response = admin_actor.client.post(
        "/api/v1/webhooks/", {"url": "http://rebind.test/hook"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"url": [TARGET_REFUSED]}
