"""Will we hit the key result? The outlook service on stored check-ins, with a contributions
provider registered the way learnings registers its own: the forecast, the projection of each
contribution, the odds, the status and the why sentence, against the pure math and by hand;
the board, the key result page and the API showing them."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from html import unescape

import pytest

from outcomes.okrs.contracts import (
    ExpectedContribution,
    contributions_providers,
    register_contributions_provider,
)
from outcomes.okrs.forecasting import (
    Contribution,
    calibrate,
    calibrated_sd,
    outlook_status,
    probability_of_reaching,
    trend_forecast,
)
from outcomes.okrs.models import CheckIn, ValueSource
from outcomes.okrs.outlook import (
    PERIOD_ENDED,
    key_result_outlook,
    key_result_points,
)
from outcomes.okrs.services.check_ins import check_in_create
from outcomes.okrs.services.key_results import key_result_create
from outcomes.okrs.services.objectives import objective_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 5)
END = date(2026, 12, 31)
# Ten weekly values from 1 Oct to 3 Dec, wandering around 33%.
WEEKLY = [0.331, 0.328, 0.335, 0.333, 0.327, 0.334, 0.338, 0.332, 0.336, 0.334]


@pytest.fixture
def key_result(workspace, make_metric):
    make_metric(workspace, "aha-rate")  # a conversion: maturity 7 days
    objective = objective_create(workspace=workspace, title="New teams stick", quarter="2026-Q4")
    key_result = key_result_create(
        objective=objective,
        title="Raise the Aha rate to 34%",
        metric_key="aha-rate",
        target=0.34,
        baseline=0.33,
        baseline_reason="Last quarter's report",
    )
    for week, value in enumerate(WEEKLY):
        CheckIn.objects.create(
            key_result=key_result,
            date=date(2026, 10, 1) + timedelta(days=7 * week),
            source=ValueSource.COMPUTED,
            value=value,
        )
    return key_result


def _contribution(**overrides) -> ExpectedContribution:
    values = {
        "experiment_key": "onboarding-checklist",
        "experiment_name": "Onboarding checklist",
        "variant": "checklist",
        "lift": 0.12,
        "lift_se": 0.05,
        "shrunk_lift": 0.06,
        "shrunk_lift_sd": 0.03,
        "prior": "shrunk with a test prior",
        "reach": 0.8,
        "reach_note": "measured in the test",
        "treated_share": 0.5,
        "ships_on": TODAY,
        "would_ship": True,
    }
    return ExpectedContribution(**{**values, **overrides})


@pytest.fixture
def provided():
    """Register a provider that returns what the test puts in the list (for its key result)."""
    given: list[ExpectedContribution] = []
    calls: list[tuple[int, date]] = []

    def provider(key_result, today):
        calls.append((key_result.pk, today))
        return list(given)

    register_contributions_provider(provider)
    yield given, calls
    contributions_providers.remove(provider)


def test_without_contributions_the_odds_are_the_trend_forecasts(key_result, provided):
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    points = [(date(2026, 10, 1) + timedelta(days=7 * i), v) for i, v in enumerate(WEEKLY)]
    forecast = trend_forecast(points, on=END)
    p = probability_of_reaching(
        mean=forecast.mean, sd=forecast.sd, target=0.34, direction="increase"
    )
    assert outlook.forecast == forecast
    assert outlook.probability == pytest.approx(p)
    assert outlook.status == outlook_status(p)
    assert outlook.expected == pytest.approx(forecast.mean)
    # The odds use the calibrated sd (the interval's), not the model's own.
    widened = calibrated_sd(forecast.model_sd, (END - points[-1][0]).days / 7, calibrate(WEEKLY))
    assert forecast.sd == pytest.approx(widened)
    assert forecast.sd != pytest.approx(forecast.model_sd)
    assert provided[1] == [(key_result.pk, TODAY)]
    assert outlook.why == (
        f"Trend alone reaches {forecast.mean * 100:.1f}% by 31 Dec (80% interval "
        f"{forecast.low * 100:.1f}%–{forecast.high * 100:.1f}%); {p * 100:.0f}% chance to "
        f"reach 34.0% — {outlook.status.replace('_', ' ')}."
    )


def test_a_contribution_is_projected_onto_the_final_cohort_by_hand(key_result, provided):
    provided[0].append(_contribution())
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    level = outlook.forecast.mean
    # 28-day cohorts of a 7-day metric: the last value (end of 31 Dec) is over units starting
    # 27 Nov to 24 Dec; shipped on 5 Dec, 20 of its 28 days start after.
    share = 20 / 28
    (projected,) = outlook.contributions
    assert projected.cohort_share == pytest.approx(share)
    assert projected.mean == pytest.approx(level * 0.06 * 0.8 * share * 0.5)
    assert projected.sd == pytest.approx(level * 0.03 * 0.8 * share * 0.5)
    p = probability_of_reaching(
        mean=level,
        sd=outlook.forecast.sd,
        target=0.34,
        direction="increase",
        contributions=[Contribution(projected.mean, projected.sd)],
    )
    assert outlook.probability == pytest.approx(p)
    assert outlook.expected == pytest.approx(level + projected.mean)
    assert f"; one running experiment adds about +{projected.mean * 100:.1f} pp if shipped; " in (
        outlook.why
    )


def test_a_contribution_the_team_would_not_ship_is_listed_but_not_counted(key_result, provided):
    provided[0].extend(
        [
            _contribution(),
            _contribution(
                experiment_key="dark-mode", shrunk_lift=-0.02, lift=-0.04, would_ship=False
            ),
        ]
    )
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    counted, dropped = outlook.contributions
    assert not dropped.counted
    assert outlook.added_mean == pytest.approx(counted.mean)
    assert "one running experiment adds about" in outlook.why
    assert "one more running experiment would not be shipped as it stands" in outlook.why


def test_a_decreasing_key_result_counts_the_chance_of_going_below(key_result, provided):
    key_result.direction = "decrease"
    key_result.target = 0.325
    key_result.baseline = 0.34
    key_result.save()

    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    f = outlook.forecast
    p_below = probability_of_reaching(mean=f.mean, sd=f.sd, target=0.325, direction="decrease")
    assert outlook.probability == pytest.approx(p_below)
    assert outlook.probability == pytest.approx(
        0.5 * math.erfc(-(0.325 - f.mean) / (f.sd * math.sqrt(2)))
    )


def test_too_short_a_history_gives_no_forecast_and_the_pace_status(key_result, provided):
    CheckIn.objects.filter(key_result=key_result, date__gt=date(2026, 10, 22)).delete()
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    assert (outlook.probability, outlook.status) == (None, None)
    assert outlook.message == "Only 4 weekly value(s) so far; a forecast needs 5."
    assert provided[1] == []  # no forecast, no need to ask for contributions


def test_after_the_period_the_last_value_decides(key_result, provided):
    outlook = key_result_outlook(key_result=key_result, today=END + timedelta(days=1))
    assert outlook.message == PERIOD_ENDED
    assert outlook.status is None


def test_points_take_the_computed_value_of_a_day_and_a_persons_on_other_days(key_result):
    person = UserFactory()
    check_in_create(
        key_result=key_result, confidence=6, value=0.9, day=date(2026, 10, 1), actor=person
    )
    check_in_create(
        key_result=key_result, confidence=6, value=0.345, day=date(2026, 12, 4), actor=person
    )
    key_result.refresh_from_db()

    points = key_result_points(key_result, until=TODAY)

    assert points[0] == (date(2026, 10, 1), 0.331)  # the computed value wins its day
    assert points[-1] == (date(2026, 12, 4), 0.345)
    assert len(points) == len(WEEKLY) + 1


# --- the pages and the API ------------------------------------------------------------------
@pytest.fixture
def today(monkeypatch):
    """The pages' and API's today, in the workspace's zone."""
    for module in ("outcomes.okrs.views.objectives", "outcomes.okrs.views.key_results"):
        monkeypatch.setattr(f"{module}.local_today", lambda *a, **k: TODAY)
    monkeypatch.setattr("outcomes.okrs.api.key_results.local_today", lambda *a, **k: TODAY)
    return TODAY


