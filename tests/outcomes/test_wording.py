"""How a metric's values are named on the pages: a share, hours or a number."""

from __future__ import annotations

import pytest

from metrics.models import Metric
from outcomes.wording import format_value, metric_unit


@pytest.mark.parametrize(
    ("fields", "unit"),
    [
        ({"type": "conversion"}, "share"),
        ({"type": "funnel"}, "share"),
        ({"type": "time_to_event"}, "hours"),
        ({"type": "quantile", "quantile_of": "unit", "property": ""}, "hours"),
        ({"type": "quantile", "quantile_of": "unit", "property": "amount"}, "number"),
        ({"type": "quantile", "quantile_of": "event", "property": "amount"}, "number"),
        ({"type": "sum", "property": "amount"}, "number"),
    ],
)
def test_a_metric_names_its_unit(fields, unit):
    assert metric_unit(Metric(**fields)) == unit


def test_values_are_written_in_their_unit():
    assert format_value(0.4321, "share") == "43.2%"
    assert format_value(12.34, "hours") == "12.3 h"
    assert format_value(None, "number") == "—"
