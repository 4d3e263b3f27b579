"""Outgoing webhooks: signed JSON alerts, delivered at least once, retried with backoff.

Signing secrets and signatures live in ``webhook_signing``.

Signing secret. HMAC needs the secret itself, so it cannot be stored as a one-way hash. It is
generated here, shown to the user once (on create and on rotate), and stored encrypted with
Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from ``SECRET_KEY`` by HKDF-SHA256;
keys from ``SECRET_KEY_FALLBACKS`` still decrypt, so rotating ``SECRET_KEY`` keeps webhooks
working (rotate their secrets, then drop the fallback). A database dump alone reveals no secret.

Signature. ``X-PLG-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
Stripe's scheme: the timestamp inside the signed bytes lets receivers refuse replays
(``signature_verify`` with a tolerance). ``X-PLG-Delivery`` carries the delivery id, which
stays the same on every retry, so receivers can drop duplicates.

Delivery. One ``WebhookDelivery`` per webhook and notification. An attempt first claims the
delivery (a conditional update pushes ``next_attempt_at`` forward), so a retry task and the
beat sweep never post it twice at once; a failure schedules the next attempt with exponential
backoff, up to ``MAX_ATTEMPTS``. Redirects are not followed. Only public addresses are
posted to, checked when saved and at every attempt (``plg_platform.net``).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from experiments.models import (
    AlertKind,
    DeliveryStatus,
    Notification,
    Webhook,
    WebhookDelivery,
)
from experiments.services.queue import DELIVER_WEBHOOK, task_enqueue, task_enqueue_on_commit
from experiments.services.webhook_signing import (
    SIGNATURE_HEADER,
    secret_decrypt,
    secret_encrypt,
    signature,
)
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.net import CONNECTION_FAILED, pinned_urlopen, url_validate_public
from plg_platform.services.audit import audit_record

DELIVERY_HEADER = "X-PLG-Delivery"
EVENT_HEADER = "X-PLG-Event"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a label in front of generated secrets, not a secret
DELIVERY_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8
# 30 s, 1 min, 2 min, ... capped at 6 h: eight attempts span about four hours.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
# An attempt in flight holds its delivery this long (longer than the HTTP timeout).
ATTEMPT_LEASE_SECONDS = DELIVERY_TIMEOUT_SECONDS + 50
USER_AGENT = "plg-platform-webhooks/1"

BAD_URL_SCHEME = "Webhook URLs must start with https:// or http://."
BAD_EVENTS = "Unknown alert kind {kind!r}; expected some of: {kinds}."


# --- Webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookWithSecret:
    """A webhook and its signing secret in plain text: returned once, never stored so."""

    webhook: Webhook
    secret: str


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean_events(events: list[str]) -> list[str]:
    for kind in events:
        if kind not in AlertKind.values:
            message = BAD_EVENTS.format(kind=kind, kinds=", ".join(AlertKind.values))
            raise ValidationFailed(message, field="events")
    return list(dict.fromkeys(events))


def _check(webhook: Webhook) -> None:
    if not webhook.url.lower().startswith(("https://", "http://")):
        raise ValidationFailed(BAD_URL_SCHEME, field="url")
    url_validate_public(webhook.url, field="url")
    try:
        webhook.full_clean(exclude=["secret_encrypted"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(messages[0], field=field) from error


@transaction.atomic
def webhook_create(
    *,
    workspace: Workspace,
    url: str,
    events: list[str] | None = None,
    actor: AbstractBaseUser | None = None,
) -> WebhookWithSecret:
    """Create a webhook with a fresh signing secret (returned in plain text this once)."""
    secret = _new_secret()
    webhook = Webhook(
        workspace=workspace,
        url=url,
        events=_clean_events(events or []),
        secret_encrypted=secret_encrypt(secret),
    )
    _check(webhook)
    webhook.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="webhook.create",
        obj=webhook,
        changes={"url": url, "events": webhook.events},
    )
    return WebhookWithSecret(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    actor: AbstractBaseUser | None = None,
    url: str | None = None,
    events: list[str] | None = None,
    is_active: bool | None = None,
) -> Webhook:
    changes: dict[str, Any] = {}
    if url is not None and url != webhook.url:
        changes["url"] = webhook.url = url
    if events is not None:
        changes["events"] = webhook.events = _clean_events(events)
    if is_active is not None and is_active != webhook.is_active:
        changes["is_active"] = webhook.is_active = is_active
    if not changes:
        return webhook
    _check(webhook)
    webhook.save()
    audit_record(
        workspace=webhook.workspace,
        actor=actor,
        action="webhook.update",
        obj=webhook,
        changes=changes,
    )
    return webhook


@transaction.atomic
def webhook_rotate_secret(
    *, webhook: Webhook, actor: AbstractBaseUser | None = None
) -> WebhookWithSecret:
    """Replace the signing secret; deliveries from now on are signed with the new one."""
    secret = _new_secret()
    webhook.secret_encrypted = secret_encrypt(secret)
    webhook.save(update_fields=["secret_encrypted", "updated_at"])
    audit_record(
        workspace=webhook.workspace, actor=actor, action="webhook.rotate_secret", obj=webhook
    )
    return WebhookWithSecret(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: AbstractBaseUser | None = None) -> None:
    audit_record(
        workspace=webhook.workspace,
        actor=actor,
        action="webhook.delete",
        obj=webhook,
        changes={"url": webhook.url},
    )
    webhook.delete()


# --- Deliveries -------------------------------------------------------------------------------


def notification_body(notification: Notification) -> dict[str, Any]:
    """The JSON a webhook receives; ``text`` is ready for a Slack workflow variable."""
    experiment = notification.experiment
    return {
        "id": notification.pk,
        "type": notification.kind,
        "created_at": notification.created_at.isoformat(),
        "workspace": notification.workspace.slug,
        "experiment": (
            {"key": experiment.key, "name": experiment.name} if experiment is not None else None
        ),
        "title": notification.title,
        "body": notification.body,
        "text": f"{notification.title}\n{notification.body}".strip(),
        "data": notification.payload,
    }


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def webhook_deliveries_create(*, notification: Notification) -> list[WebhookDelivery]:
    """Create a delivery to every active webhook of the workspace that wants this kind, and
    queue each once the transaction commits."""
    now = timezone.now()
    deliveries = []
    for webhook in Webhook.objects.filter(workspace_id=notification.workspace_id, is_active=True):
        if webhook.events and notification.kind not in webhook.events:
            continue
        delivery, created = WebhookDelivery.objects.get_or_create(
            webhook=webhook, notification=notification, defaults={"next_attempt_at": now}
        )
        if created:
            deliveries.append(delivery)
    for delivery in deliveries:
        task_enqueue_on_commit(DELIVER_WEBHOOK, args=[delivery.pk])
    return deliveries


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST; return (HTTP status or None, error text or "")."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with pinned_urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except ValidationFailed as error:  # refused or unresolved: checked again at every attempt
        return None, error.message
    except (urllib.error.URLError, OSError, ValueError):
        return None, CONNECTION_FAILED  # no detail: the answer must not map ports


def backoff_seconds(attempts: int) -> float:
    """Wait before attempt ``attempts + 1``: 30 s doubling, capped at 6 h."""
    return float(min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one attempt did; ``retry_in`` seconds when another attempt is scheduled."""

    attempted: bool
    delivered: bool = False
    retry_in: float | None = None


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> DeliveryAttempt:
    """Post one delivery if it is due and nobody else is posting it; record the outcome, and
    queue the next attempt (with backoff) after a failure."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=ATTEMPT_LEASE_SECONDS))
    if not claimed:
        return DeliveryAttempt(attempted=False)
    delivery = WebhookDelivery.objects.select_related(
        "webhook", "notification__workspace", "notification__experiment"
    ).get(pk=delivery_id)
    webhook = delivery.webhook
    body = _encode(notification_body(delivery.notification))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.notification.kind,
        SIGNATURE_HEADER: signature(
            secret=secret_decrypt(webhook.secret_encrypted), timestamp=int(time.time()), body=body
        ),
    }
    status, error = _post(webhook.url, body, headers)
    attempts = delivery.attempts + 1
    finished = timezone.now()
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED,
            attempts=attempts,
            response_status=status,
            last_error="",
            delivered_at=finished,
            next_attempt_at=None,
        )
        return DeliveryAttempt(attempted=True, delivered=True)
    retry_in = backoff_seconds(attempts) if attempts < MAX_ATTEMPTS else None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING if retry_in is not None else DeliveryStatus.FAILED,
        attempts=attempts,
        response_status=status,
        last_error=error,
        next_attempt_at=finished + timedelta(seconds=retry_in) if retry_in is not None else None,
    )
    if retry_in is not None:  # the update above is committed (autocommit): queue at once
        task_enqueue(DELIVER_WEBHOOK, args=[delivery.pk], countdown=retry_in)
    return DeliveryAttempt(attempted=True, retry_in=retry_in)


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending deliveries whose next attempt is due (for the beat sweep)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_deliveries_retry_due(*, now: datetime | None = None) -> int:
    """Queue an attempt of every delivery that is due (catches retries whose task was lost);
    return how many were queued."""
    due = webhook_deliveries_due(now=now)
    for delivery_id in due:  # nothing written here, so nothing to wait for
        task_enqueue(DELIVER_WEBHOOK, args=[delivery_id])
    return len(due)


def webhook_ping(*, webhook: Webhook) -> tuple[int | None, str]:
    """Post a signed ``ping`` now (no retry, no record); return (HTTP status, error)."""
    body = _encode(
        {
            "id": None,
            "type": "ping",
            "created_at": timezone.now().isoformat(),
            "workspace": webhook.workspace.slug,
            "text": "Webhook test from the PLG platform.",
        }
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: "ping",
        SIGNATURE_HEADER: signature(
            secret=secret_decrypt(webhook.secret_encrypted), timestamp=int(time.time()), body=body
        ),
    }
    return _post(webhook.url, body, headers)
