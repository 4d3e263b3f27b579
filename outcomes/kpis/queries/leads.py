"""Leads: product-qualified leads (enough activity in the last days) and feature requests."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from metrics.public import RenderedQuery, with_ctes
from outcomes.kpis.queries.statement import KpiStatement

# --- 7. product-qualified leads ------------------------------------------------------------
PQL_COLUMNS = (
    "unit_id",
    "event_count",
    "users",
    "first_us",
    "last_us",
    "qualified_us",
    "plan",
    "arr",
)


def pql_query(
    *,
    dialect: str,
    workspace_id: int,
    event: str,
    min_count: int,
    since_us: int,
    cutoff_us: int,
    account_property: str = "",
    arr_property: str = "",
    plan_property: str = "",
) -> RenderedQuery:
    """Units (users, or accounts through ``account_property``) with at least ``min_count``
    ``event``s in [since_us, cutoff_us): their count, distinct users, first and last event,
    the moment of the ``min_count``-th event (when they qualified), plan and ARR (the largest
    among the unit's persons)."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone="UTC")
    person_props = exp.column("properties", "pp")
    arr = s.json.number(person_props, arr_property) if arr_property else exp.null()
    plan = (
        exp.cast(s.json.text(person_props.copy(), plan_property), "TEXT")
        if plan_property
        else exp.null()
    )
    template = with_ctes(
        """
        SELECT agg.unit_id AS unit_id, agg.event_count, agg.users, agg.first_us, agg.last_us,
          agg.qualified_us, acct.plan AS plan, acct.arr AS arr
        FROM agg LEFT JOIN acct ON acct.unit_id = agg.unit_id
        WHERE agg.event_count >= :min_count
        ORDER BY agg.event_count DESC, agg.unit_id
        """,
        {
            "w": """
                SELECT :unit AS unit_id, e.distinct_id AS distinct_id, e.timestamp_us AS t,
                  ROW_NUMBER() OVER (PARTITION BY :unit ORDER BY e.timestamp_us, e.id) AS rn
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.event = :event
                  AND e.timestamp_us >= :since AND e.timestamp_us < :cutoff
            """,
            "agg": """
                SELECT w.unit_id AS unit_id, COUNT(*) AS event_count,
                  COUNT(DISTINCT w.distinct_id) AS users, MIN(w.t) AS first_us,
                  MAX(w.t) AS last_us, MAX(CASE WHEN w.rn = :min_count THEN w.t END) AS qualified_us
                FROM w GROUP BY w.unit_id
            """,
            "acct": """
                SELECT :person_unit AS unit_id, MAX(:arr) AS arr, MAX(:plan) AS plan
                FROM PERSONS AS pp
                WHERE pp.workspace_id = :ws
                GROUP BY :person_unit
            """,
        },
    )
    unit = s.account_of(account_property)
    person_unit = s.account_of(account_property, person="pp", fallback="pp")
    tree = s.fill(
        template,
        unit=unit,
        person_unit=person_unit,
        arr=arr,
        plan=plan,
        ws=workspace_id,
        event=event,
        since=since_us,
        cutoff=cutoff_us,
        min_count=min_count,
    )
    return s.render(tree, PQL_COLUMNS)


# --- 8. feature requests -----------------------------------------------------------------
FEATURE_REQUEST_COLUMNS = (
    "request",
    "text",
    "requests",
    "accounts",
    "arr",
    "first_us",
    "last_us",
)


def feature_request_query(
    *,
    dialect: str,
    workspace_id: int,
    event: str,
    text_property: str,
    since_us: int,
    cutoff_us: int,
    account_property: str = "",
    arr_property: str = "",
    topics: Sequence[tuple[str, Sequence[str]]] = (),
) -> RenderedQuery:
    """Feature requests in [since_us, cutoff_us): the text property of feedback events, grouped
    by topic (the first of ``topics`` with a keyword inside the lower-cased text) or else by
    the lower-cased, trimmed text; how many, from how many distinct accounts (users without one
    count as their own account), and the Σ of those accounts' ARR (each account once)."""
    s = KpiStatement(dialect=dialect, workspace_id=workspace_id, zone="UTC")
    text = exp.cast(s.json.text(exp.column("properties", "e"), text_property), "TEXT")
    request: exp.Expression = exp.Lower(this=exp.Trim(this=text.copy()))
    shown: exp.Expression = exp.Trim(this=text.copy())
    if topics:
        key_case, shown_case = exp.Case(), exp.Case()
        for topic, keywords in topics:
            found = exp.or_(
                *(
                    exp.GT(
                        this=exp.StrPosition(
                            this=exp.Lower(this=text.copy()), substr=s.bind(keyword.lower())
                        ),
                        expression=exp.Literal.number(0),
                    )
                    for keyword in keywords
                )
            )
            key_case = key_case.when(found, s.bind(topic.strip().lower()))
            shown_case = shown_case.when(found.copy(), s.bind(topic.strip()))
        request, shown = key_case.else_(request), shown_case.else_(shown)
    arr = (
        s.json.number(exp.column("properties", "pp"), arr_property) if arr_property else exp.null()
    )
    template = with_ctes(
        """
        SELECT per_account.request AS request, MIN(per_account.text) AS text,
          SUM(per_account.n) AS requests, COUNT(*) AS accounts,
          SUM(COALESCE(acct.arr, 0)) AS arr,
          MIN(per_account.first_us) AS first_us, MAX(per_account.last_us) AS last_us
        FROM per_account LEFT JOIN acct ON acct.unit_id = per_account.unit_id
        GROUP BY per_account.request
        ORDER BY arr DESC, requests DESC, request
        """,
        {
            "req": """
                SELECT :request AS request, :shown AS text, :unit AS unit_id,
                  e.timestamp_us AS t
                FROM EVENTS AS e
                LEFT JOIN PERSONS AS p
                  ON p.workspace_id = :ws AND p.distinct_id = e.distinct_id
                WHERE e.workspace_id = :ws AND e.event = :event
                  AND e.timestamp_us >= :since AND e.timestamp_us < :cutoff
                  AND :text IS NOT NULL AND TRIM(:text) <> ''
            """,
            "per_account": """
                SELECT req.request AS request, MIN(req.text) AS text, req.unit_id AS unit_id,
                  COUNT(*) AS n, MIN(req.t) AS first_us, MAX(req.t) AS last_us
                FROM req GROUP BY req.request, req.unit_id
            """,
            "acct": """
                SELECT :person_unit AS unit_id, MAX(:arr) AS arr
                FROM PERSONS AS pp
                WHERE pp.workspace_id = :ws
                GROUP BY :person_unit
            """,
        },
    )
    person_unit = s.account_of(account_property, person="pp", fallback="pp")
    tree = s.fill(
        template,
        text=text,
        request=request,
        shown=shown,
        unit=s.account_of(account_property),
        person_unit=person_unit,
        arr=arr,
        ws=workspace_id,
        event=event,
        since=since_us,
        cutoff=cutoff_us,
    )
    return s.render(tree, FEATURE_REQUEST_COLUMNS)
