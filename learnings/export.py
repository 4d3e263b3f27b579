"""Learnings as CSV (one row each, for spreadsheets) and Markdown (for docs and wikis)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from learnings.models import Learning

CSV_COLUMNS = (
    "id",
    "title",
    "source",
    "learned_on",
    "quarter",
    "product_area",
    "funnel_stage",
    "loop_stage",
    "acquisition_effect",
    "retention_effect",
    "outcome",
    "impact",
    "impact_se",
    "decision",
    "decision_variant",
    "team",
    "experiment",
    "primary_metric",
    "primary_effect",
    "primary_ci_low",
    "primary_ci_high",
    "primary_p_value",
    "tags",
    "key_results",
    "hypothesis",
    "learned",
    "rationale",
    "attachments",
)
# A text cell starting with one of these is a formula to a spreadsheet: quote it (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(learning: Learning) -> dict[str, Any]:
    primary = learning.primary_result or {}
    text = {
        "title": learning.title,
        "product_area": learning.product_area.path if learning.product_area else "",
        "team": learning.team,
        "decision_variant": learning.decision_variant,
        "experiment": learning.experiment.key if learning.experiment else "",
        "primary_metric": primary.get("metric_key", ""),
        "tags": "; ".join(t.name for t in learning.tag_links.all()),
        "key_results": "; ".join(
            f"{k.key_result_id}: {k.title}" for k in learning.key_results.all()
        ),
        "hypothesis": learning.hypothesis,
        "learned": learning.learned,
        "rationale": learning.rationale,
        "attachments": " ".join(a["url"] for a in learning.attachments),
    }
    return {
        "id": learning.pk,
        "source": learning.source,
        "learned_on": learning.learned_on.isoformat(),
        "quarter": learning.quarter,
        "funnel_stage": learning.funnel_stage,
        "loop_stage": learning.loop_stage,
        "acquisition_effect": learning.acquisition_effect,
        "retention_effect": learning.retention_effect,
        "outcome": learning.outcome,
        "impact": learning.impact,
        "impact_se": learning.impact_se,
        "decision": learning.decision,
        "primary_effect": primary.get("effect"),
        "primary_ci_low": primary.get("ci_low"),
        "primary_ci_high": primary.get("ci_high"),
        "primary_p_value": primary.get("p_value"),
        **{name: _text(value) for name, value in text.items()},
    }


def learnings_csv(learnings: Iterable[Learning]) -> str:
    """Return the learnings as CSV with a header row (``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for learning in learnings:
        writer.writerow(_row(learning))
    return out.getvalue()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _result_rows(learning: Learning) -> list[str]:
    results = [learning.primary_result] if learning.primary_result else []
    results += list(learning.guardrail_results)
    relative = (learning.primary_result or {}).get("difference", "relative") == "relative"
    show = _percent if relative else _number
    rows = []
    for result in results:
        rows.append(
            f"| {result.get('metric_name') or result.get('metric_key')} "
            f"| {result.get('metric_role', '')} | {result.get('variant', '')} "
            f"| {show(result.get('effect'))} "
            f"| [{show(result.get('ci_low'))}, {show(result.get('ci_high'))}] "
            f"| {_number(result.get('p_value'), 3)} | {result.get('verdict', '')} |"
        )
    return rows


def _markdown_one(learning: Learning) -> list[str]:
    lines = [f"## {_one_line(learning.title)}", ""]
    facts = [
        ("Source", learning.get_source_display()),
        ("Learned on", learning.learned_on.isoformat()),
        ("Experiment", f"`{learning.experiment.key}`" if learning.experiment else ""),
        ("Product area", learning.product_area.path if learning.product_area else ""),
        ("Funnel stage", learning.get_funnel_stage_display()),
        ("Loop stage", learning.get_loop_stage_display()),
        ("Team", learning.team),
        ("Outcome", learning.get_outcome_display()),
        ("Estimated impact", _percent(learning.impact) if learning.impact is not None else ""),
        ("Effect on acquisition", learning.get_acquisition_effect_display() or "not measured"),
        ("Effect on retention", learning.get_retention_effect_display() or "not measured"),
        ("Tags", ", ".join(t.name for t in learning.tag_links.all())),
        ("Key results", "; ".join(k.title for k in learning.key_results.all())),
    ]
    lines += [f"- **{name}:** {value}" for name, value in facts if value]
    for heading, body in (
        ("Hypothesis", learning.hypothesis),
        ("What we learned", learning.learned),
    ):
        if body:
            lines += ["", f"### {heading}", "", body.strip()]
    if learning.decision or learning.rationale:
        decision = learning.get_decision_display()
        if learning.decision_variant:
            decision += f" (`{learning.decision_variant}`)"
        lines += ["", "### Decision", "", f"**{decision}.** {learning.rationale.strip()}".strip()]
    rows = _result_rows(learning)
    if rows:
        lines += [
            "",
            "### Results",
            "",
            "| Metric | Role | Variant | Effect | Interval | p-value | Verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    if learning.attachments:
        lines += ["", "### Attachments", ""]
        lines += [f"- [{a.get('title') or a['url']}]({a['url']})" for a in learning.attachments]
    return [*lines, ""]


def learnings_markdown(learnings: Iterable[Learning], *, title: str = "Learnings") -> str:
    """Return the learnings as one Markdown document, a section each."""
    lines = [f"# {_one_line(title)}", ""]
    for learning in learnings:
        lines += _markdown_one(learning)
    return "\n".join(lines).rstrip() + "\n"
