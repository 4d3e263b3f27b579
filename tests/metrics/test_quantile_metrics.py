"""Quantile metrics in the metric layer: defining them (API, validation naming the field), the
summary the runner keeps (the band of the largest n* ≤ n), the KPI-style series, a key result's
value, and the statement on the rendered-only warehouses.

The statement's numbers themselves are checked level by level against numpy on every engine in
``test_engine_parity.py``; here a larger sample (1,200 units, ties, negative and fractional
values) runs on the app database and DuckDB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlglot

from experiments.stats.quantiles import QuantileArms, cluster_variance
from metrics.engine.definition import parse_definition
from metrics.engine.dialects import DIALECT_NAMES, get_dialect
from metrics.engine.populations import FirstSeenPopulation, TablePopulation
from metrics.engine.quantiles import (
    N_STAR_GRID,
    QuantileSummary,
    compile_quantile,
    statement_levels,
    summary_of,
)
from metrics.engine.sql import CompilerError
from metrics.engines.app_db import AppDatabaseEngine
from metrics.public import Metric, metric_create
from metrics.runner import compute_metric_statistics
from plg_platform.models import AuditLog
from plg_platform.services.ingestion import events_ingest, to_epoch_us

URL = "/api/v1/metrics/"
P90_SPEND = {
    "type": "quantile",
    "event": "order",
    "property": "amount",
    "window_days": 14,
    "quantile": 0.9,
    "quantile_of": "unit",
}


# --- definitions through the API -----------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "spec",
    [
        P90_SPEND,
        {**P90_SPEND, "quantile": 0.5, "quantile_of": "event"},
        {
            "type": "quantile",
            "event": "activated",
            "window_days": 7,
            "quantile": 0.75,
            "quantile_of": "unit",
        },
    ],
)
def test_a_quantile_metric_is_defined_and_read_back(editor, spec):
    response = editor.client.post(URL, {"key": "q", "name": "Q", **spec}, format="json")
    assert response.status_code == 201, response.json()
    definition = response.json()["definition"]
    assert {k: definition[k] for k in spec if k != "type"} == {
        k: v for k, v in spec.items() if k != "type"
    }
    stored = Metric.objects.get(key="q")
    assert (stored.type, stored.quantile, stored.quantile_of) == (
        "quantile",
        spec["quantile"],
        spec["quantile_of"],
    )
    assert editor.client.get(f"{URL}q/").json()["definition"] == definition


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"quantile": None}, "quantile", "between 0.001 and 0.999"),
        ({"quantile": 1.0}, "quantile", "between 0.001 and 0.999"),
        ({"quantile": 0}, "quantile", "between 0.001 and 0.999"),
        ({"quantile": "p90"}, "quantile", "number"),
        ({"quantile_of": "session"}, "quantile_of", "'unit'"),
        ({"quantile_of": ""}, "quantile_of", "'unit'"),
        ({"quantile_of": "event", "property": ""}, "property", "numeric property"),
        ({"window_days": None}, "window_days", "required"),
        ({"event": ""}, "event", "required"),
        ({"cap_type": "absolute", "cap_value": 100}, "cap_type", "Capping applies"),
        ({"property": "a b"}, "property", "Property names"),
    ],
)
def test_a_bad_quantile_definition_is_a_400_naming_the_field(editor, changes, field, fragment):
    body = {"key": "q", "name": "Q", **P90_SPEND, **changes}
    response = editor.client.post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert not Metric.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="metric").exists()


@pytest.mark.django_db
def test_quantile_fields_on_another_type_are_refused(editor):
    body = {
        "key": "c",
        "name": "C",
        "type": "count",
        "event": "x",
        "window_days": 7,
        "quantile": 0.5,
    }
    response = editor.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert "does not apply" in response.json()["errors"]["quantile"][0]


# --- the summary the runner keeps ------------------------------------------------------------
def _record(n: int, level: float, values: np.ndarray | None = None) -> dict:
    levels = statement_levels(level)
    qs = np.quantile(values, levels) if values is not None else [None] * len(levels)
    return {"n": n, **{f"q{i}": q for i, q in enumerate(qs)}}


@pytest.mark.parametrize(
    ("n", "n_star"), [(99, None), (100, 100), (141, 141), (1000, 800), (4000, 3200)]
)
def test_the_band_kept_is_the_largest_grid_size_not_above_n(n, n_star):
    metric = parse_definition({**P90_SPEND, "key": "q"})
    values = np.random.default_rng(n).lognormal(size=n)
    summary = summary_of(metric, _record(n, 0.9, values))
    assert summary.n_star == n_star
    assert summary.estimate == pytest.approx(np.quantile(values, 0.9))
    if n_star is None:
        assert summary.lower is None
        assert summary.interval() == (None, None)
        return
    half = 1.959963984540054 * np.sqrt(0.9 * 0.1 / n_star)
    assert summary.lower == pytest.approx(np.quantile(values, 0.9 - half))
    assert summary.upper == pytest.approx(np.quantile(values, min(0.9 + half, 1.0)))
    low, high = summary.interval()
    assert low < summary.estimate < high


def test_grid_and_levels():
    assert N_STAR_GRID[:4] == (100, 141, 200, 283)
    assert len(statement_levels(0.5)) == 1 + 2 * len(N_STAR_GRID)
    assert all(0.0 <= level <= 1.0 for level in statement_levels(0.999))


def test_the_series_interval_uses_the_same_cluster_adjustment_as_the_statistics():
    sums = {
        "clusters": 400.0,
        "below_sum": 1010.0,
        "below_sum_squares": 5200.0,
        "count_sum": 2000.0,
        "count_sum_squares": 12400.0,
        "below_count_sum_product": 7600.0,
    }
    summary = QuantileSummary(
        level=0.5,
        n=2000,
        estimate=10.0,
        n_star=1600,
        lower=9.0,
        upper=11.2,
        event_level=True,
        **sums,
    )
    arms = QuantileArms(
        level=0.5, n=2000, estimate=10.0, lower=9.0, upper=11.2, n_star=1600, **sums
    )
    expected = float(cluster_variance(arms.arrays())) / (0.25 / 2000)
    assert summary.cluster_inflation() == pytest.approx(expected, rel=1e-12)
    assert expected > 1  # events of one unit are alike here
    low, high = summary.interval()
    scale = np.sqrt(1600 / 2000 * expected)
    assert (low, high) == pytest.approx((10 - 1.0 * scale, 10 + 1.2 * scale))


def test_only_quantile_metrics_compile_to_a_quantile_statement():
    with pytest.raises(CompilerError, match="not a quantile metric"):
        compile_quantile(
            dialect="sqlite",
            workspace_id=1,
            metric=parse_definition({"key": "c", "type": "count", "event": "x", "window_days": 3}),
            population=FirstSeenPopulation(),
            cutoff_us=0,
        )


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
@pytest.mark.parametrize("of", ["unit", "event"])
def test_every_dialect_renders_a_statement_that_parses_back(dialect, of):
    metric = parse_definition({**P90_SPEND, "key": "q", "quantile_of": of})
    query = compile_quantile(
        dialect=dialect,
        workspace_id=1,
        metric=metric,
        population=TablePopulation(
            table="experiments_exposure",
            unit_column="unit_id",
            start_column="exposed_at_us",
            group_column="variant",
            segment_property="plan",
        ),
        cutoff_us=10**15,
    )
    if dialect == "clickhouse":
        # sqlglot's ClickHouse parser knows quantilesExactExclusive but not ...Inclusive (its
        # list of parametric aggregates); the statement runs on chdb in test_engine_parity.
        assert "quantilesExactInclusive(0.9, " in query.sql
        return
    tree = sqlglot.parse_one(query.sql, read=get_dialect(dialect).sqlglot)
    assert {e.alias_or_name for e in tree.expressions} >= {"grp", "seg", "units", "n", "q0", "q80"}
    # Every user value is bound; levels are computed numbers (engines need constants there).
    assert "amount" not in query.sql
    assert set(query.params.values()) >= {"amount", "order", 1}


# --- a larger sample on the app database and DuckDB ------------------------------------------
def _spend_events(rng: np.random.Generator, units: int) -> list[dict]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    events = []
    for u in range(units):
        signup = start + timedelta(hours=float(rng.uniform(0, 24 * 20)))
        events.append({"event": "signup", "distinct_id": f"u{u}", "timestamp": signup.isoformat()})
        for k in range(rng.poisson(2.0)):
            amount = rng.choice([round(float(rng.normal(40, 30)), 2), 25, 0, -5.5])  # ties, refunds
            at = signup + timedelta(hours=float(rng.uniform(0, 24 * 16)))
            events.append(
                {
                    "event": "order",
                    "distinct_id": f"u{u}",
                    "timestamp": at.isoformat(),
                    "insert_id": f"o{u}-{k}",
                    "properties": {"amount": float(amount)},
                }
            )
    return events


def _reference(events, metric, cutoff_us):
    """Per-unit sums within the window of matured units, and every order's amount."""
    starts = {
        e["distinct_id"]: to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        for e in events
        if e["event"] == "signup"
    }
    window = metric.window_days * 86_400_000_000
    per_unit: dict[str, list[float]] = {}
    matured = {u for u, s in starts.items() if s + window <= cutoff_us}
    for e in events:
        u = e["distinct_id"]
        t = to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        if e["event"] == "order" and u in matured and starts[u] <= t < starts[u] + window:
            per_unit.setdefault(u, []).append(e["properties"]["amount"])
    return matured, per_unit


