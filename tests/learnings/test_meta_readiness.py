"""A meta-analysis of too few experiments says how many it needs, and why, and shows the
experiments that exist rather than a 0% win rate and empty charts."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint

from learnings.meta_evidence import (
    MAX_USEFUL_WIDTH,
    MIN_EXPERIMENTS_FOR_WIN_RATE,
    widest_interval,
    wilson_interval,
)
from learnings.models import Learning
from learnings.shrinkage import MIN_EXPERIMENTS_EB
from tests.learnings.test_learning_support import MetricResult, at, concluded_experiment

pytestmark = pytest.mark.django_db


def _statsmodels_widest(n: int) -> float:
    return max(
        hi - lo
        for lo, hi in (proportion_confint(w, n, alpha=0.05, method="wilson") for w in range(n + 1))
    )


@pytest.mark.parametrize(("wins", "n"), [(0, 1), (1, 1), (3, 7), (5, 12), (0, 40)])
def test_wilson_interval_matches_statsmodels(wins, n):
    assert wilson_interval(wins, n) == pytest.approx(
        proportion_confint(wins, n, alpha=0.05, method="wilson"), abs=1e-12
    )


def test_experiments_needed_is_where_the_win_rate_interval_narrows_to_50_points():
    needed = next(n for n in range(1, 100) if _statsmodels_widest(n) <= MAX_USEFUL_WIDTH)
    assert MIN_EXPERIMENTS_FOR_WIN_RATE == needed == 12
    assert widest_interval(needed - 1) > 0.5 >= widest_interval(needed)


def _conclude(workspace, make_metric, key, treatment, decision="ship"):
    return concluded_experiment(
        workspace,
        make_metric,
        key=key,
        product_area="Onboarding",
        results=[MetricResult("aha", "primary", (10000, 1000), treatment)],
        decision=decision,
        concluded_at=at(2026, 2, 10),
    )


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("learnings_web:meta"))
    assert response.status_code == 200
    return unescape(response.content.decode())


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_one_experiment_says_how_many_are_needed_and_shows_it(
    client, viewer, workspace, make_metric, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _conclude(workspace, make_metric, "checklist", (10000, 1005), decision="rollback")
    learning = Learning.objects.get(workspace=workspace)
    html = _page(client, viewer.user)
    text = _text(html)
    low, high = proportion_confint(0, 1, alpha=0.05, method="wilson")
    assert "1 concluded experiment so far: too few for a win rate to mean something" in text
    assert f"anywhere from {low * 100:.0f}%–{high * 100:.0f}% (95% interval)" in text
    assert "0%–79%" in text
    assert f"about {MIN_EXPERIMENTS_FOR_WIN_RATE} experiments" in text
    assert f"at least {MIN_EXPERIMENTS_EB} experiments with an interval" in text
    # What exists: the experiment itself, with its lift and interval; no empty charts.
    assert "0 of 1" in text
    assert "<canvas" not in html
    row = re.search(r'<table id="few-table">.*?</table>', html, re.S).group(0)
    assert learning.title in row
    assert f"+{learning.impact * 100:.1f}%" in _text(row)
    assert "Inconclusive" in row


def test_five_experiments_keep_the_charts_and_the_warning(
    client, viewer, workspace, make_metric, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for index, conversions in enumerate((1150, 1040, 1100, 980, 1010)):
            _conclude(workspace, make_metric, f"exp-{index}", (10000, conversions))
    html = _page(client, viewer.user)
    wins = Learning.objects.filter(workspace=workspace, outcome="win").count()
    low, high = proportion_confint(wins, 5, alpha=0.05, method="wilson")
    assert 'id="win-chart"' in html
    assert f"95% interval {low * 100:.0f}%–{high * 100:.0f}%" in _text(html)
    assert "5 concluded experiments so far" in _text(html)


def test_enough_experiments_drop_the_warning(
    client, viewer, workspace, make_metric, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for index in range(MIN_EXPERIMENTS_FOR_WIN_RATE):
            _conclude(workspace, make_metric, f"exp-{index}", (10000, 1000 + 10 * index))
    html = _page(client, viewer.user)
    assert 'id="too-few"' not in html
    assert 'id="few-table"' not in html
    assert 'id="win-chart"' in html
