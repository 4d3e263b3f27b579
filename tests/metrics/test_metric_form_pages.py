"""Metric pages: the list, and the form that defines one (a quantile metric among them), with
the service's errors shown beside their fields and nothing written; viewers only read."""

from __future__ import annotations

import pytest
from django.urls import reverse

from metrics.models import Metric
from metrics.services import metric_create

pytestmark = pytest.mark.django_db

LIST = reverse("metrics_web:metrics")
NEW = reverse("metrics_web:metric-create")
QUANTILE = {
    "name": "p90 order value",
    "key": "order-value-p90",
    "type": "quantile",
    "direction": "increase",
    "kind": "value_capture",
    "unit": "user",
    "event": "order",
    "property": "amount",
    "window_days": "14",
    "quantile": "0.9",
    "quantile_of": "unit",
    # Left from another type before switching: not the quantile's, so not sent.
    "min_count": "3",
    "cap_type": "none",
}


def _signed_in(client, actor):
    client.force_login(actor.user)
    return client


def test_an_editor_defines_a_quantile_metric_and_sees_it_listed(client, editor):
    client = _signed_in(client, editor)
    form = client.get(NEW).content.decode()
    assert 'data-show-for="quantile"' in form
    assert "Quantile of" in form

    response = client.post(NEW, QUANTILE)
    assert response.status_code == 302
    metric = Metric.objects.get(key="order-value-p90")
    assert (metric.type, metric.quantile, metric.quantile_of, metric.property) == (
        "quantile",
        0.9,
        "unit",
        "amount",
    )
    assert metric.min_count is None  # the moment's field was not the quantile's
    page = client.get(LIST).content.decode()
    assert "p90 of Σ amount per unit: order, 14 days" in page
    assert "Saved the metric" in page


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"quantile": "1.5"}, "quantile", "between 0.001 and 0.999"),
        ({"quantile_of": ""}, "quantile_of", "Say what the quantile is of"),
        ({"quantile_of": "event", "property": ""}, "property", "numeric property"),
        ({"filters": "plan = pro"}, "filters", "JSON list"),
    ],
)
def test_a_bad_definition_shows_the_error_by_its_field_and_writes_nothing(
    client, editor, changes, field, fragment
):
    response = _signed_in(client, editor).post(NEW, {**QUANTILE, **changes})
    assert response.status_code == 200  # the form again, as the outcomes pages do
    assert fragment in " ".join(response.context["form"].errors[field])
    assert "Some answers need another look" in response.content.decode()
    assert not Metric.objects.exists()


def test_a_viewer_reads_the_list_but_cannot_define(client, viewer):
    metric_create(
        workspace=viewer.workspace,
        key="aha",
        name="Aha",
        spec={"type": "conversion", "event": "doc", "window_days": 7},
    )
    client = _signed_in(client, viewer)
    page = client.get(LIST).content.decode()
    assert "<td>Conversion</td>" in page
    assert "doc within 7 days" in page
    assert "Define a metric</a>" not in page
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, QUANTILE).status_code == 403


def test_another_workspaces_metrics_are_not_listed(client, editor, outsider):
    metric_create(
        workspace=outsider.workspace,
        key="theirs",
        name="Theirs",
        spec={"type": "conversion", "event": "doc", "window_days": 7},
    )
    page = _signed_in(client, editor).get(LIST).content.decode()
    assert "theirs" not in page
    assert "No metrics yet" in page
