"""The cached lists of the KPI library: product-qualified leads and feature requests, each
replaced whole from one statement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction

from metrics.public import Engine
from outcomes.kpis.compute import engine_for, execute
from outcomes.kpis.models import FeatureRequest, KpiSettings, PqlUnit, ProductQualifiedLead
from outcomes.kpis.queries.leads import feature_request_query, pql_query
from plg_platform.clock import DAY_US, epoch_us


# --- cached lists: product-qualified leads and feature requests -------------------------------
def _at(us: int | None) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us or 0))


def pqls_refresh(
    *, settings: KpiSettings, now: datetime, using: str = "default", engine: Engine | None = None
) -> int:
    """Replace the workspace's PQL list: units with at least K PQL events in the last D days
    (computed on ``engine``, by default the app database ``using``)."""
    leads: list[ProductQualifiedLead] = []
    if settings.pql_event:
        engine = engine_for(engine, using)
        cutoff_us = epoch_us(now)
        account = settings.account_property if settings.pql_unit == PqlUnit.ACCOUNT else ""
        rows = execute(
            pql_query(
                dialect=engine.dialect,
                workspace_id=settings.workspace_id,
                event=settings.pql_event,
                min_count=settings.pql_min_count,
                since_us=cutoff_us - settings.pql_window_days * DAY_US,
                cutoff_us=cutoff_us,
                account_property=account,
                arr_property=settings.arr_property,
                plan_property=settings.plan_property,
            ),
            engine=engine,
        )
        leads = [
            ProductQualifiedLead(
                workspace_id=settings.workspace_id,
                unit_type=settings.pql_unit,
                unit_id=str(r["unit_id"])[:200],
                event_count=int(r["event_count"]),
                users=int(r["users"]),
                first_event_at=_at(r["first_us"]),
                last_event_at=_at(r["last_us"]),
                qualified_at=_at(r["qualified_us"]),
                plan=str(r["plan"] or "")[:200],
                arr=float(r["arr"]) if r["arr"] is not None else None,
                computed_at=now,
            )
            for r in rows
        ]
    with transaction.atomic():
        ProductQualifiedLead.objects.filter(workspace_id=settings.workspace_id).delete()
        ProductQualifiedLead.objects.bulk_create(leads, batch_size=2000)
    return len(leads)


def feature_requests_refresh(
    *, settings: KpiSettings, now: datetime, using: str = "default", engine: Engine | None = None
) -> int:
    """Replace the workspace's feature requests of the last feedback window (computed on
    ``engine``, by default the app database ``using``)."""
    requests: list[FeatureRequest] = []
    if settings.feedback_event and settings.feedback_property:
        engine = engine_for(engine, using)
        cutoff_us = epoch_us(now)
        rows = execute(
            feature_request_query(
                dialect=engine.dialect,
                workspace_id=settings.workspace_id,
                event=settings.feedback_event,
                text_property=settings.feedback_property,
                since_us=cutoff_us - settings.feedback_window_days * DAY_US,
                cutoff_us=cutoff_us,
                account_property=settings.account_property,
                arr_property=settings.arr_property,
                topics=[(t["topic"], t["keywords"]) for t in settings.feedback_topics],
            ),
            engine=engine,
        )
        by_key: dict[str, FeatureRequest] = {}
        for r in rows:  # most valuable first
            key = str(r["request"])[:500]
            # Requests longer than the column that share its first characters are one row.
            by_key.setdefault(
                key,
                FeatureRequest(
                    workspace_id=settings.workspace_id,
                    request=key,
                    text=str(r["text"])[:500],
                    requests=int(r["requests"]),
                    accounts=int(r["accounts"]),
                    arr=float(r["arr"] or 0.0),
                    first_requested_at=_at(r["first_us"]),
                    last_requested_at=_at(r["last_us"]),
                    computed_at=now,
                ),
            )
        requests = list(by_key.values())
    with transaction.atomic():
        FeatureRequest.objects.filter(workspace_id=settings.workspace_id).delete()
        FeatureRequest.objects.bulk_create(requests, batch_size=2000)
    return len(requests)
