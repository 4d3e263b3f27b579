"""Meta-analysis: shrinkage against a hand computation, and win rates and impact by group."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

import learnings.shrinkage as shrinkage_module
from learnings.models import Learning
from learnings.search.faceted import SearchFilters
from learnings.selectors import meta_analysis
from learnings.services.areas import product_area_get_or_create_path
from learnings.shrinkage import TOO_FEW, empirical_bayes, james_stein

# Four experiments: lifts y and their standard errors s.
Y = [0.10, 0.02, -0.01, 0.05]
S = [0.04, 0.02, 0.03, 0.05]


def test_empirical_bayes_matches_the_hand_computation():
    # By hand (DerSimonian–Laird):
    #   w = 1/s² = [625, 2500, 1111.111…, 400],  Σw = 4636.111…
    #   ȳ_w = Σwy/Σw = (62.5 + 50 − 11.111… + 20) / 4636.111… = 0.0261833
    #   Q = Σw(y − ȳ_w)² = 5.1827442
    #   c = Σw − Σw²/Σw = 4636.111… − 8035192.9…/4636.111… = 2902.9359
    #   τ² = (Q − (k − 1)) / c = 2.1827442 / 2902.9359 = 0.000751909
    #   μ = Σ y/(s² + τ²) / Σ 1/(s² + τ²) = 0.0313678
    #   B = s²/(s² + τ²) = [0.680298, 0.347250, 0.544824, 0.768779]
    #   θ̂ = Bμ + (1 − B)y = [0.0533096, 0.0239475, 0.0125382, 0.0356760]
    result = empirical_bayes(Y, S)

    assert result.method == "empirical_bayes"
    assert result.tau2 == pytest.approx(0.000751909, rel=1e-5)
    assert result.prior_mean == pytest.approx(0.0313678, rel=1e-5)
    assert result.shrink_factors == pytest.approx(
        [0.680298, 0.347250, 0.544824, 0.768779], rel=1e-5
    )
    assert result.shrunk == pytest.approx([0.0533096, 0.0239475, 0.0125382, 0.0356760], rel=1e-5)
    assert result.raw == tuple(Y)
    # The noisiest estimate (s = 0.05) moves furthest toward the mean; the best measured least.
    moves = [abs(r - s) for r, s in zip(result.raw, result.shrunk, strict=True)]
    assert moves.index(max(moves)) == 0
    assert moves.index(min(moves)) == 1


def test_homogeneous_estimates_shrink_all_the_way_to_the_pooled_mean():
    result = empirical_bayes([0.02, 0.021, 0.019], [0.01, 0.01, 0.01])

    assert result.tau2 == 0.0
    assert result.shrunk == pytest.approx([0.02, 0.02, 0.02])


def test_positive_part_james_stein_matches_the_hand_computation():
    # ȳ = 0.038, S = Σ(y − ȳ)² = 0.00668, σ² = 0.0004, factor = (5 − 3)·0.0004 / 0.00668
    #   = 0.1197605; θ̂ = ȳ + (1 − factor)(y − ȳ).
    y = [0.10, 0.02, -0.01, 0.05, 0.03]
    result = james_stein(y, [0.02] * 5)

    assert result.shrink_factors[0] == pytest.approx(0.1197605, rel=1e-6)
    assert result.shrunk == pytest.approx(
        [0.0925749, 0.0221557, -0.0042515, 0.0485629, 0.0309581], rel=1e-5
    )
    # Positive part: with little spread the factor is capped at 1 (everything at the mean).
    capped = james_stein([0.01, 0.011, 0.012, 0.013], [0.05] * 4)
    assert capped.shrunk == pytest.approx([0.0115] * 4)


def test_too_few_experiments_give_raw_figures_with_a_message():
    result = empirical_bayes([0.1, 0.2], [0.05, 0.05])

    assert result.method == "none"
    assert result.shrunk == result.raw == (0.1, 0.2)
    assert result.message == TOO_FEW.format(k=2, n=3)
    assert james_stein(Y, S[:3]).message.startswith("Estimates and standard errors differ")
    assert empirical_bayes(Y, [0.01, 0.0, 0.01, 0.01]).method == "none"  # no zero SE


def test_the_shrinkage_module_imports_nothing_of_django():
    tree = ast.parse(Path(shrinkage_module.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }

    assert not {name for name in imported if name.split(".")[0] in {"django", "learnings"}}


# --- By group ---------------------------------------------------------------------------------


def _experiment_learning(workspace, title, area, **fields) -> Learning:
    area_obj = product_area_get_or_create_path(workspace=workspace, path=area, actor=None)
    learned_on = fields.pop("learned_on")
    return Learning.objects.create(
        workspace=workspace,
        source=fields.pop("source", "experiment"),
        title=title,
        product_area=area_obj,
        learned_on=learned_on,
        quarter=f"{learned_on.year}-Q{(learned_on.month - 1) // 3 + 1}",
        **fields,
    )


@pytest.fixture
def portfolio(workspace):
    q1, q2 = date(2026, 2, 1), date(2026, 5, 1)
    common = {"funnel_stage": "activation", "team": "Growth", "learned_on": q1}
    _experiment_learning(
        workspace,
        "A",
        "Editor",
        outcome="win",
        decision="ship",
        impact=0.10,
        impact_se=0.04,
        retention_effect="positive",
        **common,
    )
    _experiment_learning(
        workspace,
        "B",
        "Editor",
        outcome="win",
        decision="ship",
        impact=0.05,
        impact_se=0.05,
        retention_effect="inconclusive",
        **common,
    )
    _experiment_learning(
        workspace,
        "F",
        "Editor",
        outcome="inconclusive",
        decision="ship",
        impact=0.03,
        impact_se=None,
        **common,
    )
    money = {"funnel_stage": "revenue", "team": "Money", "learned_on": q2}
    _experiment_learning(
        workspace,
        "C",
        "Billing",
        outcome="loss",
        decision="rollback",
        impact=-0.01,
        impact_se=0.03,
        retention_effect="negative",
        **money,
    )
    _experiment_learning(
        workspace,
        "D",
        "Billing",
        outcome="flat",
        decision="iterate",
        impact=0.02,
        impact_se=0.02,
        **money,
    )
    # A learning from interviews is no experiment: left out.
    _experiment_learning(workspace, "Interviews", "Editor", learned_on=q1, source="interview")


@pytest.mark.django_db
def test_meta_analysis_by_product_area_reports_raw_and_shrunk(workspace, portfolio):
    result = meta_analysis(workspace=workspace, group_by="product_area")
    # The prior is fitted on A, B, C, D (F has no standard error): the set of the hand
    # computation above, so A → 0.0533096, B → 0.0356760, C → 0.0125382, D → 0.0239475.
    billing, editor = result.groups  # in label order

    assert result.shrinkage.method == "empirical_bayes"
    assert result.shrinkage.prior_mean == pytest.approx(0.0313678, rel=1e-5)
    assert result.estimates_without_se == 1
    assert result.notes == ["1 estimate(s) without a standard error are carried raw."]
    assert (editor.label, editor.experiments, editor.wins, editor.inconclusive) == (
        "Editor",
        3,
        2,
        1,
    )
    assert editor.win_rate == pytest.approx(2 / 3)
    assert editor.average_impact == pytest.approx(0.06)
    assert editor.cumulative_impact == pytest.approx(0.18)
    assert editor.cumulative_impact_shrunk == pytest.approx(0.0533096 + 0.0356760 + 0.03, rel=1e-5)
    assert editor.average_impact_shrunk == pytest.approx(
        (0.0533096 + 0.0356760 + 0.03) / 3, rel=1e-5
    )
    assert (editor.retention_measured, editor.retention_moved, editor.retention_moved_rate) == (
        2,
        1,
        0.5,
    )
    assert (billing.label, billing.experiments, billing.losses, billing.flat, billing.win_rate) == (
        "Billing",
        2,
        1,
        1,
        0.0,
    )
    assert (billing.shipped, billing.cumulative_impact, billing.cumulative_impact_shrunk) == (
        0,
        0.0,
        0.0,
    )
    assert billing.average_impact_shrunk == pytest.approx((0.0125382 + 0.0239475) / 2, rel=1e-5)
    assert (result.total.experiments, result.total.wins, result.total.win_rate) == (5, 2, 0.4)
    assert result.total.retention_moved_rate == pytest.approx(2 / 3)


@pytest.mark.django_db
def test_meta_analysis_by_quarter_and_with_too_few_experiments(workspace, portfolio):
    by_quarter = meta_analysis(workspace=workspace, group_by="quarter")
    revenue_only = meta_analysis(
        workspace=workspace, group_by="team", filters=SearchFilters(funnel_stage=("revenue",))
    )

    assert [(g.key, g.experiments, g.wins) for g in by_quarter.groups] == [
        ("2026-Q2", 2, 0),
        ("2026-Q1", 3, 2),
    ]
    assert revenue_only.shrinkage.method == "none"
    assert revenue_only.notes == [f"Raw estimates only: {TOO_FEW.format(k=2, n=3)}"]
    money = revenue_only.groups[0]
    assert (money.label, money.average_impact, money.average_impact_shrunk) == (
        "Money",
        pytest.approx(0.005),
        pytest.approx(0.005),
    )
