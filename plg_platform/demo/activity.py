"""What each demo user does: sessions, the Setup/Aha/Eureka/Habit moments, churn, surveys.

Each user is simulated from their own seeded random stream, day by day from signup until they
churn (activity declines towards the end of their life) or the data cut-off. The model's
numbers are documented in ``docs/demo-data.md``.
"""

from __future__ import annotations

import math
import random
from itertools import accumulate

from plg_platform.clock import DAY_US, HOUR_US, MINUTE_US, SECOND_US
from plg_platform.demo.config import DemoConfig, DemoEvent
from plg_platform.demo.planted import (
    CHECKLIST_AHA_7D_MULTIPLIER,
    EDITOR_TOOLBAR,
    EUREKA_ACTIVITY_MULTIPLIER,
    EUREKA_LIFETIME_MULTIPLIER,
    EUREKA_MAX_DAILY_ACTIVITY,
    EUREKA_WINDOW_DAYS,
    ONBOARDING_CHECKLIST,
    QUARTER_HOLDOUT,
    UNSUBSCRIBE_7D_PROBABILITY,
    WELCOME_TOUR_AHA_7D_MULTIPLIER,
    WELCOME_TOUR_SHIPS_DAYS_BEFORE_END,
)
from plg_platform.demo.population import USER_STREAM, DemoUser, pick_weighted, stream_seed

Occurrence = tuple[int, str, dict[str, object]]

SETUP_PROBABILITY = 0.72
PROFILE_PROBABILITY = 0.55
# Probability of the first document within 7 days of signup, by signup channel (Aha).
AHA_7D_BASE = {
    "organic_search": 0.50,
    "direct": 0.52,
    "paid_search": 0.36,
    "content": 0.45,
    "referral": 0.58,
    "social": 0.40,
    "invite": 0.62,
}
NO_SETUP_AHA_FACTOR = 0.55
LATE_AHA_PROBABILITY = 0.25
LATE_AHA_MEAN_DAYS = 10
HABIT_SHARE = 0.20  # of the users who reach Aha
LONG_TERM_SHARE = 0.30  # of the casual users who reach Aha
ACTIVITY_DECLINE = 0.65  # activity falls by this share from signup to churn
WEEKEND_ACTIVITY = 0.45
DOCUMENT_SHARE_PROBABILITY = 0.15
NPS_SURVEY_DAYS = (14, 60)
NPS_RESPONSE_PROBABILITY = 0.35
# (detractor, passive, promoter) shares of NPS answers by kind of user.
NPS_MIX = {
    "habit": (0.08, 0.22, 0.70),
    "casual": (0.25, 0.35, 0.40),
    "drive_by": (0.55, 0.30, 0.15),
}
FEEDBACK_PROBABILITY = {"habit": 0.012, "casual": 0.008, "drive_by": 0.02}
FEATURE_USE_PROBABILITY = {"habit": 0.8, "casual": 0.5, "drive_by": 0.2}

