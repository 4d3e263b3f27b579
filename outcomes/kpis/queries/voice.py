"""Voice of the customer: NPS and CES answers per local day, in one statement."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from metrics.public import RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import KpiStatement, span
from plg_platform.clock import day_number

# --- 5. voice of the customer: NPS and CES answers per local day ---------------------------
VOICE_COLUMNS = (
    "day",
    "seg",
    "nps_answers",
    "promoters",
    "detractors",
    "ces_answers",
    "ces_sum",
)


def voice_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    nps_event: str,
    nps_property: str,
    ces_event: str,
    ces_property: str,
    ces_max: int,
    segment_property: str = "",
) -> RenderedQuery:
    """Per local day of the answer and segment: NPS answers (numbers in [0, 10]), promoters
    (9 to 10), detractors (below 7); CES answers (numbers in [1, ces_max]) and their sum.
    Answers whose score is missing, not a number, or out of range are left out."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = span(zone, first_day, last_day)
    props = exp.column("properties", "e")
    score = (
        exp.Case()
        .when(s.is_event(nps_event), s.json.number(props, nps_property or "score"))
        .else_(s.json.number(props.copy(), ces_property or "score"))
    )
    template = with_ctes(
        """
        SELECT ans.day AS day, ans.seg AS seg,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 0 AND ans.score <= 10
              THEN 1 ELSE 0 END) AS nps_answers,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 9 AND ans.score <= 10
              THEN 1 ELSE 0 END) AS promoters,
          SUM(CASE WHEN ans.is_nps = 1 AND ans.score >= 0 AND ans.score < 7
              THEN 1 ELSE 0 END) AS detractors,
          SUM(CASE WHEN ans.is_ces = 1 AND ans.score >= 1 AND ans.score <= :ces_max
              THEN 1 ELSE 0 END) AS ces_answers,
          SUM(CASE WHEN ans.is_ces = 1 AND ans.score >= 1 AND ans.score <= :ces_max
              THEN ans.score ELSE 0 END) AS ces_sum
        FROM ans
        WHERE ans.day >= :first_day AND ans.day <= :last_day
        GROUP BY ans.day, ans.seg
        ORDER BY ans.day, ans.seg
        """,
        {
            "ans": """
                SELECT :event_day AS day, :score AS score, :seg AS seg,
                  CASE WHEN :is_nps THEN 1 ELSE 0 END AS is_nps,
                  CASE WHEN :is_ces THEN 1 ELSE 0 END AS is_ces
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
                  AND (:is_nps OR :is_ces)
            """
        },
    )
    tree = s.fill(
        template,
        event_day=s.local_day(exp.column("timestamp_us", "e"), lo, hi),
        score=score,
        seg=s.segment_of(exp.column("distinct_id", "e"), segment_property),
        ws=workspace_id,
        lo=lo,
        hi=hi,
        is_nps=s.is_event(nps_event),
        is_ces=s.is_event(ces_event),
        ces_max=ces_max,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, VOICE_COLUMNS)