def test_the_board_shows_the_forecast_status_odds_and_why(
    key_result, provided, editor, client, today
):
    provided[0].append(_contribution())
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    client.force_login(editor.user)
    response = client.get("/okrs/?quarter=2026-Q4")

    assert response.status_code == 200
    html = unescape(response.content.decode())
    row = html[html.index(f'id="key-result-{key_result.pk}"') :]
    row = row[: row.index("</li>")]
    label = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track"}
    assert f'status-pill {outlook.status}"' in row
    assert label[outlook.status] in row
    assert f"<strong>{outlook.probability * 100:.0f}%</strong> chance" in row
    assert outlook.why in row
    assert "chance of reaching the target by the period's end" in html


def test_the_key_result_page_shows_the_forecast_chart_and_the_contributions(
    key_result, provided, editor, client, today
):
    provided[0].append(_contribution())
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    client.force_login(editor.user)
    response = client.get(f"/okrs/key-results/{key_result.pk}/")

    assert response.status_code == 200
    raw = response.content.decode()
    html = unescape(raw)
    assert "Will we hit it?" in html
    assert outlook.why in html
    marker = 'data-outcomes-chart="forecast" data-config="'
    start = raw.index(marker) + len(marker)
    config = json.loads(unescape(raw[start : raw.index('"', start)]))
    assert config["target"] == 0.34
    assert config["labels"][-1] == "2026-12-31"
    assert config["mean"][-1] == pytest.approx(outlook.forecast.mean)
    assert config["with_experiments"][-1] == pytest.approx(outlook.expected)
    assert [v for v in config["values"] if v is not None] == WEEKLY
    table = html[html.index('id="contributions-table"') :]
    assert "Onboarding checklist" in table
    assert "+12.0%" in table
    assert "+6.0%" in table
    assert "80%" in table
    assert "71%" in table
    assert "shrunk with a test prior" in html


