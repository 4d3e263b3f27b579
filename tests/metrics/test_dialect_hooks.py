"""Dialect hooks that rewrite statement shapes an engine runs wrongly or slowly: nested integer
division, scalar lookups by an outer column (ClickHouse, Spark) and counting recursive CTEs
(Spark). Each rewrite gives the rows the original gives, checked on DuckDB, which runs both.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from metrics.engine.dialects import get_dialect
from metrics.engine.dialects.base import decorrelate
from metrics.engine.dialects.spark import counting_sequence


def _run(sql: str) -> list[tuple]:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE ev (id INT, unit VARCHAR)")
    connection.execute("INSERT INTO ev VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'a')")
    connection.execute("CREATE TABLE person (ws INT, unit VARCHAR, plan VARCHAR)")
    connection.execute("INSERT INTO person VALUES (1, 'a', 'pro'), (1, 'b', NULL), (2, 'c', 'x')")
    return connection.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("dialect", "quotient"),
    [
        ("duckdb", " // "),
        ("clickhouse", "intDiv("),
        ("spark", " DIV "),
        ("bigquery", "DIV("),
        ("snowflake", "TRUNC("),
    ],
)
def test_a_division_nested_in_another_is_integer_division_too(dialect, quotient):
    tree = sqlglot.parse_one("SELECT ((t + 5) / 2 + 3) / 7 AS w FROM x", read="sqlite")
    sql = get_dialect(dialect).render(tree, {})
    assert sql.count(quotient) == 2, sql
    if dialect == "duckdb":
        rendered = sql.replace("FROM x", "FROM (SELECT 100 AS t) AS x")
        assert _run(rendered) == [(((100 + 5) // 2 + 3) // 7,)]


def test_a_lookup_by_an_outer_column_becomes_a_left_join_with_the_same_rows():
    original = sqlglot.parse_one(
        "SELECT e.id, COALESCE((SELECT p.plan FROM person AS p WHERE p.ws = 1 "
        "AND p.unit = e.unit), '(none)') AS seg, (SELECT MAX(p2.ws) FROM person AS p2) AS top "
        "FROM ev AS e ORDER BY e.id",
        read="duckdb",
    )
    rewritten = decorrelate(original)
    sql = rewritten.sql("duckdb")
    assert "LEFT JOIN" in sql
    assert "MAX(p2.ws)" in sql  # uncorrelated subqueries stay
    expected = [(1, "pro", 2), (2, "(none)", 2), (3, "(none)", 2), (4, "pro", 2)]
    assert _run(original.sql("duckdb")) == _run(sql) == expected


def test_only_counting_recursive_ctes_become_sequences():
    counting = sqlglot.parse_one(
        "WITH RECURSIVE days(day) AS (SELECT 5 UNION ALL SELECT day + 1 FROM days "
        "WHERE day < 9) SELECT day FROM days",
        read="sqlite",
    )
    doubling = sqlglot.parse_one(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x * 2 FROM n WHERE x < 9) "
        "SELECT x FROM n",
        read="sqlite",
    )
    assert counting_sequence(doubling.find(sqlglot.exp.CTE)) is None
    spark = get_dialect("spark").render(counting, {})
    assert spark.startswith("WITH days(day) AS (SELECT EXPLODE(SEQUENCE(5, GREATEST(5, 9)))")
    assert "RECURSIVE" in get_dialect("spark").render(doubling, {})
    # The same days as the recursion (DuckDB: unnest(range) is its explode(sequence)).
    assert _run(counting.sql("duckdb")) == [(d,) for d in range(5, 10)]
