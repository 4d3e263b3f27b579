"""Learnings search on PostgreSQL: 10,000 learnings, full-text + facets, p50/p95 per search.

Run: .venv/bin/python bench/bench_learnings.py [--learnings N] [--rounds R] [--seed S] [--quick]

Each timed search is what the API does for one request: match and rank (websearch_to_tsquery
over the generated tsvector, GIN index), count, one page of 20 with highlighted snippets
(ts_headline), and eleven facet counts. The baseline, timed in the same run on the same data
and queries, is a plain ``ILIKE '%word%'`` scan over the same four text columns returning a
page of 20 and a count, with no ranking, stemming, snippets or facets. Also timed: the same
full-text match without facets, "have we tried this before?" (cold fit and warm queries) and
the meta-analysis.

Data are generated from a seed into a dedicated database (``BENCH_LEARNINGS_DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432/plg_bench_learnings), created and migrated here; a
rerun with the same size and seed reuses them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_LEARNINGS_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/plg_bench_learnings",
)
TARGET_P95_MS = 200.0
PAGE = 20

AREAS = [
    "Editor",
    "Editor › Sharing",
    "Editor › Comments",
    "Editor › Templates",
    "Editor › Export",
    "Onboarding",
    "Onboarding › Checklist",
    "Onboarding › Invites",
    "Billing",
    "Billing › Pricing page",
    "Billing › Checkout",
    "Mobile",
    "Mobile › Navigation",
    "Search",
    "Notifications",
    "Notifications › Email",
    "Admin",
    "Admin › SSO",
]
FUNNEL = ["acquisition", "activation", "retention", "referral", "revenue"]
LOOP = ["", "attract", "engage", "delight"]
TEAMS = ["Growth", "Core", "Monetization", "Mobile", "Enterprise", "Platform"]
EFFECTS = ["", "positive", "negative", "neutral", "inconclusive"]
OUTCOMES = ["win", "loss", "flat", "inconclusive"]
KEY_RESULTS = [
    (str(i), f"Key result {i}: {w}")
    for i, w in enumerate(
        ["activation to 40%", "invites per user 1.5", "churn below 3%", "ARR +20%", "NPS 45"], 1
    )
]
FEATURES = (
    "onboarding checklist|template gallery|share dialog|comment threads|pricing page|annual plan|"
    "free trial|checkout flow|mobile navigation|search bar|weekly digest email|push notification|"
    "referral credit|SSO setup|PDF export|empty state|welcome tour|upgrade prompt|usage limits|"
    "team invites|dark mode|keyboard shortcuts|version history|offline mode|integrations page"
).split("|")
CHANGES = "added|removed|simplified|redesigned|shortened|personalised|moved|reworded|tested"
CHANGES = CHANGES.split("|")
EFFECT_WORDS = (
    "raised activation|lowered churn|grew invites|increased upgrades|cut support tickets|"
    "had no measurable effect|hurt retention|confused new users|sped up time to value|"
    "improved week-one retention|reduced trial conversion|doubled daily usage"
).split("|")
FILLER = (
    "users teams admins workspace documents sessions cohort week month segment enterprise "
    "self-serve plan signup trial paid free mobile desktop power casual returning lapsed"
).split()
QUERIES = [
    "onboard",
    "onboarding checklist",
    '"pricing page"',
    "template",
    "invites",
    "churn",
    "export",
    "mobile navigation",
    "trial or checkout",
    "retention -mobile",
    "dark mode",
    "email digest",
    "sso",
    "shortcuts",
    "upgrade prompt",
    "tickets",
    "welcome tour",
    "version history",
    "integrations",
    "personalised",
]


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plg_platform.settings")
    import django

    django.setup()


def _ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # a fixed name of our own


def _sentence(rng: random.Random) -> str:
    feature = rng.choice(FEATURES)
    return (
        f"We {rng.choice(CHANGES)} the {feature} for {rng.choice(FILLER)} "
        f"{rng.choice(FILLER)} and it {rng.choice(EFFECT_WORDS)} "
        f"among {rng.choice(FILLER)} {rng.choice(FILLER)}."
    )


def _generate(workspace, n: int, seed: int) -> None:
    """Insert ``n`` learnings with tags, key results and areas, reproducibly from ``seed``."""
    from learnings.models import Learning, LearningKeyResult, LearningTag
    from learnings.services.areas import product_area_get_or_create_path
    from learnings.services.learnings import quarter_of
    from learnings.services.search_text import learning_search_text

    rng = random.Random(seed)
    areas = [
        product_area_get_or_create_path(workspace=workspace, path=path, actor=None)
        for path in AREAS
    ]
    start = date(2023, 1, 1)
    batch: list[Learning] = []
    extras: list[tuple[list[str], list[tuple[str, str]]]] = []
    for _ in range(n):
        feature = rng.choice(FEATURES)
        day = start + timedelta(days=rng.randrange(0, 3 * 365))
        area = rng.choice(areas + [None])
        tags = rng.sample(["quick-win", "copy", "ux", "pricing", "ml", "growth-loop"], 2)
        krs = [rng.choice(KEY_RESULTS)] if rng.random() < 0.4 else []
        outcome = rng.choice(OUTCOMES)
        impact = rng.gauss(0.02, 0.05)
        team = rng.choice(TEAMS)
        batch.append(
            Learning(
                workspace=workspace,
                source="experiment" if rng.random() < 0.85 else "research",
                title=f"{rng.choice(CHANGES).capitalize()} {feature}",
                hypothesis=(
                    f"We believe changing the {feature} for {rng.choice(FILLER)} users will "
                    f"{rng.choice(EFFECT_WORDS)}."
                ),
                learned=" ".join(_sentence(rng) for _ in range(rng.randint(2, 4))),
                rationale=_sentence(rng),
                decision=rng.choice(["ship", "rollback", "iterate"]),
                outcome=outcome,
                impact=impact,
                impact_se=abs(rng.gauss(0.03, 0.01)) + 0.005,
                funnel_stage=rng.choice(FUNNEL),
                loop_stage=rng.choice(LOOP),
                acquisition_effect=rng.choice(EFFECTS),
                retention_effect=rng.choice(EFFECTS),
                product_area=area,
                team=team,
                learned_on=day,
                quarter=quarter_of(day),
                search_extra=learning_search_text(
                    area_path=area.path if area else "",
                    team=team,
                    tags=tags,
                    key_results=[t for _, t in krs],
                ),
            )
        )
        extras.append((tags, krs))
    created = Learning.objects.bulk_create(batch, batch_size=1000)
    LearningTag.objects.bulk_create(
        [
            LearningTag(learning=lr, name=t)
            for lr, (tags, _) in zip(created, extras, strict=True)
            for t in tags
        ],
        batch_size=5000,
    )
    LearningKeyResult.objects.bulk_create(
        [
            LearningKeyResult(learning=lr, key_result_id=i, title=t)
            for lr, (_, krs) in zip(created, extras, strict=True)
            for i, t in krs
        ],
        batch_size=5000,
    )


def _workspace(n: int, seed: int):
    from django.db import connection

    from learnings.models import Learning
    from plg_platform.models import Workspace

    slug = f"bench-learnings-{n}-{seed}"
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    if Learning.objects.filter(workspace=workspace).count() != n:
        Learning.objects.filter(workspace=workspace).delete()
        started = time.perf_counter()
        _generate(workspace, n, seed)
        print(f"generated {n} learnings in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE learnings_learning")
    return workspace


def _ms(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


def _ilike_baseline(workspace, query: str) -> int:
    from django.db.models import Q

    from learnings.models import Learning

    words = [w.strip('"-') for w in query.split() if w.lower() != "or" and w.strip('"-')]
    condition = Q()
    for word in words:
        condition &= (
            Q(title__icontains=word)
            | Q(hypothesis__icontains=word)
            | Q(learned__icontains=word)
            | Q(rationale__icontains=word)
        )
    queryset = Learning.objects.filter(workspace=workspace).filter(condition)
    list(queryset.order_by("-learned_on", "-id")[:PAGE])
    return queryset.count()


def _timed(function, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            function(query)
            samples.append(time.perf_counter() - started)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learnings", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--quick", action="store_true", help="2,000 learnings, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.learnings, args.rounds = 2_000, 2

    _ensure_database()
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    from learnings.search.faceted import SearchFilters, learnings_search
    from learnings.selectors import meta_analysis
    from learnings.similarity import similar_learnings

    if connection.vendor != "postgresql":
        print("this benchmark needs PostgreSQL", file=sys.stderr)
        return 1
    call_command("migrate", verbosity=0)
    workspace = _workspace(args.learnings, args.seed)

    def full(query: str) -> None:
        learnings_search(workspace=workspace, query=query, limit=PAGE)

    def filtered(query: str) -> None:
        filters = SearchFilters(funnel_stage=("activation", "retention"), outcome=("win",))
        learnings_search(workspace=workspace, query=query, filters=filters, sort="impact")

    def text_only(query: str) -> None:
        learnings_search(workspace=workspace, query=query, limit=PAGE, with_facets=False)

    def baseline(query: str) -> None:
        _ilike_baseline(workspace, query)

    for function in (full, baseline):  # warm caches and connections
        function("onboard")
    # Interleave the rounds so drifts in the machine's load hit both sides alike.
    samples: dict[str, list[float]] = {"full": [], "filtered": [], "text": [], "ilike": []}
    for _ in range(args.rounds):
        samples["full"] += _timed(full, 1)
        samples["filtered"] += _timed(filtered, 1)
        samples["text"] += _timed(text_only, 1)
        samples["ilike"] += _timed(baseline, 1)

    stemmed = learnings_search(workspace=workspace, query="onboard", with_facets=False).count
    substring = _ilike_baseline(workspace, "onboard")

    started = time.perf_counter()
    similar_learnings(workspace=workspace, hypothesis="warm up the index")
    similar_cold = time.perf_counter() - started
    effects = EFFECT_WORDS * 3
    drafts = [
        f"We believe the {f} will {e}"
        for f, e in zip(FEATURES, effects[: len(FEATURES)], strict=True)
    ]
    similar_samples = []
    for draft in drafts:
        started = time.perf_counter()
        similar_learnings(workspace=workspace, hypothesis=draft)
        similar_samples.append(time.perf_counter() - started)
    started = time.perf_counter()
    meta = meta_analysis(workspace=workspace, group_by="product_area")
    meta_seconds = time.perf_counter() - started

    full_p50, full_p95, full_max = _ms(samples["full"])
    _, filtered_p95, _ = _ms(samples["filtered"])
    text_p50, text_p95, _ = _ms(samples["text"])
    ilike_p50, ilike_p95, _ = _ms(samples["ilike"])
    similar_p50, similar_p95, _ = _ms(similar_samples)
    print(f"learnings_search_learnings: {args.learnings}")
    print(f"learnings_search_queries_timed: {len(samples['full'])}")
    print(f"learnings_search_full_p50_ms: {full_p50:.1f}")
    print(f"learnings_search_full_p95_ms: {full_p95:.1f}")
    print(f"learnings_search_full_max_ms: {full_max:.1f}")
    print(f"learnings_search_filtered_p95_ms: {filtered_p95:.1f}")
    print(f"learnings_search_text_only_p50_ms: {text_p50:.1f}")
    print(f"learnings_search_text_only_p95_ms: {text_p95:.1f}")
    print(f"learnings_ilike_baseline_p50_ms: {ilike_p50:.1f}")
    print(f"learnings_ilike_baseline_p95_ms: {ilike_p95:.1f}")
    print(f"learnings_text_only_vs_ilike_p95_ratio: {text_p95 / ilike_p95:.2f}")
    print(f"learnings_full_vs_ilike_p95_ratio: {full_p95 / ilike_p95:.2f}")
    print(f"learnings_search_full_p95_target_ms: {TARGET_P95_MS:.0f}")
    print(f"learnings_search_full_p95_within_target: {full_p95 < TARGET_P95_MS}")
    print(f"learnings_onboard_matches_fts: {stemmed}")
    print(f"learnings_onboard_matches_ilike: {substring}")
    print(f"learnings_similar_cold_ms: {similar_cold * 1000:.0f}")
    print(f"learnings_similar_warm_p50_ms: {similar_p50:.1f}")
    print(f"learnings_similar_warm_p95_ms: {similar_p95:.1f}")
    print(f"learnings_meta_analysis_ms: {meta_seconds * 1000:.0f}")
    print(f"learnings_meta_analysis_method: {meta.shrinkage.method}")
    return 0 if full_p95 < TARGET_P95_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
