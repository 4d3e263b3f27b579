"""Golden SQL: the statements each dialect renders, kept in tests/metrics/golden/.

BigQuery, Snowflake and Trino have no server here, so their statements are checked this way
only: a change in what we send them shows up as a diff to review (rewrite the files with
``UPDATE_GOLDEN=1 pytest tests/metrics/test_dialect_snapshots.py``), and every rendered
statement must parse back with sqlglot in its own dialect. The runnable engines are
snapshot-tested too, so a reviewer sees every engine's text side by side.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from metrics.engine.compiler import compile_metrics
from metrics.engine.definition import parse_definition
from metrics.engine.dialects import DIALECT_NAMES, RUNNABLE
from metrics.engine.event_tables import EventTable, ExposureTable
from metrics.engine.populations import ExposurePopulation, FirstSeenPopulation, TablePopulation
from metrics.engine.time_units import DAY_US
from tests.metrics.reference import CUTOFF_US, SPECS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# The warehouse table a team already has: its own names, a TIMESTAMP, typed columns + JSON.
WAREHOUSE_EVENTS = EventTable(
    table="analytics.events",
    event_column="event_name",
    unit_column="user_id",
    timestamp_column="event_time",
    time_type="timestamp",
    properties_column="props",
    property_columns=(("plan", "plan_tier"), ("amount", "amount_usd")),
    workspace_column="",
    persons_table="analytics.users",
)
WAREHOUSE_EXPOSURES = ExposureTable(table="analytics.exposures", experiment_id="checkout-v2")

CASES = {
    "first_seen_all_types": dict(
        metrics=[parse_definition(s) for s in SPECS],
        population=FirstSeenPopulation(event="signup", bucket_us=7 * DAY_US),
    ),
    "experiment_segments_cuped": dict(
        metrics=[parse_definition(s) for s in SPECS[:8]],
        population=TablePopulation(
            table="experiments_exposure",
            unit_column="unit_id",
            start_column="first_exposed_us",
            group_column="variant_key",
            filters=(("experiment_id", 3),),
            exclude_column="excluded",
            segment_property="plan",
            bucket_us=DAY_US,
        ),
        covariate_days=7,
    ),
    # A funnel (its own CTE, window aggregates per step) beside a conversion, by variant,
    # segment and day of first exposure, with CUPED (the conversion's; funnels carry none).
    "experiment_funnel": dict(
        metrics=[
            parse_definition(
                {
                    "key": "activation",
                    "type": "funnel",
                    "window_days": 7,
                    "steps": [
                        {"event": "signup"},
                        {
                            "event": "doc",
                            "filters": [{"property": "plan", "op": "in", "value": ["pro", 5]}],
                        },
                        {
                            "event": "upgrade",
                            "filters": [{"property": "amount", "op": "gte", "value": 10}],
                        },
                    ],
                }
            ),
            parse_definition(SPECS[0]),
        ],
        population=TablePopulation(
            table="experiments_exposure",
            unit_column="unit_id",
            start_column="first_exposed_us",
            group_column="variant_key",
            filters=(("experiment_id", 3),),
            exclude_column="excluded",
            segment_property="plan",
            bucket_us=DAY_US,
        ),
        covariate_days=7,
        events=WAREHOUSE_EVENTS,
    ),
    "warehouse_native": dict(
        metrics=[parse_definition(s) for s in SPECS],
        population=ExposurePopulation(exposures=WAREHOUSE_EXPOSURES, segment_property="country"),
        covariate_days=7,
        events=WAREHOUSE_EVENTS,
    ),
}


def _render(dialect: str, case: str) -> str:
    query = compile_metrics(dialect=dialect, workspace_id=1, cutoff_us=CUTOFF_US, **CASES[case])
    params = "\n".join(f"-- {k} = {v!r}" for k, v in query.params.items())
    return f"{query.sql}\n{params}\n"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_rendered_statement_matches_golden_file(dialect: str, case: str) -> None:
    path = GOLDEN / f"{case}.{dialect}.sql"
    text = _render(dialect, case)
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"{path.name} was missing: written; review and commit it")
    assert text == path.read_text(), f"{path.name} differs: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_rendered_statement_parses_back_in_its_dialect(dialect: str, case: str) -> None:
    query = compile_metrics(dialect=dialect, workspace_id=1, cutoff_us=CUTOFF_US, **CASES[case])
    tree = sqlglot.parse_one(query.sql, read=dialect_for_sqlglot(dialect))
    assert tree.find(sqlglot.exp.With) is not None
    # Every metric's columns are in the statement's output.
    names = {e.alias_or_name for e in tree.expressions}
    assert {"grp", "seg", "m0_units", "m0_sum"} <= names


def test_every_dialect_is_snapshot_tested_and_runnable_ones_run_elsewhere() -> None:
    assert set(RUNNABLE) < set(DIALECT_NAMES)
    assert {"bigquery", "snowflake", "trino"} == set(DIALECT_NAMES) - set(RUNNABLE)


def dialect_for_sqlglot(name: str) -> str:
    from metrics.engine.dialects import get_dialect

    return get_dialect(name).sqlglot