def test_the_key_result_page_without_a_forecast_says_why(
    key_result, provided, editor, client, today
):
    CheckIn.objects.filter(key_result=key_result, date__gt=date(2026, 10, 8)).delete()
    client.force_login(editor.user)
    response = client.get(f"/okrs/key-results/{key_result.pk}/")
    html = unescape(response.content.decode())
    assert "No forecast yet: Only 2 weekly value(s) so far; a forecast needs 5." in html
    assert 'data-outcomes-chart="forecast"' not in html


def test_the_api_returns_the_forecast(key_result, provided, editor, today):
    provided[0].append(_contribution())
    outlook = key_result_outlook(key_result=key_result, today=TODAY)

    body = editor.client.get(f"/api/v1/key-results/{key_result.pk}/").json()

    forecast = body["forecast"]
    assert forecast["status"] == outlook.status
    assert forecast["probability"] == pytest.approx(outlook.probability)
    assert forecast["why"] == outlook.why
    assert forecast["on"] == "2026-12-31"
    assert forecast["trend"]["mean"] == pytest.approx(outlook.forecast.mean)
    assert forecast["trend"]["points"] == 10
    assert forecast["trend"]["model"] in ("local_level", "damped_trend")
    assert forecast["path"][-1]["date"] == "2026-12-31"
    (contribution,) = forecast["contributions"]
    assert contribution["experiment"] == "onboarding-checklist"
    assert contribution["adds"] == pytest.approx(outlook.contributions[0].mean)
    assert contribution["cohort_share"] == pytest.approx(20 / 28)
    assert forecast["expected"] == pytest.approx(outlook.expected)


def test_another_workspace_never_sees_the_forecast(key_result, outsider, today):
    assert outsider.client.get(f"/api/v1/key-results/{key_result.pk}/").status_code == 404
