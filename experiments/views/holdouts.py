"""The workspace holdout page: status, size, period, units seen, and the cumulative impact
(holdout vs everyone else) beside the shipped experiments' shrunk lifts, in plain language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from experiments.holdouts.models import Holdout, HoldoutReport
from experiments.holdouts.selectors import (
    holdout_get,
    holdout_latest_report,
    holdout_status,
    holdout_unit_counts,
    holdouts_list,
    report_sentences,
)
from experiments.holdouts.services import (
    HoldoutInput,
    holdout_create,
    holdout_end,
    tracking_key,
)
from experiments.holdouts.tasks import REFRESH_HOLDOUT
from experiments.views.base import workspace_page
from plg_platform.errors import DomainError
from plg_platform.models import Membership, Role
from plg_platform.services.queue import task_enqueue_on_commit
from plg_platform.web.forms import DateInput, PageForm, decimal_input
from plg_platform.web.pages import attach_errors, found_or_404


class HoldoutForm(PageForm):
    name = forms.CharField(max_length=200, initial="Holdout")
    key = forms.SlugField(max_length=100, help_text="Also the SDK's tracking key, as $holdout:key.")
    share_percent = forms.FloatField(
        label="Users held out (%)",
        initial=5,
        widget=decimal_input(min="0.01", max="50"),
        help_text="Usually 1–10%: large enough to measure, small enough to leave experiments "
        "their traffic.",
    )
    starts_on = forms.DateField(label="From", widget=DateInput())
    ends_on = forms.DateField(label="Until (exclusive)", widget=DateInput())
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


@dataclass(frozen=True)
class HoldoutCard:
    holdout: Holdout
    status: str
    share_percent: float
    tracking_key: str
    units_holdout: int
    units_general: int
    report: HoldoutReport | None
    metrics: list[dict[str, Any]]


def _card(holdout: Holdout) -> HoldoutCard:
    counts = holdout_unit_counts(holdout=holdout)
    report = holdout_latest_report(holdout=holdout)
    metrics = []
    if report is not None:
        sentences = report_sentences(report)
        metrics = [
            {**m, **_texts(m), "sentences": sentences.get(m["key"], [])}
            for m in report.results["metrics"]
        ]
    return HoldoutCard(
        holdout=holdout,
        status=holdout_status(holdout),
        share_percent=round(holdout.share * 100, 2),
        tracking_key=tracking_key(holdout),
        units_holdout=counts.get("holdout", 0),
        units_general=counts.get("general", 0),
        report=report,
        metrics=metrics,
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def _texts(m: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers as the table shows them."""
    interval = (
        f"{_pct(m['ci_low'])} to {_pct(m['ci_high'])}" if m["ci_low"] is not None else "no interval"
    )
    shipped = [
        {
            **s,
            "text": f"{_pct(s['lift'])} recorded, {_pct(s['lift_shrunk'])} shrunk"
            if s["lift"] is not None
            else "no recorded lift",
        }
        for s in m["shipped"]
    ]
    return {
        "lift_text": _pct(m["lift"]),
        "interval_text": interval,
        "shipped_text": (
            f"{_pct(m['shipped_sum_shrunk'])} from {len(shipped)}"
            if m["shipped_sum_shrunk"] is not None
            else ("none shipped" if not shipped else "no recorded lifts")
        ),
        "shipped": shipped,
    }


def _day_start(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@workspace_page()
def holdout_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    """GET: every holdout with its latest report; POST (editors): create one."""
    can_edit = membership.has_role(Role.EDITOR)
    today = datetime.now(tz=UTC).date()
    form = HoldoutForm(initial={"starts_on": today, "ends_on": today + timedelta(days=90)})
    if request.method == "POST":
        if not can_edit:
            return redirect("experiments_web:holdouts")
        form = HoldoutForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            starts_at = _day_start(data["starts_on"])
            now = datetime.now(tz=UTC)
            try:
                holdout_create(
                    workspace=membership.workspace,
                    data=HoldoutInput(
                        key=data["key"],
                        name=data["name"],
                        description=data["description"],
                        share=round(data["share_percent"] / 100, 6),
                        # Today's date means "from now": the start of the day is already past.
                        starts_at=max(starts_at, now) if starts_at.date() == today else starts_at,
                        ends_at=_day_start(data["ends_on"]),
                    ),
                    actor=request.user,
                )
            except DomainError as error:
                attach_errors(
                    form,
                    error,
                    fields={
                        "share": "share_percent",
                        "starts_at": "starts_on",
                        "ends_at": "ends_on",
                    },
                )
            else:
                messages.success(request, "Holdout created.")
                return redirect("experiments_web:holdouts")
    cards = [_card(h) for h in holdouts_list(workspace=membership.workspace)]
    return render(
        request,
        "experiments/holdouts.html",
        {"cards": cards, "form": form, "can_edit": can_edit},
    )


@require_POST
@workspace_page(Role.EDITOR)
def holdout_end_now(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    holdout = found_or_404(holdout_get, workspace=membership.workspace, key=key)
    try:
        holdout_end(holdout=holdout, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Holdout ended: its units join experiments again from now.")
    return redirect("experiments_web:holdouts")


@require_POST
@workspace_page(Role.EDITOR)
def holdout_refresh(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    holdout = found_or_404(holdout_get, workspace=membership.workspace, key=key)
    task_enqueue_on_commit(REFRESH_HOLDOUT, args=[holdout.pk])
    messages.success(request, "A fresh comparison is being computed; reload in a minute.")
    return redirect("experiments_web:holdouts")
