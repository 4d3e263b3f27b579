"""Who the demo users are: accounts of one or more users, their plans, countries and channels.

Accounts are drawn one at a time from their own seeded random stream, so the population is
the same for a seed whatever is asked of it later, and nothing is held beyond one account.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from plg_platform.clock import DAY_US, HOUR_US, MINUTE_US, datetime_from_us
from plg_platform.demo.config import DemoConfig

# Separate random streams per purpose, so that a change to one part of the model never
# reshuffles the others.
ACCOUNT_STREAM = 1
USER_STREAM = 2

ACCOUNT_SIZES = (1, 2, 3, 4, 5, 6, 8, 12)
ACCOUNT_SIZE_WEIGHTS = (0.56, 0.16, 0.10, 0.07, 0.04, 0.03, 0.025, 0.015)

COUNTRIES = ("US", "GB", "DE", "IN", "FR", "CA", "BR", "JP", "AU", "NL", "ES", "SE")
COUNTRY_WEIGHTS = (0.34, 0.10, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.04, 0.04, 0.04, 0.04)

CHANNELS = ("organic_search", "direct", "paid_search", "content", "referral", "social")
CHANNEL_WEIGHTS = (0.30, 0.18, 0.20, 0.12, 0.10, 0.10)
INVITE_CHANNEL = "invite"

# Monthly list price per seat, in USD; billed annually (ARR = 12 x price x seats).
PLAN_PRICES = {"pro": 15, "team": 25}
# Share of accounts that end up paying, by account size: (pro, team).
PAID_SHARES = {1: (0.10, 0.01), 2: (0.16, 0.05), 3: (0.18, 0.12)}
UPGRADE_MEAN_DAYS = 18
MEMBER_JOIN_MEAN_DAYS = 6
SIGNUP_GROWTH = 1.5  # signups per day grow from 1x to (1 + this)x over the period
WEEKEND_SIGNUP_KEEP = 0.6
UNANSWERED_INVITE_PROBABILITY = 0.2

_CUM_SIZES = list(accumulate(ACCOUNT_SIZE_WEIGHTS))
_CUM_COUNTRIES = list(accumulate(COUNTRY_WEIGHTS))
_CUM_CHANNELS = list(accumulate(CHANNEL_WEIGHTS))


def stream_seed(seed: int, stream: int, index: int) -> int:
    """Return the seed of one random stream (an account's or a user's)."""
    return (seed * 4 + stream) * 10_000_000_000 + index


@dataclass
class DemoUser:
    """One user as the population decides it; the activity model adds the events."""

    index: int
    distinct_id: str
    account_id: str
    is_owner: bool
    signup_us: int
    country: str
    channel: str
    plan: str  # the plan at the data cut-off
    arr: int  # the account's ARR at the cut-off, 0 when not paying
    seats: int
    upgrade_us: int | None = None  # owners of accounts that upgraded before the cut-off
    invited_by: str | None = None
    # Owners: (invite sent, member's distinct id or None if never accepted, member joined).
    invites: list[tuple[int, str | None, int | None]] = field(default_factory=list)

    def person_properties(self) -> dict[str, object]:
        properties: dict[str, object] = {
            "plan": self.plan,
            "country": self.country,
            "account_id": self.account_id,
            "signup_channel": self.channel,
            "role": "owner" if self.is_owner else "member",
            "signed_up_at": datetime_from_us(self.signup_us).isoformat(),
        }
        if self.arr:
            properties["arr"] = self.arr
            properties["seats"] = self.seats
        return properties


def _signup_us(rng: random.Random, config: DemoConfig) -> int:
    """Draw a signup time: growing over the period, fewer on weekends."""
    while True:
        u = rng.random()
        g = SIGNUP_GROWTH
        # Inverse CDF of a density rising linearly from 1 to 1 + g over [0, 1).
        x = (math.sqrt(1 + 2 * g * u * (1 + g / 2)) - 1) / g
        # Five minutes in, so that the visit just before signing up is inside the period too.
        moment = config.start_us + 5 * MINUTE_US + int(x * (config.days * DAY_US - 10 * MINUTE_US))
        if config.weekday(moment) < 5 or rng.random() < WEEKEND_SIGNUP_KEEP:
            return min(moment, config.end_us - MINUTE_US)


def _plan(rng: random.Random, size: int) -> str:
    pro, team = PAID_SHARES[min(size, 3)]
    u = rng.random()
    return "pro" if u < pro else "team" if u < pro + team else "free"


def iter_accounts(config: DemoConfig) -> Iterator[list[DemoUser]]:
    """Yield the users of each account in turn (owner first) until ``config.users`` are made.

    Members join after their owner's invite; one who would join after the cut-off never
    signed up and is not counted.
    """
    made = 0
    account = 0
    while made < config.users:
        rng = random.Random(stream_seed(config.seed, ACCOUNT_STREAM, account))
        account_id = f"acct-{account:06d}"
        size = ACCOUNT_SIZES[pick_weighted(rng, _CUM_SIZES)]
        plan = _plan(rng, size)
        country = COUNTRIES[pick_weighted(rng, _CUM_COUNTRIES)]
        channel = CHANNELS[pick_weighted(rng, _CUM_CHANNELS)]
        owner_signup = _signup_us(rng, config)
        joins = sorted(
            owner_signup + HOUR_US + int(rng.expovariate(1 / MEMBER_JOIN_MEAN_DAYS) * DAY_US)
            for _ in range(size - 1)
        )
        joins = [t for t in joins if t < config.end_us][: config.users - made - 1]
        upgrade_us = None
        if plan != "free":
            upgrade_us = (
                owner_signup + DAY_US + int(rng.expovariate(1 / UPGRADE_MEAN_DAYS) * DAY_US)
            )
            if upgrade_us >= config.end_us:
                plan, upgrade_us = "free", None
        seats = 1 + sum(1 for t in joins if upgrade_us is not None and t <= upgrade_us)
        arr = 12 * PLAN_PRICES[plan] * seats if plan != "free" else 0

        owner = DemoUser(
            index=made,
            distinct_id=f"u{made:07d}",
            account_id=account_id,
            is_owner=True,
            signup_us=owner_signup,
            country=country,
            channel=channel,
            plan=plan,
            arr=arr,
            seats=seats,
            upgrade_us=upgrade_us,
        )
        users = [owner]
        for join_us in joins:
            index = made + len(users)
            member = DemoUser(
                index=index,
                distinct_id=f"u{index:07d}",
                account_id=account_id,
                is_owner=False,
                signup_us=join_us,
                # Colleagues mostly share a country.
                country=country
                if rng.random() < 0.85
                else COUNTRIES[pick_weighted(rng, _CUM_COUNTRIES)],
                channel=INVITE_CHANNEL,
                plan=plan,
                arr=arr,
                seats=seats,
                invited_by=owner.distinct_id,
            )
            sent = max(owner_signup + 10 * MINUTE_US, join_us - int(rng.expovariate(1.0) * DAY_US))
            owner.invites.append((sent, member.distinct_id, join_us))
            users.append(member)
        if rng.random() < UNANSWERED_INVITE_PROBABILITY:
            sent = owner_signup + 10 * MINUTE_US + int(rng.expovariate(1 / 5) * DAY_US)
            owner.invites.append((sent, None, None))
        made += len(users)
        account += 1
        yield users


def pick_weighted(rng: random.Random, cumulative: list[float]) -> int:
    """Return an index drawn with the weights whose running sums are ``cumulative``."""
    u = rng.random() * cumulative[-1]
    for i, edge in enumerate(cumulative):
        if u < edge:
            return i
    return len(cumulative) - 1
