"""The planted, known effects in the demo data, so analyses have something true to find.

Every number here is documented in ``docs/demo-data.md``; change both together. Variants are
assigned with GrowthBook's hash (version 2) seeded by the experiment key, so an experiment
created later with ``hash_seed`` equal to its key assigns the same units to the same variants.
"""

from __future__ import annotations

from dataclasses import dataclass

from plg_platform.hashing import bucket


@dataclass(frozen=True)
class PlantedExperiment:
    """An experiment already run in the demo data: who was exposed, when, and to what.

    Units are exposed once (``$exposure`` with ``experiment`` and ``variant``). ``trigger``
    says when: ``signup`` exposes users who sign up inside the run, a second after signing up;
    ``first_session`` exposes every user at their first session inside the run.
    """

    key: str
    variants: tuple[str, str]
    starts_days_before_end: int
    stops_days_before_end: int
    trigger: str

    def variant_of(self, distinct_id: str) -> str:
        """Return the variant of a unit: 50/50 by GrowthBook's hash v2 seeded by the key."""
        return self.variants[0] if bucket(self.key, distinct_id) < 0.5 else self.variants[1]


# --- Experiment 1: the onboarding checklist raises 7-day Aha ----------------------------------
ONBOARDING_CHECKLIST = PlantedExperiment(
    key="onboarding-checklist",
    variants=("control", "checklist"),
    starts_days_before_end=84,
    stops_days_before_end=14,
    trigger="signup",
)
# The probability of the first document_created within 7 days of exposure is multiplied by
# this in the checklist variant (+15 % relative); nothing else about the user changes.
CHECKLIST_AHA_7D_MULTIPLIER = 1.15
# Guardrail with no planted effect: notifications_unsubscribed within 7 days of signup,
# drawn with the same probability in both variants (and for everyone else).
UNSUBSCRIBE_7D_PROBABILITY = 0.04

# --- Experiment 2: an A/A-like test with no effect at all -------------------------------------
EDITOR_TOOLBAR = PlantedExperiment(
    key="editor-toolbar",
    variants=("control", "compact"),
    starts_days_before_end=60,
    stops_days_before_end=10,
    trigger="first_session",
)

PLANTED_EXPERIMENTS = (ONBOARDING_CHECKLIST, EDITOR_TOOLBAR)


# --- A quarter's global holdout, and the checklist shipped to everyone else -------------------
@dataclass(frozen=True)
class PlantedHoldout:
    """A workspace holdout that ran in the demo data: ``share`` of all users, picked as the
    server's holdouts pick them (GrowthBook hash v2 of ``seed`` + distinct id below ``share``),
    from ``starts_days_before_end`` before the data's end until the end.

    While it runs, a held-out user is exposed to no planted experiment and gets no shipped
    change; every user who signs up inside it gets ``$exposure`` ``{experiment:
    "$holdout:<key>", variant: "holdout" | "general"}`` a second after signing up (the holdout
    gate an SDK evaluates at onboarding).
    """

    key: str
    seed: str
    share: float
    starts_days_before_end: int

    def holds_out(self, distinct_id: str) -> bool:
        """Whether the unit is in the holdout arm (``experiments.assignment.holdout_arm``)."""
        return bucket(self.seed, distinct_id) < self.share


QUARTER_HOLDOUT = PlantedHoldout(
    key="last-quarter",
    seed="last-quarter",
    share=0.10,
    starts_days_before_end=ONBOARDING_CHECKLIST.starts_days_before_end,
)
# The welcome tour, shipped when the holdout starts (it won an earlier, concluded experiment,
# "welcome-tour", described in docs/demo-data.md): every user who signs up inside the holdout
# and is not held out gets it, with no exposure; their probability of a first document within
# 7 days is multiplied by this (+25 % relative). Both arms of both experiments get it alike.
WELCOME_TOUR_KEY = "welcome-tour"
WELCOME_TOUR_SHIPS_DAYS_BEFORE_END = QUARTER_HOLDOUT.starts_days_before_end
WELCOME_TOUR_AHA_7D_MULTIPLIER = 1.25
# The checklist "ships" at its stop date: from then on, every user who signs up outside the
# holdout gets the checklist's effect (7-day Aha x CHECKLIST_AHA_7D_MULTIPLIER) too, no exposure.
# Measured by the holdout: everyone else against the holdout on 7-day Aha of the users who
# signed up during it, whose expected relative lift is the mean multiplier of everyone else's
# users less one: 1.25 x (1 + 0.15 x the share of them with the checklist: half of those who
# signed up during the run, all after it) - 1, about +35 %.

# --- Success moments and retention ------------------------------------------------------------
# An account owner whose first collaborator joined within this many days of signing up
# (Eureka) keeps using the product this many times longer, and is this many times more likely
# to be active on any given day (capped at EUREKA_MAX_DAILY_ACTIVITY).
EUREKA_WINDOW_DAYS = 14
EUREKA_LIFETIME_MULTIPLIER = 2.5
EUREKA_ACTIVITY_MULTIPLIER = 1.5
EUREKA_MAX_DAILY_ACTIVITY = 0.95
