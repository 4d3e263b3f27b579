"""Voice of the customer: CES answers per local day, and NPS over the 30 days ending each day
with each respondent's latest answer only."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from metrics.public import RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import DAYS, MONTH_DAYS, KpiStatement, span
from plg_platform.clock import day_number

# --- 5. voice of the customer: CES answers per local day ---------------------------------
VOICE_COLUMNS = ("day", "seg", "ces_answers", "ces_sum")


def voice_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    ces_event: str,
    ces_property: str,
    ces_max: int,
    segment_property: str = "",
) -> RenderedQuery:
    """Per local day of the answer and segment: CES answers (numbers in [1, ces_max]) and
    their sum. Answers whose score is missing, not a number, or out of range are left out."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = span(zone, first_day, last_day)
    score = s.json.number(exp.column("properties", "e"), ces_property or "score")
    template = with_ctes(
        """
        SELECT ans.day AS day, ans.seg AS seg,
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
                SELECT :event_day AS day, :score AS score, :seg AS seg, 1 AS is_ces
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
                  AND :is_ces
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
        is_ces=s.is_event(ces_event),
        ces_max=ces_max,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, VOICE_COLUMNS)


# --- 6. NPS: the latest answer of each respondent in the 30 days ending each local day --------
NPS_COLUMNS = ("day", "seg", "respondents", "promoters", "detractors")


def nps_query(
    *,
    dialect: str,
    workspace_id: int,
    zone: str,
    first_day: date,
    last_day: date,
    nps_event: str,
    nps_property: str,
    segment_property: str = "",
) -> RenderedQuery:
    """Per local day d and segment: the respondents with an NPS answer (a number in [0, 10]) in
    the 30 local days ending d, and how many of them are promoters (9 to 10) or detractors
    (below 7) by their latest answer in those days (ties: the later stored). A respondent who
    answers twice counts once, as the usual NPS convention asks."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone=zone)
    lo, hi = span(zone, first_day, last_day, lookback_days=MONTH_DAYS)
    template = with_ctes(
        """
        SELECT latest.day AS day, latest.seg AS seg, COUNT(*) AS respondents,
          SUM(CASE WHEN latest.score >= 9 THEN 1 ELSE 0 END) AS promoters,
          SUM(CASE WHEN latest.score < 7 THEN 1 ELSE 0 END) AS detractors
        FROM latest
        WHERE latest.rn = 1
        GROUP BY latest.day, latest.seg
        ORDER BY latest.day, latest.seg
        """,
        {
            "days(day)": DAYS,
            "ans": """
                SELECT e.distinct_id AS unit_id, e.timestamp_us AS t, e.id AS id,
                  :event_day AS day, :score AS score
                FROM EVENTS AS e
                WHERE e.workspace_id = :ws AND e.timestamp_us >= :lo AND e.timestamp_us < :hi
                  AND :is_nps
            """,
            "valid": """
                SELECT ans.unit_id AS unit_id, ans.t AS t, ans.id AS id, ans.day AS day,
                  ans.score AS score
                FROM ans
                WHERE ans.score >= 0 AND ans.score <= 10
            """,
            "latest": """
                SELECT d.day AS day, v.score AS score, :seg AS seg,
                  ROW_NUMBER() OVER (
                    PARTITION BY d.day, v.unit_id ORDER BY v.t DESC, v.id DESC
                  ) AS rn
                FROM days AS d JOIN valid AS v ON v.day > d.day - :month AND v.day <= d.day
            """,
        },
        recursive=True,
    )
    tree = s.fill(
        template,
        event_day=s.local_day(exp.column("timestamp_us", "e"), lo, hi),
        score=s.json.number(exp.column("properties", "e"), nps_property or "score"),
        seg=s.segment_of(exp.column("unit_id", "v"), segment_property),
        ws=workspace_id,
        lo=lo,
        hi=hi,
        is_nps=s.is_event(nps_event),
        month=MONTH_DAYS,
        first_day=day_number(first_day),
        last_day=day_number(last_day),
    )
    return s.render(tree, NPS_COLUMNS)