@pytest.mark.django_db
def test_a_larger_sample_matches_numpy_on_the_app_database_and_duckdb(workspace, tmp_path):
    from metrics.engines.duckdb import DuckDBEngine
    from metrics.engines.store import create_store, event_table, insert_events

    events = _spend_events(np.random.default_rng(11), 1200)
    assert events_ingest(workspace=workspace, raw_events=events).rejected == []
    cutoff = to_epoch_us(datetime(2026, 4, 10, tzinfo=UTC))
    duck = DuckDBEngine(path=str(tmp_path / "q.duckdb"))
    create_store(duck)
    insert_events(
        duck,
        event_table(
            (
                workspace.id,
                e["event"],
                e["distinct_id"],
                to_epoch_us(datetime.fromisoformat(e["timestamp"])),
                e.get("insert_id") or f"s{i}",
                json.dumps(e.get("properties", {})),
            )
            for i, e in enumerate(events)
        ),
    )
    for of in ("unit", "event"):
        metric = parse_definition({**P90_SPEND, "key": f"q-{of}", "quantile_of": of})
        matured, per_unit = _reference(events, metric, cutoff)
        values = (
            np.array([sum(v) for v in per_unit.values()])
            if of == "unit"
            else np.array([a for v in per_unit.values() for a in v])
        )
        for engine in (AppDatabaseEngine(), duck):
            (row,) = compute_metric_statistics(
                workspace_id=workspace.id,
                metrics=[metric],
                population=FirstSeenPopulation(event="signup"),
                cutoff_us=cutoff,
                engine=engine,
            )
            q = row.quantile
            assert (row.units, row.n) == (len(matured), values.size), engine.dialect
            assert q is not None
            assert q.n_star == max(g for g in N_STAR_GRID if g <= values.size)
            half = 1.959963984540054 * np.sqrt(0.09 / q.n_star)
            expected = np.quantile(values, [0.9, 0.9 - half, 0.9 + half])
            assert [q.estimate, q.lower, q.upper] == pytest.approx(expected, rel=1e-12)
            if of == "event":
                assert q.clusters == len(per_unit)
                below = [sum(a <= expected[0] for a in v) for v in per_unit.values()]
                assert q.below_sum == sum(below)
                assert q.count_sum == values.size
    duck.close()


