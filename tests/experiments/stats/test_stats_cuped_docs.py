"""docs/statistics.md tells the truth about defaults and CUPED: the defaults table shows the
calculator's and an experiment's defaults as the code has them, and the CUPED section states
where it differs from gbstats with the size measured in test_stats_cuped_conventions.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments.stats import AnalysisSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "statistics.md"


def _defaults_table() -> dict[str, list[str]]:
    text = DOC.read_text()
    section = text.split("### Defaults", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[:3] == ["setting", "calculator default", "experiment default"], header
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[2:])
    }


def test_defaults_table_shows_the_calculator_and_the_experiment_defaults():
    from django.conf import settings

    if not settings.configured:  # the stats tests may run without Django (-p no:django)
        pytest.skip("the experiment defaults need Django's settings")
    from experiments.models import Experiment

    table = _defaults_table()
    calculator = AnalysisSettings()

    def experiment_default(name: str):
        return Experiment._meta.get_field(name).default

    correction_calculator, correction_experiment, _ = table["multiple-comparison correction"]
    assert calculator.correction == "none"
    assert correction_calculator == "**none**"
    assert experiment_default("correction") == "holm"
    assert correction_experiment.startswith("**Holm**")
    cuped_calculator, cuped_experiment, _ = table["CUPED"]
    assert calculator.cuped is True
    assert experiment_default("cuped") is True
    assert cuped_experiment.startswith("**on**")
    assert table["significance level α"][1] == f"{experiment_default('alpha'):g}"
    assert table["engine"][:2] == [calculator.engine, experiment_default("engine")]
    assert table["sequential testing"][:2] == ["off", "off"]
    assert experiment_default("sequential") is False
    assert calculator.sequential is False
    assert re.sub(r"\D", "", table["sequential tuning parameter N*"][1]) == str(
        experiment_default("sequential_tuning")
    )


def test_cuped_section_states_the_difference_from_gbstats_with_its_size():
    text = DOC.read_text()
    cuped = text.split("### CUPED", 1)[1].split("\n## ", 1)[0]
    assert "as gbstats `compute_theta`" not in cuped  # it holds for two arms only
    assert "**two arms, means or conversion metrics**" in cuped
    assert "**three or more arms**" in cuped
    assert "0.009 standard errors on average (at most 0.075)" in cuped
    assert "at most 0.12% (means) and 0.15% (proportions)" in cuped
    assert "less than 1/n" in cuped
