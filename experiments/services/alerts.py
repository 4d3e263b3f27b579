"""Alerts raised by an analysis: in-app notifications, and webhooks for those who want them.

Every alert has a dedupe key (unique per workspace), so a condition that holds on every
refresh notifies once: an SRM or a multiple-exposure warning once per phase, a harmed
guardrail or a significant result once per phase, metric, variant and direction.

Results are noisy on the first days: significance and guardrail-harm alerts wait until the
phase has run ``Experiment.min_days_for_alerts`` days and every variant of the metric has
``min_units_for_alerts`` units (SRM and multiple exposures point at broken plumbing, whose
evidence does not get better with waiting, so they alert at once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from experiments.contracts import AnalysisOutputs, Health
from experiments.models import (
    AlertKind,
    Experiment,
    MetricRole,
    Notification,
    ResultSnapshot,
)
from experiments.services.webhooks import webhook_deliveries_create
from plg_platform.models import Workspace

SRM_TITLE = "Sample ratio mismatch in {experiment}"
MULTIPLE_EXPOSURES_TITLE = "Many units saw more than one variant in {experiment}"
GUARDRAIL_TITLE = "{variant} harms {metric} in {experiment}"
WIN_TITLE = "{variant} is winning on {metric} in {experiment}"
LOSS_TITLE = "{variant} is losing on {metric} in {experiment}"


def notification_create(
    *,
    workspace: Workspace,
    experiment: Experiment | None,
    kind: str,
    dedupe_key: str,
    title: str,
    body: str = "",
    payload: dict[str, Any] | None = None,
) -> Notification | None:
    """Create the notification unless one with its dedupe key exists; return it if new.

    New notifications are also queued for the workspace's webhooks (after commit).
    """
    if Notification.objects.filter(workspace=workspace, dedupe_key=dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                workspace=workspace,
                experiment=experiment,
                kind=kind,
                dedupe_key=dedupe_key[:200],
                title=title[:300],
                body=body,
                payload=payload or {},
            )
    except IntegrityError:  # a concurrent analysis raised the same alert first
        return None
    webhook_deliveries_create(notification=notification)
    return notification


def _alerts_allowed(experiment: Experiment, snapshot: ResultSnapshot, units: int) -> bool:
    """Whether significance-type alerts may fire: enough days in the phase, enough units."""
    started: datetime = snapshot.phase.started_at
    days = (snapshot.data_cutoff - started).total_seconds() / 86_400
    return days >= experiment.min_days_for_alerts and units >= experiment.min_units_for_alerts


def _payload(snapshot: ResultSnapshot, **extra: Any) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot.pk,
        "phase": snapshot.phase.number,
        "data_cutoff": snapshot.data_cutoff.isoformat(),
        **extra,
    }


def _health_alerts(
    experiment: Experiment, snapshot: ResultSnapshot, health: Health
) -> list[Notification]:
    phase = snapshot.phase.number
    created = []
    srm = health.srm
    if srm is not None and srm.flag:
        banner = health.banner("srm")
        created.append(
            notification_create(
                workspace=experiment.workspace,
                experiment=experiment,
                kind=AlertKind.SRM,
                dedupe_key=f"srm:{experiment.pk}:{phase}",
                title=SRM_TITLE.format(experiment=experiment.name),
                body=banner.message if banner is not None else "",
                payload=_payload(snapshot, p_value=srm.p_value, counts=srm.counts),
            )
        )
    multiple = health.multiple_exposures
    if multiple is not None and multiple.warn:
        banner = health.banner("multiple_exposures")
        created.append(
            notification_create(
                workspace=experiment.workspace,
                experiment=experiment,
                kind=AlertKind.MULTIPLE_EXPOSURES,
                dedupe_key=f"multiple-exposures:{experiment.pk}:{phase}",
                title=MULTIPLE_EXPOSURES_TITLE.format(experiment=experiment.name),
                body=banner.message if banner is not None else "",
                payload=_payload(snapshot, share=multiple.share),
            )
        )
    return [n for n in created if n is not None]


def _guardrail_alerts(
    experiment: Experiment, snapshot: ResultSnapshot, outputs: AnalysisOutputs, health: Health
) -> list[Notification]:
    phase = snapshot.phase.number
    created = []
    for result in health.guardrails.results if health.guardrails is not None else ():
        metric = outputs.metric(result.metric)
        units = metric.smallest_n if metric is not None else 0
        if not result.harmful or not _alerts_allowed(experiment, snapshot, units):
            continue
        notification = notification_create(
            workspace=experiment.workspace,
            experiment=experiment,
            kind=AlertKind.GUARDRAIL_HARM,
            dedupe_key=f"guardrail:{experiment.pk}:{phase}:{result.metric}:{result.variant}",
            title=GUARDRAIL_TITLE.format(
                variant=result.variant, metric=result.name, experiment=experiment.name
            ),
            body=next(
                (
                    b.message
                    for b in health.banners
                    if b.check == "guardrail" and result.name in b.message
                ),
                "",
            ),
            payload=_payload(snapshot, **result.to_json()),
        )
        if notification is not None:
            created.append(notification)
    return created


def _significance_alerts(
    experiment: Experiment, snapshot: ResultSnapshot, outputs: AnalysisOutputs
) -> list[Notification]:
    phase = snapshot.phase.number
    created = []
    for metric in outputs.metrics:
        if metric.role not in (MetricRole.PRIMARY, MetricRole.SECONDARY):
            continue
        if not _alerts_allowed(experiment, snapshot, metric.smallest_n):
            continue
        for c in metric.comparisons:
            if c.verdict not in ("win", "loss"):
                continue
            template = WIN_TITLE if c.verdict == "win" else LOSS_TITLE
            notification = notification_create(
                workspace=experiment.workspace,
                experiment=experiment,
                kind=AlertKind.SIGNIFICANT_RESULT,
                dedupe_key=(
                    f"significant:{experiment.pk}:{phase}:{metric.key}:{c.variant}:{c.verdict}"
                ),
                title=template.format(
                    variant=c.variant, metric=metric.name, experiment=experiment.name
                ),
                body=c.summary,
                payload=_payload(
                    snapshot,
                    metric=metric.key,
                    role=metric.role,
                    variant=c.variant,
                    verdict=c.verdict,
                    effect=c.effect,
                    ci_low=c.ci_low,
                    ci_high=c.ci_high,
                    p_value=c.p_value,
                    chance_to_win=c.chance_to_win,
                ),
            )
            if notification is not None:
                created.append(notification)
    return created


def alerts_for_snapshot(*, experiment: Experiment, snapshot: ResultSnapshot) -> list[Notification]:
    """Raise every alert the snapshot calls for; return the notifications that are new."""
    outputs = AnalysisOutputs.from_json(snapshot.outputs)
    health = Health.from_json(snapshot.health)
    return [
        *_health_alerts(experiment, snapshot, health),
        *_guardrail_alerts(experiment, snapshot, outputs, health),
        *_significance_alerts(experiment, snapshot, outputs),
    ]


# --- Marking as read ---------------------------------------------------------------------------


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, workspace: Workspace) -> int:
    return Notification.objects.filter(workspace=workspace, read_at__isnull=True).update(
        read_at=timezone.now()
    )
