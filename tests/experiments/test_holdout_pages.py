"""The holdouts page: status, size, period, the comparison in plain language; create and end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from experiments.holdouts.models import Holdout
from experiments.holdouts.services import holdout_report_create
from tests.experiments.test_holdout_impact import END, _holdout, _key_result, _plant

pytestmark = pytest.mark.django_db


def _browser(actor) -> Client:
    client = Client()
    client.force_login(actor.user)
    return client


def test_page_shows_the_holdout_and_its_measured_impact_in_plain_language(
    viewer, workspace, make_metric
):
    metric = make_metric(workspace, "activated", window_days=7)
    _key_result(workspace, metric)
    holdout = _holdout(workspace)
    _plant(workspace, holdout)
    holdout_report_create(holdout=holdout, now=END + timedelta(days=1))

    page = _browser(viewer).get("/holdouts/").content.decode()

    assert "H1 holdout" in page
    assert "Ended" in page
    assert "20% of users" in page
    assert "5 Jan 2026 – 6 Mar 2026" in page
    assert "Cumulative impact at the end of the period" in page
    assert "activated: everyone else is +" in page
    assert "$holdout:h1" in page
    assert "New holdout" not in page  # viewers read, editors change


def test_editor_creates_a_holdout_from_the_page_and_errors_name_the_field(editor):
    browser = _browser(editor)
    today = datetime.now(tz=UTC).date()
    form = {
        "name": "Q3 holdout",
        "key": "q3",
        "share_percent": "5",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=90)).isoformat(),
    }

    bad = browser.post("/holdouts/", {**form, "share_percent": "60"})
    created = browser.post("/holdouts/", form)

    assert bad.status_code == 200
    assert "share must be above 0 and at most 0.5" in bad.content.decode()
    assert created.status_code == 302
    holdout = Holdout.objects.get(key="q3")
    assert holdout.share == 0.05
    assert holdout.ends_at.date() == today + timedelta(days=90)
    page = browser.get("/holdouts/").content.decode()
    assert "Running" in page
    assert "held-out users get no variant from any experiment" in page

    ended = browser.post("/holdouts/q3/end")
    assert ended.status_code == 302
    assert "Ended" in browser.get("/holdouts/").content.decode()


def test_other_workspaces_holdouts_are_not_shown_or_changed(editor, outsider):
    now = datetime.now(tz=UTC)
    Holdout.objects.create(
        workspace=editor.workspace,
        key="h1",
        name="H1 holdout",
        share=0.05,
        starts_at=now,
        ends_at=now + timedelta(days=30),
    )

    assert "H1 holdout" not in _browser(outsider).get("/holdouts/").content.decode()
    assert _browser(outsider).post("/holdouts/h1/end").status_code in (403, 404)
