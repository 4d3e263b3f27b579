"""The learnings library: tagged, searchable learnings from experiments and research."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def _sqlite_index_heal(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Put back the SQLite FTS triggers if a table rebuild by a later migration dropped them."""
    from learnings.search.index import sqlite_index_ensure

    sqlite_index_ensure(connections[using])


def _record_learning(experiment_id: int, actor_id: int | None) -> None:
    """Create or refresh the learning of a just-concluded experiment (in its own transaction).

    A failure is logged, not raised: the decision is already committed, and
    ``POST /api/v1/learnings/from-experiment`` records the learning again.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from experiments.models import Experiment
    from learnings.services import learning_record_from_experiment

    try:
        with transaction.atomic():
            experiment = Experiment.objects.select_related("workspace").get(pk=experiment_id)
            actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
            learning_record_from_experiment(experiment=experiment, actor=actor)
    except Exception:
        logger.exception("Could not record the learning of experiment %s", experiment_id)


class LearningsConfig(AppConfig):
    name = "learnings"

    def ready(self) -> None:
        post_migrate.connect(_sqlite_index_heal, sender=self, dispatch_uid="learnings_fts_heal")
        from experiments.hooks import on_experiment_concluded

        on_experiment_concluded(_record_learning)
