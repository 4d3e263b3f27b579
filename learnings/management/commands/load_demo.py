"""``manage.py load_demo [--port 8000]``: set up the demo workspace, idempotently.

Creates (or reuses) the demo workspace, its login user and keys, generates the demo product
data if it is not complete yet, defines the demo metrics, then (``learnings.demo``) the KPI
settings and cache, the two planted experiments with their analyses (one concluded, with its
learning), an objective with key results and check-ins, and a few manual learnings; prints
what it made, the URL and the login. Running it again changes nothing. It lives in
``learnings``, the top layer, because it uses every app's services.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import salted_hmac

from learnings.demo import demo_content_load
from metrics.public import KEY_TAKEN, Direction, MetricKind, UnitOfAnalysis, metric_create
from plg_platform.demo.config import DEFAULT_SEED, DEFAULT_USERS, DemoConfig
from plg_platform.demo.writer import demo_data_write_with_progress, workspace_data_counts
from plg_platform.errors import ValidationFailed
from plg_platform.models import ApiKeyKind, Membership, Role, Workspace
from plg_platform.services.workspaces import membership_set, user_get_or_create, workspace_create

DEMO_WORKSPACE_NAME = "Inkwell demo"
DEMO_WORKSPACE_SLUG = "inkwell-demo"
DEMO_EMAIL = "demo@example.com"
DEMO_USERS = DEFAULT_USERS
DEMO_DAYS = 180
LOGIN_HMAC_SALT = "learnings.load_demo.password"


@dataclass(frozen=True)
class DemoMetric:
    key: str
    name: str
    spec: dict[str, Any]
    kind: str = MetricKind.VALUE_CREATION
    direction: str = Direction.INCREASE
    unit: str = UnitOfAnalysis.USER


def _retention(day: int) -> DemoMetric:
    return DemoMetric(
        f"retention-d{day}",
        f"Day-{day} retention (any event)",
        {"type": "retention", "retention_start_day": day, "tags": ["retention"]},
    )


DEMO_METRICS = (
    DemoMetric(
        "setup-1d",
        "Setup: workspace set up within a day",
        {"type": "moment", "event": "workspace_setup", "window_days": 1, "tags": ["activation"]},
    ),
    DemoMetric(
        "aha-7d",
        "Aha: first document within 7 days",
        {
            "type": "conversion",
            "event": "document_created",
            "window_days": 7,
            "tags": ["activation", "acquisition"],
        },
    ),
    DemoMetric(
        "first-share-7d",
        "Shared a document within 7 days",
        {
            "type": "conversion",
            "event": "document_shared",
            "window_days": 7,
            "tags": ["activation"],
        },
    ),
    DemoMetric(
        "activation-funnel-14d",
        "Activation funnel: document, shared, teammate invited (14 days)",
        {
            "type": "funnel",
            "window_days": 14,
            "steps": [
                {"event": "document_created", "name": "Created a document"},
                {"event": "document_shared", "name": "Shared a document"},
                {"event": "invite_sent", "name": "Invited a teammate"},
            ],
            "tags": ["activation"],
        },
    ),
    DemoMetric(
        "eureka-14d",
        "Eureka: a collaborator joined within 14 days",
        {
            "type": "moment",
            "event": "collaborator_joined",
            "window_days": 14,
            "tags": ["activation", "referral"],
        },
    ),
    DemoMetric(
        "habit-30d",
        "Habit: 20+ documents on 8+ days within 30 days",
        {
            "type": "moment",
            "event": "document_created",
            "window_days": 30,
            "min_count": 20,
            "min_distinct_days": 8,
            "tags": ["retention"],
        },
    ),
    _retention(1),
    _retention(7),
    _retention(30),
    DemoMetric(
        "time-to-value",
        "Time to first document (30-day window)",
        {
            "type": "time_to_event",
            "event": "document_created",
            "window_days": 30,
            "tags": ["activation"],
        },
        direction=Direction.DECREASE,
    ),
    DemoMetric(
        "time-to-value-p75",
        "Time to first document (7-day window)",
        {
            "type": "quantile",
            "event": "document_created",
            "window_days": 7,
            "quantile": 0.75,
            "quantile_of": "unit",
            "tags": ["activation"],
        },
        direction=Direction.DECREASE,
    ),
    DemoMetric(
        "documents-30d",
        "Documents created per user in 30 days",
        {
            "type": "count",
            "event": "document_created",
            "window_days": 30,
            "cap_type": "percentile",
            "cap_value": 0.99,
            "tags": ["engagement"],
        },
    ),
    DemoMetric(
        "shares-per-session-30d",
        "Shares per session in 30 days",
        {
            "type": "ratio",
            "event": "document_shared",
            "denominator_event": "session_start",
            "window_days": 30,
            "tags": ["engagement"],
        },
    ),
    DemoMetric(
        "invites-14d",
        "Invites sent per user in 14 days",
        {
            "type": "count",
            "event": "invite_sent",
            "window_days": 14,
            "tags": ["referral", "acquisition"],
        },
    ),
    DemoMetric(
        "upgrade-30d",
        "Upgraded to a paid plan within 30 days",
        {"type": "conversion", "event": "upgrade", "window_days": 30, "tags": ["revenue"]},
        kind=MetricKind.VALUE_CAPTURE,
    ),
    DemoMetric(
        "revenue-90d",
        "Revenue (ARR booked) per user in 90 days",
        {
            "type": "sum",
            "event": "upgrade",
            "property": "amount",
            "window_days": 90,
            "tags": ["revenue"],
        },
        kind=MetricKind.VALUE_CAPTURE,
    ),
    DemoMetric(
        "account-revenue-90d",
        "Revenue (ARR booked) per account in 90 days",
        {
            "type": "sum",
            "event": "upgrade",
            "property": "amount",
            "window_days": 90,
            "unit_property": "account_id",
            "tags": ["revenue"],
        },
        kind=MetricKind.VALUE_CAPTURE,
        unit=UnitOfAnalysis.ACCOUNT,
    ),
    DemoMetric(
        "nps-score-90d",
        "NPS answer (0-10), mean over answers in 90 days",
        {
            "type": "mean",
            "event": "nps_response",
            "property": "score",
            "window_days": 90,
            "tags": ["satisfaction"],
        },
    ),
    DemoMetric(
        "nps-promoter-90d",
        "NPS promoter (answered 9 or 10) within 90 days",
        {
            "type": "conversion",
            "event": "nps_response",
            "window_days": 90,
            "filters": [{"property": "score", "op": "gte", "value": 9}],
            "tags": ["satisfaction"],
        },
    ),
    DemoMetric(
        "nps-detractor-90d",
        "NPS detractor (answered 0 to 6) within 90 days",
        {
            "type": "conversion",
            "event": "nps_response",
            "window_days": 90,
            "filters": [{"property": "score", "op": "lte", "value": 6}],
            "tags": ["satisfaction"],
        },
        direction=Direction.DECREASE,
    ),
    DemoMetric(
        "unsubscribe-7d",
        "Unsubscribed from notifications within 7 days (guardrail)",
        {
            "type": "conversion",
            "event": "notifications_unsubscribed",
            "window_days": 7,
            "tags": ["guardrail"],
        },
        direction=Direction.DECREASE,
    ),
)


def demo_password(email: str) -> str:
    """Return this installation's demo password: derived from SECRET_KEY, so it can be printed
    on every run while only its hash is stored, and differs between installations."""
    digest = salted_hmac(LOGIN_HMAC_SALT, email.lower(), algorithm="sha256").hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


class Command(BaseCommand):
    help = "Create (or reuse) the demo workspace with data, metrics and a login; print the URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port the web server uses.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--users", type=int, default=DEMO_USERS)
        parser.add_argument("--days", type=int, default=DEMO_DAYS)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        workspace, owner, new_keys = self._workspace()
        password = self._login(workspace, owner)
        self._data(workspace, options)
        created = self._metrics(workspace, owner)
        demo_content_load(workspace=workspace, actor=owner, say=self.stdout.write)
        self._report(workspace, password, new_keys, created, options, time.perf_counter() - started)

    def _workspace(self) -> tuple[Workspace, AbstractBaseUser, dict[str, str] | None]:
        workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
        if workspace is None:
            created = workspace_create(name=DEMO_WORKSPACE_NAME, owner_email=DEMO_EMAIL)
            keys = created.as_json()
            self.stdout.write(f"Created the workspace {created.workspace.slug!r}.")
            return created.workspace, created.owner, keys
        owner = user_get_or_create(email=DEMO_EMAIL)
        membership = Membership.objects.filter(workspace=workspace, user=owner).first()
        if membership is None or membership.role != Role.ADMIN:
            membership_set(workspace=workspace, user=owner, role=Role.ADMIN, actor=None)
        self.stdout.write(f"Reusing the workspace {workspace.slug!r}.")
        return workspace, owner, None

    def _login(self, workspace: Workspace, owner: AbstractBaseUser) -> str:
        password = demo_password(DEMO_EMAIL)
        if not owner.check_password(password):
            owner.set_password(password)
            owner.save(update_fields=["password"])
        return password

    def _data(self, workspace: Workspace, options: dict[str, Any]) -> None:
        have, _ = workspace_data_counts(workspace=workspace)
        if have >= options["users"]:
            self.stdout.write(f"Demo data already there ({have} users); not generating.")
            return
        # The data set ends when the workspace was made, so a rerun (say, to finish an
        # interrupted load) regenerates exactly the same events and stores only the missing.
        end = workspace.created_at.replace(second=0, microsecond=0)
        config = DemoConfig(
            users=options["users"], days=options["days"], seed=options["seed"], end=end
        )
        self.stdout.write(
            f"Generating {config.users} users over {config.days} days up to {_day(end)} "
            f"(seed {config.seed})..."
        )
        written = demo_data_write_with_progress(
            workspace=workspace, config=config, batch_size=5000, show=not options["no_progress"]
        )
        self.stdout.write(
            f"Stored {written.events_accepted:,} events for {written.users:,} users in "
            f"{written.seconds:.1f} s."
        )

    def _metrics(self, workspace: Workspace, owner: AbstractBaseUser) -> int:
        created = 0
        for metric in DEMO_METRICS:
            try:
                metric_create(
                    workspace=workspace,
                    key=metric.key,
                    name=metric.name,
                    spec=metric.spec,
                    kind=metric.kind,
                    direction=metric.direction,
                    unit=metric.unit,
                    actor=owner,
                )
            except ValidationFailed as exc:
                if exc.field == "key" and exc.message == KEY_TAKEN.format(key=metric.key):
                    continue  # defined by an earlier run
                raise
            created += 1
        return created

    def _report(self, workspace, password, new_keys, created_metrics, options, seconds) -> None:
        url = f"http://{options['host']}:{options['port']}/"
        users, events = workspace_data_counts(workspace=workspace)
        keys = workspace.api_keys.filter(revoked_at__isnull=True).count()
        rule = "=" * 64
        lines = [
            rule,
            f"  Demo workspace {workspace.name!r} ({workspace.slug}): {users:,} users, "
            f"{events:,} events, {len(DEMO_METRICS)} metrics ({created_metrics} new).",
            f"  Open   {url}",
            f"  E-mail {DEMO_EMAIL}",
            f"  Password {password}",
        ]
        if new_keys:
            lines += [
                "  Keys (shown once, only their hashes are stored):",
                f"    ingestion key  {new_keys['ingestion_key']}",
                f"    API token      {new_keys['api_token']}",
                f"    SDK client key {new_keys['sdk_client_key']}",
            ]
        else:
            kinds = ", ".join(ApiKeyKind.values)
            lines.append(f"  {keys} active keys ({kinds}); secrets were shown when created.")
        lines += [f"  Ready in {seconds:.1f} s.", rule]
        self.stdout.write("\n".join(lines))


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