PLATFORMS = ("web", "desktop", "mobile")
_CUM_PLATFORMS = list(accumulate((0.7, 0.2, 0.1)))
PAGES = ("/documents", "/doc", "/templates", "/home", "/settings", "/help")
_CUM_PAGES = list(accumulate((0.3, 0.35, 0.1, 0.15, 0.05, 0.05)))
FEATURES = (
    "comments",
    "templates",
    "tables",
    "export_pdf",
    "version_history",
    "mentions",
    "ai_assist",
    "embeds",
)
_CUM_FEATURES = list(accumulate((0.22, 0.18, 0.12, 0.12, 0.10, 0.10, 0.10, 0.06)))
# Feature requests: (weight, phrasings). Offline mode is the planted top request.
FEATURE_REQUESTS = (
    (
        0.24,
        (
            "Offline mode please, I write on planes",
            "Let me edit documents offline",
            "Need offline access to my docs",
        ),
    ),
    (0.14, ("Real-time co-editing on the mobile app", "Mobile editing with my team")),
    (0.12, ("Dark mode", "A dark theme for late-night writing")),
    (0.11, ("Export to Markdown", "Markdown export for our docs site")),
    (0.10, ("Better search across all documents", "Search inside comments too")),
    (0.09, ("Slack integration for comments", "Post shares to Slack")),
    (0.08, ("Custom templates for the whole team", "Team-wide template library")),
    (0.07, ("Compare two versions side by side", "Version diff view")),
    (0.05, ("Two-factor login", "SSO with Okta")),
)
_CUM_REQUESTS = list(accumulate(w for w, _ in FEATURE_REQUESTS))


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small rates used here."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _nps_score(rng: random.Random, kind: str) -> int:
    detractor, passive, _ = NPS_MIX[kind]
    u = rng.random()
    if u < detractor:
        return rng.choice((0, 1, 2, 3, 4, 5, 5, 6, 6, 6))
    if u < detractor + passive:
        return rng.choice((7, 8))
    return 9 if rng.random() < 0.55 else 10


class _Window:
    """When a planted experiment ran, in microseconds."""

    def __init__(self, config: DemoConfig, starts_days_before_end: int, stops: int) -> None:
        self.start = max(config.start_us, config.end_us - starts_days_before_end * DAY_US)
        self.stop = config.end_us - stops * DAY_US

    def __contains__(self, moment: int) -> bool:
        return self.start <= moment < self.stop


class UserSimulator:
    """Turn a ``DemoUser`` into its events; one simulator serves every user of a config."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.end_us = config.end_us
        self.checklist_window = _Window(
            config,
            ONBOARDING_CHECKLIST.starts_days_before_end,
            ONBOARDING_CHECKLIST.stops_days_before_end,
        )
        self.toolbar_window = _Window(
            config, EDITOR_TOOLBAR.starts_days_before_end, EDITOR_TOOLBAR.stops_days_before_end
        )
        self.holdout_window = _Window(config, QUARTER_HOLDOUT.starts_days_before_end, 0)
        self.tour_window = _Window(config, WELCOME_TOUR_SHIPS_DAYS_BEFORE_END, 0)

    def held_out(self, user: DemoUser, moment: int) -> bool:
        """Whether the quarter's holdout keeps ``user`` out of experiments and shipped changes
        at ``moment``."""
        return moment in self.holdout_window and QUARTER_HOLDOUT.holds_out(user.distinct_id)

    def events(self, user: DemoUser) -> list[DemoEvent]:
        """Return the user's events before the cut-off, in time order."""
        occurrences = _UserRun(self, user).simulate()
        occurrences.sort(key=lambda o: o[0])
        prefix = f"d{self.config.seed}-{user.index}-"
        distinct_id = user.distinct_id
        return [
            DemoEvent(name, distinct_id, moment, f"{prefix}{n}", properties)
            for n, (moment, name, properties) in enumerate(occurrences)
            if moment < self.end_us
        ]