# --- KPI-style: the series and a key result ---------------------------------------------------
@pytest.mark.django_db
def test_the_series_gives_each_period_its_own_quantile_and_interval(editor):
    workspace = editor.workspace
    now = datetime.now(tz=UTC).replace(microsecond=0)
    day1 = (now - timedelta(days=30)).replace(hour=12, minute=0, second=0)
    events = []
    for d, scale in ((0, 1.0), (1, 3.0)):
        for u in range(150):
            unit = f"d{d}u{u}"
            signup = day1 + timedelta(days=d, minutes=u)
            events.append({"event": "signup", "distinct_id": unit, "timestamp": signup.isoformat()})
            events.append(
                {
                    "event": "order",
                    "distinct_id": unit,
                    "timestamp": (signup + timedelta(hours=1)).isoformat(),
                    "properties": {"amount": scale * (u + 1)},
                }
            )
    events_ingest(workspace=workspace, raw_events=events)
    editor.client.post(URL, {"key": "p90", "name": "P90 spend", **P90_SPEND}, format="json")
    response = editor.client.get(
        f"{URL}p90/values",
        {
            "from": str(day1.date()),
            "to": str((day1 + timedelta(days=2)).date()),
            "start_event": "signup",
        },
    )
    assert response.status_code == 200, response.json()
    points = response.json()["results"]
    assert [p["n"] for p in points] == [150, 150, 0]
    expected = [np.quantile(np.arange(1, 151) * s, 0.9) for s in (1.0, 3.0)]
    assert [p["value"] for p in points[:2]] == pytest.approx(expected)
    assert all(p["ci_low"] < p["value"] < p["ci_high"] for p in points[:2])
    assert points[2]["value"] is None

    too_long = editor.client.get(f"{URL}p90/values", {"from": "2024-01-01", "to": "2024-12-31"})
    assert too_long.status_code == 400
    assert "at most 62 periods" in too_long.json()["errors"]["from"][0]


