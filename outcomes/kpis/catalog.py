"""The KPI library's catalogue: every KPI's key, name, plain-language definition, and how its
cached daily values roll up into a week.

The exact formulas are in ``docs/outcomes.md``; the ``definition`` strings are what a page
shows beside the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["value_creation", "value_capture"]
# activity: daily, from activity; voice: daily, from survey answers; revenue: daily MRR moves;
# cohort: per signup cohort (daily and weekly rows); cohort_table: weekly cohorts × weeks.
Family = Literal["activity", "voice", "revenue", "cohort", "cohort_table"]
Unit = Literal["users", "share", "ratio", "hours", "score", "currency"]
# How a week's value comes from its days: "ratio" Σ numerator / Σ denominator (the mean for
# counts, whose denominator is 1), "last" the value on the week's last computed day, "sum"
# Σ numerator; "cohort" KPIs store their weekly cohorts natively.
Weekly = Literal["ratio", "last", "sum", "cohort"]


@dataclass(frozen=True)
class KpiDefinition:
    key: str
    name: str
    kind: Kind
    family: Family
    unit: Unit
    weekly: Weekly
    definition: str
    higher_is_better: bool = True
    # KpiSettings fields that must be set for the KPI to be computed.
    requires: tuple[str, ...] = ()
    has_dimension: bool = False


ACTIVE = (
    "Active means doing at least one activity event (any event unless the workspace lists "
    "them, never an excluded one such as $exposure) that day, in the workspace's time zone."
)

KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "dau",
        "Daily active users",
        "value_creation",
        "activity",
        "users",
        "ratio",
        f"Distinct users active on the local day. {ACTIVE} A week shows the average day; the "
        "dashboard card shows the average day of the last 7 days.",
    ),
    KpiDefinition(
        "wau",
        "Weekly active users",
        "value_creation",
        "activity",
        "users",
        "last",
        "Distinct users active in the 7 local days ending on the day. A week shows its "
        "last day (for a full week: the users active Monday to Sunday).",
    ),
    KpiDefinition(
        "mau",
        "Monthly active users",
        "value_creation",
        "activity",
        "users",
        "last",
        "Distinct users active in the 30 local days ending on the day.",
    ),
    KpiDefinition(
        "stickiness_dau_mau",
        "Stickiness (DAU/MAU)",
        "value_creation",
        "activity",
        "share",
        "ratio",
        "DAU divided by MAU on the same day: the share of the month's users who come back on "
        "a given day. A week shows average DAU over average MAU.",
    ),
    KpiDefinition(
        "stickiness_dau_wau",
        "Stickiness (DAU/WAU)",
        "value_creation",
        "activity",
        "share",
        "ratio",
        "DAU divided by WAU on the same day.",
    ),
    KpiDefinition(
        "stickiness_wau_mau",
        "Stickiness (WAU/MAU)",
        "value_creation",
        "activity",
        "share",
        "ratio",
        "WAU divided by MAU on the same day.",
    ),
    KpiDefinition(
        "new_users",
        "New active users (30 days)",
        "value_creation",
        "activity",
        "users",
        "last",
        "Users whose first activity ever (any activity event, anonymous users included, signed "
        "up or not) falls in the 30 local days ending on the day; not the same as new signups.",
    ),
    KpiDefinition(
        "resurrected_users",
        "Resurrected users (30 days)",
        "value_creation",
        "activity",
        "users",
        "last",
        "Users active in the 30 days ending on the day, not in the 30 days before, but at "
        "some time before that.",
    ),
    KpiDefinition(
        "churned_users",
        "Churned users (30 days)",
        "value_creation",
        "activity",
        "users",
        "last",
        "Users active in the 30 days before the last 30, and not in the last 30.",
        higher_is_better=False,
    ),
    KpiDefinition(
        "churn_rate",
        "User churn rate (30 days)",
        "value_creation",
        "activity",
        "share",
        "last",
        "Churned users divided by the users active in the previous 30 days.",
        higher_is_better=False,
    ),
    KpiDefinition(
        "growth_ratio",
        "Growth ratio",
        "value_creation",
        "activity",
        "ratio",
        "last",
        "(New + resurrected users) divided by churned users, over 30-day windows: above 1 the "
        "active base grows. Undefined when no one churned.",
    ),
    KpiDefinition(
        "core_adoption",
        "Core event adoption",
        "value_creation",
        "activity",
        "share",
        "last",
        "The average share of the core events each monthly active user did in the 30 days "
        "ending on the day: Σ over core events of their users ÷ (number of core events × MAU).",
        requires=("core_events",),
    ),
    KpiDefinition(
        "pes",
        "Product Engagement Score",
        "value_creation",
        "activity",
        "share",
        "last",
        "(adoption + stickiness + growth) / 3 on the day, each from 0 to 1: adoption = core "
        "event adoption, stickiness = DAU/MAU, growth = (new + resurrected) ÷ (new + "
        "resurrected + churned), the growth ratio g mapped to g / (1 + g).",
        requires=("core_events",),
    ),
    KpiDefinition(
        "feature_adoption",
        "Feature adoption",
        "value_creation",
        "activity",
        "share",
        "last",
        "Per feature: users who used it in the 30 days ending on the day ÷ MAU.",
        requires=("feature_events",),
        has_dimension=True,
    ),
    KpiDefinition(
        "new_signups",
        "New signups",
        "value_creation",
        "cohort",
        "users",
        "cohort",
        "Users whose first signup event falls on the local day (or week): the signup cohort's "
        "size. Users who never signed up are not counted (new active users counts them).",
    ),
    KpiDefinition(
        "activation_rate",
        "Activation rate",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort's users who did the Aha event within the activation window "
        "(the days set in the KPI settings, as exact 24-hour periods from their signup). Only "
        "users whose window has passed count.",
        requires=("aha_event",),
    ),
    KpiDefinition(
        "time_to_value",
        "Time to value (median hours)",
        "value_creation",
        "cohort",
        "hours",
        "cohort",
        "Median (not mean) hours from signup to the first Aha event, among the cohort's users "
        "who reached it within the time-to-value window; see the never-reached share beside it. "
        "A time-to-event metric of the metric layer shows the mean instead.",
        higher_is_better=False,
        requires=("aha_event",),
    ),
    KpiDefinition(
        "ttv_never_reached",
        "Never reached value",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort's matured users who did not reach the Aha event within the "
        "time-to-value window.",
        higher_is_better=False,
        requires=("aha_event",),
    ),
    KpiDefinition(
        "retention_d1",
        "Day-1 retention",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort active in the 24 hours starting 1 day after their signup.",
    ),
    KpiDefinition(
        "retention_d7",
        "Day-7 retention",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort active in the 24 hours starting 7 days after their signup.",
    ),
    KpiDefinition(
        "retention_d30",
        "Day-30 retention",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort active in the 24 hours starting 30 days after their signup.",
    ),
    KpiDefinition(
        "free_to_paid",
        "Free-to-paid conversion",
        "value_capture",
        "cohort",
        "share",
        "cohort",
        "Share of the cohort's users who did the paid event (e.g. upgrade) within the paid "
        "window after signup.",
        requires=("paid_event",),
    ),
    KpiDefinition(
        "cohort_retention",
        "Cohort retention table",
        "value_creation",
        "cohort_table",
        "share",
        "cohort",
        "Weekly signup cohorts × weeks since signup: the share of the cohort active in week k "
        "after their own signup ([7k, 7k + 7) days), among users whose week k has passed.",
        has_dimension=True,
    ),
    KpiDefinition(
        "success_moment",
        "Success moment rate",
        "value_creation",
        "cohort",
        "share",
        "cohort",
        "Among the cohort's users matured for the moment's window: the share who did its event "
        "at least K times on at least M distinct days within D days of signup (Setup, Aha, "
        "Eureka, Habit, as set in the KPI settings; the metric layer's moment rule).",
        requires=("success_moments",),
        has_dimension=True,
    ),
    KpiDefinition(
        "nps",
        "Net Promoter Score",
        "value_creation",
        "voice",
        "score",
        "last",
        "100 × (promoters − detractors) ÷ respondents, over the 30 local days ending on the "
        "day: each respondent counts once, by their latest answer with a 0–10 score "
        "(promoters 9–10, detractors 0–6). A week shows its last day.",
        requires=("nps_event",),
    ),
    KpiDefinition(
        "nps_promoters",
        "NPS promoters",
        "value_creation",
        "voice",
        "share",
        "last",
        "Share of NPS respondents in the 30 days ending on the day whose latest answer is 9 or 10.",
        requires=("nps_event",),
    ),
    KpiDefinition(
        "nps_detractors",
        "NPS detractors",
        "value_creation",
        "voice",
        "share",
        "last",
        "Share of NPS respondents in the 30 days ending on the day whose latest answer is 0 to 6.",
        higher_is_better=False,
        requires=("nps_event",),
    ),
    KpiDefinition(
        "ces",
        "Customer Effort Score",
        "value_creation",
        "voice",
        "score",
        "ratio",
        "Mean answer to the effort survey (1 to the scale's maximum; higher means easier).",
        requires=("ces_event",),
    ),
    KpiDefinition(
        "mrr",
        "Monthly recurring revenue",
        "value_capture",
        "revenue",
        "currency",
        "last",
        "Σ over accounts of their current recurring revenue at the end of the day: each "
        "revenue event sets its account's MRR (its amount, a twelfth of it when annual), a "
        "churn event sets it to 0.",
        requires=("revenue_event",),
    ),
    KpiDefinition(
        "new_mrr",
        "MRR added",
        "value_capture",
        "revenue",
        "currency",
        "sum",
        "Σ of MRR increases on the day (new and expanding accounts).",
        requires=("revenue_event",),
    ),
    KpiDefinition(
        "churned_mrr",
        "MRR churned",
        "value_capture",
        "revenue",
        "currency",
        "sum",
        "Σ of MRR decreases on the day (churned and contracting accounts): churned revenue.",
        higher_is_better=False,
        requires=("revenue_event",),
    ),
)

BY_KEY = {kpi.key: kpi for kpi in KPIS}
ACTIVITY_KPIS = tuple(k.key for k in KPIS if k.family == "activity")
VOICE_KPIS = tuple(k.key for k in KPIS if k.family == "voice")
REVENUE_KPIS = tuple(k.key for k in KPIS if k.family == "revenue")
COHORT_KPIS = tuple(k.key for k in KPIS if k.family == "cohort")
DAILY_FAMILY_KPIS = ACTIVITY_KPIS + VOICE_KPIS + REVENUE_KPIS


def kpi_definition(key: str) -> KpiDefinition | None:
    return BY_KEY.get(key)
