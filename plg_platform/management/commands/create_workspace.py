"""``manage.py create_workspace NAME --owner EMAIL``: print the workspace and its keys as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plg_platform.errors import DomainError
from plg_platform.services.workspaces import workspace_create


class Command(BaseCommand):
    help = "Create a workspace owned by EMAIL and print its keys (shown once) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="E-mail of the owner (created if new).")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **options) -> None:
        try:
            created = workspace_create(
                name=options["name"], owner_email=options["owner"], timezone=options["timezone"]
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        self.stdout.write(json.dumps(created.as_json()))
