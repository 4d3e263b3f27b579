"""Fixtures of the KPI tests: the generated events, stored and configured."""

from __future__ import annotations

import pytest

from tests.outcomes.support import Data, configure, generate, store


@pytest.fixture
def kpi_data(workspace) -> Data:
    data = generate(seed=7)
    store(workspace, data)
    configure(workspace)
    return data
