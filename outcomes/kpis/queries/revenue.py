"""Value capture: recurring revenue moves (net, added, lost) per local day, in one statement."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from metrics.public import RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import KpiStatement, history_lo_us, span
from plg_platform.clock import day_number

# --- 6. value capture: recurring revenue moves per local day -------------------------------
REVENUE_COLUMNS = ("day", "net", "added", "lost")


def revenue_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    revenue_event: str,
    amount_property: str,
    monthly_factor: float,
    churn_event: str = "",
    account_property: str = "",
) -> RenderedQuery:
    """Moves of monthly recurring revenue per local day: each ``revenue_event`` sets its
    account's MRR to ``amount × monthly_factor`` (0 if the amount is not a number), each
    ``churn_event`` sets it to 0; a move is the difference from the account's previous MRR.
    Day -1 holds the sum of all moves before ``first_day`` (the opening MRR)."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    _, hi = span(zone, first_day, last_day)
    day = s.local_day(exp.column("timestamp_us", "deltas"), history_lo_us(), hi)
    amount = exp.Coalesce(
        this=s.json.number(exp.column("properties", "e"), amount_property),
        expressions=[exp.Literal.number(0)],
    )
    template = with_ctes(
        """
        SELECT moves.day AS day, SUM(moves.delta) AS net,
          SUM(CASE WHEN moves.delta > 0 THEN moves.delta ELSE 0 END) AS added,
          SUM(CASE WHEN moves.delta < 0 THEN 0 - moves.delta ELSE 0 END) AS lost
        FROM moves
        WHERE moves.day <= :last_day
        GROUP BY moves.day
        ORDER BY moves.day
        """,
        {
            "rev": """
                SELECT :unit AS unit_id, e.timestamp_us AS timestamp_us, e.id AS id,
                  CASE WHEN :is_revenue THEN :amount * :factor ELSE 0 END AS mrr
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.timestamp_us < :hi AND (:is_revenue OR :is_churn)
            """,
            "deltas": """
                SELECT rev.timestamp_us AS timestamp_us,
                  rev.mrr - LAG(rev.mrr, 1, 0) OVER (
                    PARTITION BY rev.unit_id ORDER BY rev.timestamp_us, rev.id) AS delta
                FROM rev
            """,
            "moves": """
                SELECT CASE WHEN :day < :first_day THEN -1 ELSE :day END AS day,
                  deltas.delta AS delta
                FROM deltas
            """,
        },
    )
    tree = s.fill(
        template,
        unit=s.account_of(account_property),
        is_revenue=s.is_event(revenue_event),
        is_churn=s.is_event(churn_event),
        amount=exp.cast(amount, "DOUBLE"),
        factor=float(monthly_factor),
        ws=workspace_id,
        hi=hi,
        day=day,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, REVENUE_COLUMNS)