class _UserRun:
    """One user's simulation: their random stream, what kind of user they are, what they did."""

    def __init__(self, simulator: UserSimulator, user: DemoUser) -> None:
        self.simulator = simulator
        self.user = user
        self.t0 = user.signup_us
        self.rng = random.Random(stream_seed(simulator.config.seed, USER_STREAM, user.index))
        self.out: list[Occurrence] = []
        self.first_doc: int | None = None
        self.first_doc_day = -1
        self.documents = 0
        self.surveys = list(NPS_SURVEY_DAYS)
        self.toolbar_seen = False
        window = EUREKA_WINDOW_DAYS * DAY_US
        self.eureka = any(
            joined is not None and joined - self.t0 <= window for _, _, joined in user.invites
        )

    def simulate(self) -> list[Occurrence]:
        aha_multiplier = self._signup()
        setup = self._setup()
        self.first_doc = self._first_document(setup=setup, aha_multiplier=aha_multiplier)
        if self.first_doc is not None:
            self.first_doc_day = (self.first_doc - self.t0) // DAY_US
        if self.rng.random() < UNSUBSCRIBE_7D_PROBABILITY:
            when = self.t0 + int(self.rng.uniform(HOUR_US, 7 * DAY_US - HOUR_US))
            self.out.append((when, "notifications_unsubscribed", {}))
        self.kind, self.life = self._kind_and_life()
        self._days()
        self._account_moments()
        return self.out

    # --- Signing up and the first week ---------------------------------------------------

    def _signup(self) -> float:
        """Emit the signup (and exposures); return the 7-day Aha multiplier: the shipped welcome
        tour's, times the checklist variant's (or the shipped checklist's once its run is
        over); 1 for held-out users."""
        held_out, checklist = self._signup_exposures()
        if held_out:
            return 1.0
        tour = WELCOME_TOUR_AHA_7D_MULTIPLIER if self.t0 in self.simulator.tour_window else 1.0
        return tour * checklist

    def _signup_exposures(self) -> tuple[bool, float]:
        """Emit the signup and its exposures; return whether the user is held out and the
        checklist's 7-day Aha multiplier for them (its variant's, or the shipped one's)."""
        user, t0, simulator = self.user, self.t0, self.simulator
        signed_up: dict[str, object] = {"channel": user.channel, "plan": "free"}
        if user.invited_by:
            signed_up["invited_by"] = user.invited_by
        self.out.append((t0, "signed_up", signed_up))
        held_out = simulator.held_out(user, t0)
        if t0 in simulator.holdout_window:
            arm: dict[str, object] = {
                "experiment": f"$holdout:{QUARTER_HOLDOUT.key}",
                "variant": "holdout" if held_out else "general",
            }
            self.out.append((t0 + SECOND_US, "$exposure", arm))
        if held_out:
            return True, 1.0
        if t0 >= simulator.checklist_window.stop:
            return False, CHECKLIST_AHA_7D_MULTIPLIER
        if t0 not in simulator.checklist_window:
            return False, 1.0
        variant = ONBOARDING_CHECKLIST.variant_of(user.distinct_id)
        exposure = {"experiment": ONBOARDING_CHECKLIST.key, "variant": variant}
        self.out.append((t0 + SECOND_US, "$exposure", exposure))
        treated = variant == ONBOARDING_CHECKLIST.variants[1]
        return False, CHECKLIST_AHA_7D_MULTIPLIER if treated else 1.0

    def _setup(self) -> bool:
        """Emit the Setup moment (and a completed profile) for those who do it."""
        rng, t0 = self.rng, self.t0
        setup = rng.random() < SETUP_PROBABILITY
        if setup:
            when = t0 + MINUTE_US + int(rng.expovariate(1 / 8) * MINUTE_US)
            self.out.append((when, "workspace_setup", {"template": rng.random() < 0.4}))
        if rng.random() < PROFILE_PROBABILITY:
            when = t0 + 2 * MINUTE_US + int(rng.expovariate(1 / 90) * MINUTE_US)
            self.out.append((when, "profile_completed", {}))
        return setup

    def _first_document(self, *, setup: bool, aha_multiplier: float) -> int | None:
        """Return when the first document is created (Aha), or None if never."""
        rng = self.rng
        p_aha = AHA_7D_BASE[self.user.channel] * (1.0 if setup else NO_SETUP_AHA_FACTOR)
        if rng.random() < p_aha * aha_multiplier:
            if rng.random() < 0.6:  # in the signup session
                return self.t0 + 2 * MINUTE_US + int(min(rng.expovariate(1 / 20), 120) * MINUTE_US)
            while True:  # later in the first week, strictly inside the 7-day window
                delay = 2 * HOUR_US + int(rng.expovariate(1 / 1.5) * DAY_US)
                if delay < 7 * DAY_US - HOUR_US:
                    return self.t0 + delay
        if rng.random() < LATE_AHA_PROBABILITY:
            return self.t0 + 7 * DAY_US + int(rng.expovariate(1 / LATE_AHA_MEAN_DAYS) * DAY_US)
        return None

    def _kind_and_life(self) -> tuple[str, float]:
        """Return the kind of user and how many days they stay before churning."""
        rng, user = self.rng, self.user
        if self.first_doc is None:
            kind, life = "drive_by", 0.0 if rng.random() < 0.5 else rng.expovariate(1 / 6)
        elif rng.random() < HABIT_SHARE:
            kind, life = "habit", 30 + rng.expovariate(1 / 300)
        else:
            kind = "casual"
            long_term = rng.random() < LONG_TERM_SHARE
            life = 60 + rng.expovariate(1 / 300) if long_term else rng.expovariate(1 / 30)
        if self.eureka:
            life *= EUREKA_LIFETIME_MULTIPLIER
        if user.upgrade_us is not None:  # paying customers stay at least a quarter after
            life = max(life, (user.upgrade_us - self.t0) / DAY_US + 90)
        if self.first_doc is not None:
            life = max(life, (self.first_doc - self.t0) / DAY_US)
        return kind, life

    # --- Day by day ----------------------------------------------------------------------

    def _days(self) -> None:
        rng = self.rng
        self.platform = PLATFORMS[pick_weighted(rng, _CUM_PLATFORMS)]
        if self.kind == "habit":
            self.p_active, self.docs_per_day = rng.uniform(0.6, 0.85), rng.uniform(2.5, 5.5)
        elif self.kind == "casual":
            self.p_active, self.docs_per_day = rng.uniform(0.2, 0.5), rng.uniform(0.4, 1.5)
        else:
            self.p_active, self.docs_per_day = 0.3, 0.0
        if self.eureka:
            boosted = self.p_active * EUREKA_ACTIVITY_MULTIPLIER
            self.p_active = min(boosted, EUREKA_MAX_DAILY_ACTIVITY)
        last_day = min(int(self.life), (self.simulator.end_us - 1 - self.t0) // DAY_US)
        for day in range(last_day + 1):
            if not self._active(day):
                continue
            sessions = self._sessions(day)
            if self.first_doc is not None and day >= self.first_doc_day:
                self._documents(day, sessions)
            self._voice(day, sessions)

    def _active(self, day: int) -> bool:
        """Signup day and Aha day always; else less and less likely as churn approaches."""
        if day in (0, self.first_doc_day):
            return True
        p = self.p_active * (1 - ACTIVITY_DECLINE * day / self.life)
        if self.simulator.config.weekday(self.t0 + day * DAY_US) >= 5:
            p *= WEEKEND_ACTIVITY
        return self.rng.random() < p

    def _session_starts(self, day: int) -> list[int]:
        rng, t0 = self.rng, self.t0
        if day == 0:
            sessions = [t0 - 2 * MINUTE_US]
            if rng.random() < 0.3:
                sessions.append(t0 + int(rng.uniform(1, 10) * HOUR_US))
        else:
            base = t0 + day * DAY_US
            count = 1 + (rng.random() < 0.4) + (rng.random() < 0.12)
            sessions = [
                base + int(max(-9.0, min(9.0, rng.gauss(0, 3))) * HOUR_US) for _ in range(count)
            ]
        first_doc = self.first_doc
        if day == self.first_doc_day and first_doc is not None and first_doc - t0 > 3 * HOUR_US:
            sessions.append(first_doc - int(rng.uniform(1, 10) * MINUTE_US))
        sessions.sort()
        return sessions

    def _sessions(self, day: int) -> list[int]:
        """Emit the day's sessions with their page views and feature use; return their starts."""
        rng, out = self.rng, self.out
        sessions = self._session_starts(day)
        for n, start in enumerate(sessions):
            out.append((start, "session_start", {"platform": self.platform}))
            page = "/signup" if day == 0 and n == 0 else PAGES[pick_weighted(rng, _CUM_PAGES)]
            out.append((start + SECOND_US, "page_view", {"path": page}))
            for k in range(min(int(rng.expovariate(1 / 0.8)), 6)):
                path = PAGES[pick_weighted(rng, _CUM_PAGES)]
                out.append((start + (k + 2) * 40 * SECOND_US, "page_view", {"path": path}))
            if rng.random() < FEATURE_USE_PROBABILITY[self.kind]:
                feature = FEATURES[pick_weighted(rng, _CUM_FEATURES)]
                when = start + int(rng.uniform(1, 30) * MINUTE_US)
                out.append((when, "feature_used", {"feature": feature}))
            if (
                not self.toolbar_seen
                and start in self.simulator.toolbar_window
                and not self.simulator.held_out(self.user, start)
            ):
                self.toolbar_seen = True
                variant = EDITOR_TOOLBAR.variant_of(self.user.distinct_id)
                exposure = {"experiment": EDITOR_TOOLBAR.key, "variant": variant}
                out.append((start + 2 * SECOND_US, "$exposure", exposure))
        return sessions

    def _documents(self, day: int, sessions: list[int]) -> None:
        """Emit the day's documents (the first one ever exactly at ``first_doc``) and shares."""
        rng, first_doc = self.rng, self.first_doc
        if day == self.first_doc_day and first_doc is not None:
            extra = _poisson(rng, max(self.docs_per_day - 1, 0))
            times = [first_doc]
            times.extend(first_doc + int(rng.uniform(5, 240) * MINUTE_US) for _ in range(extra))
        else:
            times = [
                rng.choice(sessions) + int(rng.uniform(1, 40) * MINUTE_US)
                for _ in range(_poisson(rng, self.docs_per_day))
            ]
        for when in times:
            self.documents += 1
            document_id = f"{self.user.distinct_id}-{self.documents}"
            created = {"document_id": document_id, "from_template": rng.random() < 0.25}
            self.out.append((when, "document_created", created))
            if rng.random() < DOCUMENT_SHARE_PROBABILITY:
                shared_at = when + MINUTE_US + int(rng.expovariate(1 / 15) * MINUTE_US)
                shared = {
                    "document_id": document_id,
                    "via": "link" if rng.random() < 0.6 else "email",
                }
                self.out.append((shared_at, "document_shared", shared))

    def _voice(self, day: int, sessions: list[int]) -> None:
        """Emit NPS answers (at the first active day after each survey day) and feedback."""
        rng = self.rng
        if self.surveys and day >= self.surveys[0]:
            survey = self.surveys.pop(0)
            if rng.random() < NPS_RESPONSE_PROBABILITY:
                answer = {"score": _nps_score(rng, self.kind), "survey": f"day-{survey}"}
                self.out.append((sessions[0] + 5 * MINUTE_US, "nps_response", answer))
        if rng.random() < FEEDBACK_PROBABILITY[self.kind]:
            phrasings = FEATURE_REQUESTS[pick_weighted(rng, _CUM_REQUESTS)][1]
            feedback = {"feature_request": rng.choice(phrasings)}
            self.out.append((sessions[-1] + 10 * MINUTE_US, "feedback_submitted", feedback))

    def _account_moments(self) -> None:
        """Emit the owner's invites, collaborators joining (Eureka) and the upgrade."""
        user, out = self.user, self.out
        for n, (sent, member, joined) in enumerate(user.invites, start=1):
            out.append((sent, "invite_sent", {"invite_id": f"{user.distinct_id}-i{n}"}))
            if member is not None and joined is not None:
                out.append((joined, "collaborator_joined", {"collaborator_id": member}))
        if user.upgrade_us is not None:
            out.append((user.upgrade_us - 10 * MINUTE_US, "page_view", {"path": "/pricing"}))
            upgrade = {
                "plan": user.plan,
                "seats": user.seats,
                "amount": user.arr,
                "currency": "USD",
                "billing": "annual",
            }
            out.append((user.upgrade_us, "upgrade", upgrade))
