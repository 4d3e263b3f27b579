"""The KPI API: reads of the cache (series, weekly roll-ups, cohort table, dashboard, PQLs as
JSON and CSV, feature requests), settings, recompute jobs, bad input and roles."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest

from outcomes.kpis.models import KpiSettings, KpiValue, ProductQualifiedLead
from outcomes.kpis.refresh import kpis_refresh
from plg_platform.clock import local_today
from plg_platform.models import AuditLog, BackgroundJob
from tests.outcomes.support import NOW, Data, configure, generate, store

pytestmark = pytest.mark.django_db

SERIES = "/api/v1/kpis/{kpi}/series"


@pytest.fixture
def cached(workspace):
    data = generate(seed=5)
    store(workspace, data)
    configure(workspace)
    kpis_refresh(workspace=workspace, now=NOW)
    return data


def _rows(workspace, kpi, period="day", segment="", dimension=""):
    return {
        r.date: r
        for r in KpiValue.objects.filter(
            workspace=workspace, kpi=kpi, period=period, segment=segment, dimension=dimension
        )
    }


def test_a_daily_series_is_read_from_the_cache_with_its_definition(viewer, cached):
    response = viewer.client.get(
        SERIES.format(kpi="dau"), {"from": "2026-03-27", "to": "2026-03-31"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["kpi"]["key"] == "dau"
    assert "Distinct users active" in body["kpi"]["definition"]
    cached_rows = _rows(viewer.workspace, "dau")
    assert [(p["period_start"], p["value"]) for p in body["results"]] == [
        (day.isoformat(), cached_rows[day].value)
        for day in (date(2026, 3, 27) + timedelta(days=i) for i in range(5))
    ]
    assert all(p["computed"] for p in body["results"])


def test_weekly_series_roll_days_up_by_each_kpis_rule(viewer, cached):
    workspace = viewer.workspace
    monday, sunday = date(2026, 3, 23), date(2026, 3, 29)
    week = [monday + timedelta(days=i) for i in range(7)]

    def weekly(kpi):
        response = viewer.client.get(
            SERIES.format(kpi=kpi),
            {"from": monday.isoformat(), "to": sunday.isoformat(), "interval": "week"},
        )
        assert response.status_code == 200, response.json()
        (point,) = response.json()["results"]
        assert point["period_start"] == monday.isoformat()
        return point["value"]

    dau, mau, wau = _rows(workspace, "dau"), _rows(workspace, "mau"), _rows(workspace, "wau")
    assert weekly("dau") == pytest.approx(sum(dau[d].value for d in week) / 7)  # the mean day
    assert weekly("wau") == wau[sunday].value  # the week's last day: Monday to Sunday
    assert weekly("stickiness_dau_mau") == pytest.approx(
        sum(dau[d].value for d in week) / sum(mau[d].value for d in week)
    )
    added = _rows(workspace, "new_mrr")
    assert weekly("new_mrr") == pytest.approx(sum(added[d].value for d in week))  # a flow: Σ
    native = _rows(workspace, "activation_rate", period="week")[monday]
    assert weekly("activation_rate") == native.value  # the week's own cohort


def test_segment_and_feature_filters(viewer, cached):
    workspace = viewer.workspace
    day = date(2026, 4, 1)
    segment_rows = _rows(workspace, "mau", segment="plan=pro")
    response = viewer.client.get(
        SERIES.format(kpi="mau"), {"from": "2026-04-01", "to": "2026-04-01", "segment": "plan=pro"}
    )
    assert response.json()["results"][0]["value"] == segment_rows[day].value
    feature = (
        KpiValue.objects.filter(workspace=workspace, kpi="feature_adoption", date=day, segment="")
        .order_by("dimension")
        .first()
    )
    response = viewer.client.get(
        SERIES.format(kpi="feature_adoption"),
        {"from": "2026-04-01", "to": "2026-04-01", "dimension": feature.dimension},
    )
    assert response.json()["results"][0]["value"] == feature.value
    response = viewer.client.get("/api/v1/kpis/feature-adoption", {"on": "2026-04-01"})
    features = {f["feature"]: f["value"] for f in response.json()["results"]}
    assert features[feature.dimension] == feature.value


def test_reads_never_recompute_from_events(viewer, cached, django_assert_max_num_queries):
    before = viewer.client.get(
        SERIES.format(kpi="dau"), {"from": "2026-04-20", "to": "2026-04-20"}
    ).json()
    extra = Data()
    extra.add("newcomer", "session", datetime(2026, 4, 20, 12, tzinfo=NOW.tzinfo))
    store(viewer.workspace, extra)
    with django_assert_max_num_queries(8):
        after = viewer.client.get(
            SERIES.format(kpi="dau"), {"from": "2026-04-20", "to": "2026-04-20"}
        ).json()
    assert after["results"] == before["results"]


def test_the_cohort_table_comes_from_the_cache(viewer, cached):
    response = viewer.client.get(
        "/api/v1/kpis/cohort-table", {"from": "2026-02-02", "to": "2026-03-01"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert "weeks since signup" in body["definition"].lower() or "week k" in body["definition"]
    assert [r["cohort_start"] for r in body["results"]] == [
        "2026-02-02",
        "2026-02-09",
        "2026-02-16",
        "2026-02-23",
    ]
    first = body["results"][0]
    sizes = _rows(viewer.workspace, "new_signups", period="week")
    assert first["size"] == sizes[date(2026, 2, 2)].value
    cell = first["cells"][1]
    row = KpiValue.objects.get(
        workspace=viewer.workspace,
        kpi="cohort_retention",
        date=date(2026, 2, 2),
        dimension="1",
        segment="",
    )
    assert (cell["weeks_since_signup"], cell["units"], cell["retained"]) == (
        1,
        row.denominator,
        row.numerator,
    )
    assert [c["weeks_since_signup"] for c in first["cells"]] == list(range(len(first["cells"])))


def test_the_dashboard_separates_value_creation_from_value_capture(viewer, cached):
    response = viewer.client.get("/api/v1/kpis/dashboard", {"on": "2026-04-20"})
    assert response.status_code == 200, response.json()
    body = response.json()
    creation = {c["key"]: c for c in body["value_creation"]}
    capture = {c["key"]: c for c in body["value_capture"]}
    assert {"dau", "mau", "stickiness_dau_mau", "activation_rate", "pes", "nps"} <= set(creation)
    assert {"mrr", "new_mrr", "churned_mrr", "free_to_paid"} <= set(capture)
    assert not set(creation) & set(capture)
    mau = creation["mau"]
    assert mau["value"] == _rows(viewer.workspace, "mau")[date(2026, 4, 20)].value
    assert mau["definition"]
    assert mau["configured"]
    assert len(mau["series"]) == 30
    assert capture["mrr"]["value"] == _rows(viewer.workspace, "mrr")[date(2026, 4, 20)].value
    # Cohort KPIs: the last 28 days of cohorts with matured users.
    d30 = _rows(viewer.workspace, "retention_d30")
    sizes = {d: r.numerator for d, r in _rows(viewer.workspace, "new_signups").items()}
    end = max(
        d
        for d, r in d30.items()
        if r.denominator > 0 and r.denominator == sizes[d] and d <= date(2026, 4, 20)
    )
    window = [r for d, r in d30.items() if end - timedelta(days=28) < d <= end]
    card = creation["retention_d30"]
    assert card["window_end"] == end.isoformat()
    assert end <= NOW.date() - timedelta(days=31)  # matured by the cut-off of the refresh
    assert card["value"] == pytest.approx(
        sum(r.numerator for r in window) / sum(r.denominator for r in window)
    )
    signups = _rows(viewer.workspace, "new_signups")
    assert creation["new_signups"]["value"] == sum(
        r.numerator for d, r in signups.items() if date(2026, 3, 23) < d <= date(2026, 4, 20)
    )
    weeks = _rows(viewer.workspace, "time_to_value", period="week")
    week_sizes = {d: r.numerator for d, r in _rows(viewer.workspace, "new_signups", "week").items()}
    latest = max(
        d
        for d, r in weeks.items()
        if r.denominator
        and r.denominator == week_sizes[d]
        and d + timedelta(days=6) <= date(2026, 4, 20)
    )
    assert creation["time_to_value"]["value"] == weeks[latest].value
    assert creation["time_to_value"]["window_end"] == (latest + timedelta(days=6)).isoformat()
    assert body["feature_adoption"]
    assert body["top_feature_requests"]
    assert (
        body["pql_count"] == ProductQualifiedLead.objects.filter(workspace=viewer.workspace).count()
    )


def test_pqls_as_json_and_as_csv(viewer, cached):
    workspace = viewer.workspace
    ProductQualifiedLead.objects.create(
        workspace=workspace,
        unit_type="user",
        unit_id="=HYPERLINK(1)",
        event_count=1,
        users=1,
        first_event_at=NOW,
        last_event_at=NOW,
        qualified_at=NOW,
        plan="free",
        computed_at=NOW,
    )
    leads = list(
        ProductQualifiedLead.objects.filter(workspace=workspace).order_by("-event_count", "unit_id")
    )
    body = viewer.client.get("/api/v1/kpis/pqls").json()
    assert body["count"] == len(leads)
    assert [r["unit_id"] for r in body["results"]] == [lead.unit_id for lead in leads]
    response = viewer.client.get("/api/v1/kpis/pqls.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["unit_type", "unit_id", "event_count"]
    assert [r[1] for r in rows[1:]] == [
        "'=HYPERLINK(1)" if lead.unit_id.startswith("=") else lead.unit_id for lead in leads
    ]
    free = viewer.client.get("/api/v1/kpis/pqls", {"plan": "free"}).json()
    assert {r["plan"] for r in free["results"]} == {"free"}


def test_feature_requests_are_listed_by_arr(viewer, cached):
    body = viewer.client.get("/api/v1/kpis/feature-requests").json()
    arrs = [r["arr"] for r in body["results"]]
    assert body["count"] > 0
    assert arrs == sorted(arrs, reverse=True)


def test_the_catalogue_says_which_kpis_the_settings_allow(viewer, workspace):
    body = viewer.client.get("/api/v1/kpis/").json()
    entries = {k["key"]: k for k in body["results"]}
    assert entries["dau"]["configured"]
    assert not entries["activation_rate"]["configured"]
    assert all(k["definition"] for k in body["results"])


def test_a_recompute_is_a_job_with_a_status_endpoint(editor, cached):
    response = editor.client.post(
        "/api/v1/kpis/recompute", {"from": "2026-04-01", "to": "2026-04-07"}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    status = editor.client.get(body["status_url"]).json()
    assert (status["id"], status["status"], status["kind"]) == (
        body["job_id"],
        "queued",
        "kpi_recompute",
    )
    again = editor.client.post(
        "/api/v1/kpis/recompute", {"from": "2026-04-01", "to": "2026-04-07"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["errors"] == {"job": [again.json()["errors"]["job"][0]]}
    assert BackgroundJob.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "params", "status", "field"),
    [
        (SERIES.format(kpi="dau"), {"from": "2026-04-02", "to": "2026-04-01"}, 400, "from"),
        (SERIES.format(kpi="dau"), {"from": "2024-01-01", "to": "2026-04-01"}, 400, "to"),
        (SERIES.format(kpi="dau"), {"interval": "month"}, 400, "interval"),
        (SERIES.format(kpi="dau"), {"from": "yesterday"}, 400, "from"),
        (SERIES.format(kpi="dau"), {"colour": "red"}, 400, "colour"),
        (SERIES.format(kpi="happiness"), {}, 404, "kpi"),
        (SERIES.format(kpi="cohort_retention"), {}, 400, "kpi"),
        ("/api/v1/kpis/cohort-table", {"from": "2026-04-02", "to": "2026-04-01"}, 400, "from"),
        ("/api/v1/kpis/jobs/999999", {}, 404, "job"),
    ],
)
def test_bad_reads_name_the_field(viewer, url, params, status, field):
    response = viewer.client.get(url, params)
    assert response.status_code == status, response.json()
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"core_events": ["$exposure"]}, "core_events"),
        ({"activation_window_days": 0}, "activation_window_days"),
        ({"feature_property": "a b"}, "feature_property"),
        ({"segment_properties": ["a", "b", "c", "d"]}, "segment_properties"),
        ({"pql_unit": "team"}, "pql_unit"),
        ({"favourite_colour": "red"}, "favourite_colour"),
        (
            {"aha_event": "doc", "activity_events": ["session"], "core_events": ["doc"]},
            "core_events",
        ),
    ],
)
def test_bad_settings_are_refused_by_field_and_nothing_is_written(editor, body, field):
    before = editor.client.get("/api/v1/kpis/settings").json()
    response = editor.client.patch("/api/v1/kpis/settings", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert editor.client.get("/api/v1/kpis/settings").json() == before
    assert not AuditLog.objects.filter(action="kpi_settings.update").exists()


def test_settings_change_is_audited_and_resets_the_cache_mark(editor, cached):
    response = editor.client.patch(
        "/api/v1/kpis/settings", {"aha_event": "share", "activation_window_days": 5}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["aha_event"] == "share"
    assert response.json()["computed_through"] is None
    log = AuditLog.objects.filter(action="kpi_settings.update", actor=editor.user).get()
    assert log.changes["aha_event"] == {"from": "doc", "to": "share"}


def test_recompute_bad_input_names_the_field(editor):
    today = datetime.now(tz=NOW.tzinfo).date()
    for body, field in (
        ({"from": "2026-04-02", "to": "2026-04-01"}, "from"),
        ({"from": "2026-04-02"}, "to"),
        ({"from": today.isoformat(), "to": (today + timedelta(days=2)).isoformat()}, "to"),
    ):
        response = editor.client.post("/api/v1/kpis/recompute", body, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["errors"]
    assert not BackgroundJob.objects.exists()


def test_viewers_read_editors_write_and_workspaces_stay_apart(viewer, editor, outsider, cached):
    assert viewer.client.get("/api/v1/kpis/dashboard").status_code == 200
    assert (
        viewer.client.patch("/api/v1/kpis/settings", {"aha_event": "x"}, format="json").status_code
        == 403
    )
    assert (
        viewer.client.post(
            "/api/v1/kpis/recompute", {"from": "2026-04-01", "to": "2026-04-01"}, format="json"
        ).status_code
        == 403
    )
    job = editor.client.post(
        "/api/v1/kpis/recompute", {"from": "2026-04-01", "to": "2026-04-01"}, format="json"
    ).json()
    assert outsider.client.get(f"/api/v1/kpis/jobs/{job['job_id']}").status_code == 404
    theirs = outsider.client.get(
        SERIES.format(kpi="dau"), {"from": "2026-04-01", "to": "2026-04-01"}
    )
    assert theirs.json()["results"][0]["computed"] is False
    assert outsider.client.get("/api/v1/kpis/pqls").json()["count"] == 0
    assert KpiSettings.objects.filter(workspace=outsider.workspace).count() == 0


def test_feature_adoption_lists_features_nobody_used_this_month_at_zero(viewer):
    data = Data()
    for i in range(60):
        day = datetime(2026, 2, 20, 10, tzinfo=NOW.tzinfo) + timedelta(days=i)
        data.add("daily", "session", day)
    data.add("once", "share", datetime(2026, 3, 2, 10, tzinfo=NOW.tzinfo))
    store(viewer.workspace, data)
    configure(viewer.workspace, segment_properties=[])
    kpis_refresh(workspace=viewer.workspace, now=datetime(2026, 4, 20, 12, tzinfo=NOW.tzinfo))
    body = viewer.client.get("/api/v1/kpis/feature-adoption").json()
    assert body["date"] == "2026-04-20"
    assert body["results"] == [{"feature": "share", "adopters": 0, "active_users": 1, "value": 0.0}]


def test_dashboard_as_of_is_yesterday_when_nothing_is_computed_yet(viewer):
    body = viewer.client.get("/api/v1/kpis/dashboard").json()
    today = local_today(viewer.workspace)
    assert body["as_of"] == (today - timedelta(days=1)).isoformat()
    assert body["computed_through"] is None
