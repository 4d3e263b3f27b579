"""What learnings does when something happens below it: a concluded experiment leaves a learning.

Experiments cannot import learnings (it sits below), so it offers hooks
(``experiments.hooks``) that run after the concluding transaction commits; this module
registers learnings' receiver on import, and ``LearningsConfig.ready`` imports it.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from experiments.hooks import on_experiment_concluded
from experiments.models import Experiment
from learnings.services.from_experiment import learning_record_from_experiment

logger = logging.getLogger(__name__)


@on_experiment_concluded
def record_learning(experiment_id: int, actor_id: int | None) -> None:
    """Create or refresh the learning of a just-concluded experiment (in its own transaction).

    A failure is logged, not raised: the decision is already committed, and
    ``POST /api/v1/learnings/from-experiment`` records the learning again.
    """
    try:
        with transaction.atomic():
            experiment = Experiment.objects.select_related("workspace").get(pk=experiment_id)
            actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
            learning_record_from_experiment(experiment=experiment, actor=actor)
    except Exception:
        logger.exception("Could not record the learning of experiment %s", experiment_id)
