"""The learnings library: tagged, searchable learnings from experiments and research."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _sqlite_index_heal(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Put back the SQLite FTS triggers if a table rebuild by a later migration dropped them."""
    from learnings.search.index import sqlite_index_ensure

    sqlite_index_ensure(connections[using])


class LearningsConfig(AppConfig):
    name = "learnings"

    def ready(self) -> None:
        post_migrate.connect(_sqlite_index_heal, sender=self, dispatch_uid="learnings_fts_heal")
        from experiments.holdouts.contracts import register_shipped_estimates_provider
        from learnings import receivers  # noqa: F401 - registers the receivers on import
        from learnings.selectors import shipped_estimates_for

        # A holdout report sets the shipped experiments' shrunk lifts beside its measurement.
        register_shipped_estimates_provider(shipped_estimates_for)

        # Outcomes lives below learnings and never imports it: it asks registered providers
        # what the running experiments would add to a key result (docs/outcomes.md).
        from learnings.contributions import key_result_expected_contributions
        from outcomes.okrs.contracts import register_contributions_provider

        register_contributions_provider(key_result_expected_contributions)
