"""``manage.py backtest_forecasts --workspace SLUG [--key-result ID ...] [--horizon 13]``.

Measure each key result's metric once a week over the workspace's whole history and backtest
the forecast on it (``outcomes.okrs.backtests``): for every week, forecast each later week up
to ``--horizon`` weeks ahead from the weeks before, and compare with what was measured. Prints
the mean absolute error, the mean absolute percentage error, the share of values inside their
80% interval and the error of the naive forecast (the last value), overall and by horizon,
per key result and pooled. docs/outcomes.md has the figures on the demo data.
"""

from __future__ import annotations

from typing import cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outcomes.okrs.backtests import (
    HistoryBacktest,
    key_result_history_backtest,
    workspace_data_span,
)
from outcomes.okrs.forecasting import BacktestSummary, summarise
from outcomes.okrs.models import KeyResult
from outcomes.wording import metric_unit
from plg_platform.models import Workspace

NO_WORKSPACE = "No workspace {slug!r}."
NO_EVENTS = "Workspace {slug!r} has no events to measure a history from."
NO_KEY_RESULTS = "Workspace {slug!r} has no key result{which}."


def error_text(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f} pp" if unit == "share" else f"{value:.4g}"


def summary_text(summary: BacktestSummary, unit: str) -> str:
    if not summary.pairs:
        return "no forecasts"
    mape = "—" if summary.mape is None else f"{summary.mape:.1%}"
    return (
        f"{summary.pairs} forecasts, MAE {error_text(summary.mae, unit)}, MAPE {mape}, "
        f"{summary.level:.0%} interval coverage {summary.coverage:.0%}, "
        f"naive MAE {error_text(summary.naive_mae, unit)}"
    )


class Command(BaseCommand):
    help = "Backtest the key-result forecast on each key result's weekly history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Slug of the workspace.")
        parser.add_argument(
            "--key-result", type=int, action="append", dest="key_results", help="Only these ids."
        )
        parser.add_argument("--horizon", type=int, default=13, help="Weeks ahead (default 13).")

    def handle(self, *args: object, **options: object) -> None:
        slug = str(options["workspace"])
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(NO_WORKSPACE.format(slug=slug))
        span = workspace_data_span(workspace=workspace)
        if span is None:
            raise CommandError(NO_EVENTS.format(slug=slug))
        key_results = KeyResult.objects.filter(workspace=workspace).select_related(
            "metric", "objective", "workspace"
        )
        wanted = cast("list[int] | None", options.get("key_results"))
        if wanted:
            key_results = key_results.filter(pk__in=wanted)
        if not key_results:
            which = "" if not wanted else " with those ids"
            raise CommandError(NO_KEY_RESULTS.format(slug=slug, which=which))
        horizon = int(options["horizon"])  # type: ignore[call-overload]
        results: list[HistoryBacktest] = []
        for key_result in key_results.order_by("pk"):
            result = key_result_history_backtest(
                key_result=key_result, start=span[0], end=span[1], max_horizon=horizon
            )
            results.append(result)
            self._report(result)
        units = {metric_unit(r.key_result.metric) for r in results}
        if len(results) > 1 and len(units) == 1:
            pooled = summarise([p for r in results for p in r.pairs])
            self.stdout.write(
                f"Pooled over {len(results)} key results: {summary_text(pooled, units.pop())}"
            )

    def _report(self, result: HistoryBacktest) -> None:
        key_result = result.key_result
        unit = metric_unit(key_result.metric)
        observed = [(d, v) for d, v in result.series if v is not None]
        span = f"from {observed[0][0]} to {observed[-1][0]}" if observed else "none"
        self.stdout.write(
            f"Key result {key_result.pk} “{key_result.title}” ({key_result.metric.key}): "
            f"{len(observed)} weekly values {span}"
        )
        self.stdout.write(f"  all horizons: {summary_text(result.overall, unit)}")
        self.stdout.write(
            f"  the damped trend alone (to compare): {summary_text(result.damped_trend, unit)}"
        )
        for weeks, summary in result.by_horizon.items():
            self.stdout.write(
                f"  {weeks:>2} week{'s' if weeks > 1 else ' '} ahead: {summary_text(summary, unit)}"
            )