@pytest.mark.django_db
def test_a_key_result_on_a_quantile_metric_measures_the_quantile_of_its_cohort(workspace):
    from outcomes.okrs.progress import key_result_measure
    from outcomes.okrs.services.key_results import key_result_create
    from outcomes.okrs.services.objectives import objective_create

    now = datetime(2026, 4, 20, tzinfo=UTC)
    events = []
    hours = []
    for u in range(300):
        signup = now - timedelta(days=20, minutes=u)  # one matured 28-day cohort
        events.append({"event": "signup", "distinct_id": f"u{u}", "timestamp": signup.isoformat()})
        if u % 3:  # a third never orders: no value
            hours.append(1.0 + u % 50)
            at = signup + timedelta(hours=1.0 + u % 50)
            events.append({"event": "order", "distinct_id": f"u{u}", "timestamp": at.isoformat()})
    events_ingest(workspace=workspace, raw_events=events)
    metric = metric_create(
        workspace=workspace,
        key="first-order-p75",
        name="Hours to first order",
        spec={
            "type": "quantile",
            "event": "order",
            "window_days": 7,
            "quantile": 0.75,
            "quantile_of": "unit",
        },
        direction="decrease",
    )
    objective = objective_create(workspace=workspace, title="Faster value", quarter="2026-Q2")
    key_result = key_result_create(
        objective=objective,
        title="Cut p75 time to first order",
        metric_key=metric.key,
        target=10.0,
        start_event="signup",
        now=now,
    )
    measured = key_result_measure(key_result=key_result, as_of=now)
    assert measured.units == 300
    assert measured.value == pytest.approx(np.quantile(hours, 0.75), rel=1e-9)
