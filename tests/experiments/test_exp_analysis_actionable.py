"""Analyses a team can act on: exposures merged at refresh time, maturity of new experiments,
cumulative lift by day of first exposure, and the decision line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Experiment, Exposure
from experiments.services.analysis.run import experiment_analyze
from experiments.services.exposures import EXPOSURE_EVENT
from plg_platform.services.ingestion import events_ingest
from tests.experiments.test_exp_analysis_support import generate, planted_experiment

pytestmark = pytest.mark.django_db


def test_a_refresh_right_after_exposures_arrive_analyses_them(workspace):
    """$exposure events received seconds ago are merged before the analysis (not 120 s later),
    and the sync watermark still stops at the settled events."""
    data = generate(units_per_variant=(3, 2))
    experiment = planted_experiment(workspace, data, write_data=False)
    now = timezone.now()
    experiment.phases.update(started_at=now - timedelta(days=1))
    variants = ["control", "control", "control", "treatment", "treatment"]
    events_ingest(
        workspace=workspace,
        raw_events=[
            {
                "event": EXPOSURE_EVENT,
                "distinct_id": f"fresh-{i}",
                "timestamp": (now - timedelta(minutes=5)).isoformat(),
                "properties": {"experiment": experiment.key, "variant": variant},
            }
            for i, variant in enumerate(variants)
        ],
    )

    computed = experiment_analyze(experiment=experiment, cutoff=now + timedelta(seconds=1))

    assert Exposure.objects.filter(experiment=experiment).count() == 5
    primary = computed.outputs.primary
    assert primary is not None
    exposed = {v.variant: v.units + v.immature_units for v in primary.variants}
    assert exposed == {"control": 3, "treatment": 2}
    # The watermark did not pass events that may still be settling.
    assert Experiment.objects.get(pk=experiment.pk).exposures_synced_through_event_id == 0
