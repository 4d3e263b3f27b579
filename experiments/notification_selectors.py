"""Read queries of notifications, webhooks and their deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from experiments.models import Notification, Webhook, WebhookDelivery
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

NOTIFICATION_NOT_FOUND = "No notification {id} in this workspace."
WEBHOOK_NOT_FOUND = "No webhook {id} in this workspace."


def notifications_list(
    *, workspace: Workspace, unread: bool | None = None, experiment_key: str | None = None
) -> QuerySet[Notification]:
    queryset = Notification.objects.filter(workspace=workspace).select_related("experiment")
    if unread is True:
        queryset = queryset.filter(read_at__isnull=True)
    elif unread is False:
        queryset = queryset.filter(read_at__isnull=False)
    if experiment_key:
        queryset = queryset.filter(experiment__key=experiment_key)
    return queryset.order_by("-created_at", "-id")


def notification_get(*, workspace: Workspace, notification_id: int) -> Notification:
    notification = (
        Notification.objects.filter(workspace=workspace, pk=notification_id)
        .select_related("experiment")
        .first()
    )
    if notification is None:
        raise NotFound(NOTIFICATION_NOT_FOUND.format(id=notification_id), field="id")
    return notification


def webhooks_list(*, workspace: Workspace) -> QuerySet[Webhook]:
    return Webhook.objects.filter(workspace=workspace).order_by("-created_at", "-id")


def webhook_get(*, workspace: Workspace, webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(workspace=workspace, pk=webhook_id).first()
    if webhook is None:
        raise NotFound(WEBHOOK_NOT_FOUND.format(id=webhook_id), field="id")
    return webhook


def webhook_deliveries_list(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return webhook.deliveries.select_related("notification").order_by("-created_at", "-id")
