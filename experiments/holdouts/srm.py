"""Exposures of held-out units: left out of the SRM check and of the analysed population.

A held-out unit gets no variant while its holdout runs, so it should never be exposed. Yet
``$exposure`` events of held-out units do arrive: a client that logs "the variant shown" logs
the default experience (usually the control's) for them, and a client with a payload cached
from before the holdout started assigns them as before. The first kind all land in one
variant: counted, they push the control up by the holdout's share and the SRM check (p < 0.001)
flags a mismatch that assignment never made. So the phase's counts leave out every exposure of
a held-out unit made inside a holdout's period (exposures before it started or after it ended
are ordinary), and the expected counts are the weights over that non-holdout traffic.

The same units are left out of the results: they saw no variant (or the wrong one), and the
holdout must stay untouched to measure what ships. ``exposures_mark_held_out`` sets their
``Exposure.held_out`` before each analysis, and the analysed population skips those rows.

Membership is the holdout's own hash of the unit, computed here for the exposures inside a
holdout period only (streamed in chunks: memory stays flat; about 10 µs a unit). It is known
when the experiment hashes on the holdout's attribute (both on users, the usual case); an
experiment randomising another unit (accounts) is checked over all its exposures, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max, Min

from experiments.assignment import HOLDOUT_ARM, holdout_arm
from experiments.holdouts.models import Holdout
from experiments.holdouts.selectors import holdout_spec
from experiments.models import Experiment, Exposure
from plg_platform.services.ingestion import to_epoch_us

CHUNK = 5_000


@dataclass(frozen=True)
class HeldOutExposures:
    """Exposures of held-out units inside a holdout's period, per phase number."""

    included: dict[int, dict[str, int]] = field(default_factory=dict)  # per variant
    excluded: dict[int, int] = field(default_factory=dict)  # seen in two variants
    units: set[str] = field(default_factory=set)  # every held-out unit, of any phase

    @property
    def total(self) -> int:
        return sum(sum(v.values()) for v in self.included.values()) + sum(self.excluded.values())

    def in_phase(self, phase: int) -> int:
        return sum(self.included.get(phase, {}).values()) + self.excluded.get(phase, 0)


def held_out_exposures(*, experiment: Experiment) -> HeldOutExposures:
    """Count the experiment's exposures by held-out units made during a holdout period."""
    result = HeldOutExposures()
    span = Exposure.objects.filter(experiment=experiment).aggregate(
        first=Min("exposed_at_us"), last=Max("exposed_at_us")
    )
    if span["first"] is None:
        return result
    attribute = experiment.unit_property or "id"
    holdouts = Holdout.objects.filter(
        workspace_id=experiment.workspace_id, hash_attribute=attribute
    )
    for holdout in holdouts:
        start, end = to_epoch_us(holdout.starts_at), to_epoch_us(holdout.ends_at)
        if end <= span["first"] or start > span["last"]:
            continue
        spec = holdout_spec(holdout)
        rows = (
            Exposure.objects.filter(
                experiment=experiment, exposed_at_us__gte=start, exposed_at_us__lt=end
            )
            .values_list("unit_id", "variant", "phase__number", "excluded")
            .order_by()
            .iterator(chunk_size=CHUNK)
        )
        for unit_id, variant, phase, excluded in rows:
            if holdout_arm(spec, attributes={attribute: unit_id}) != HOLDOUT_ARM:
                continue
            result.units.add(unit_id)
            if excluded:
                result.excluded[phase] = result.excluded.get(phase, 0) + 1
            else:
                per_variant = result.included.setdefault(phase, {})
                per_variant[variant] = per_variant.get(variant, 0) + 1
    return result


@transaction.atomic
def exposures_mark_held_out(*, experiment: Experiment, held: HeldOutExposures) -> int:
    """Mark exactly ``held``'s units as held out among the experiment's exposures (a holdout
    ended early or deleted frees its units again); return how many are marked. Writes only
    the rows marked before or now, in one transaction."""
    Exposure.objects.filter(experiment=experiment, held_out=True).update(held_out=False)
    units = sorted(held.units)
    for start in range(0, len(units), CHUNK):
        Exposure.objects.filter(
            experiment=experiment, unit_id__in=units[start : start + CHUNK]
        ).update(held_out=True)
    return len(units)
