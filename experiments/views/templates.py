"""Pages of experiment templates: the list (each with its plan and decision rule in words and
"New experiment from this template"), create, edit, delete; and what the design form needs to
start from a template. Writes go through ``experiments.services.templates``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from experiments.decision_rules import DecisionRule, rule_text
from experiments.forms.design import ExperimentForm
from experiments.forms.templates import DecisionRuleForm, TemplateForm
from experiments.models import ExperimentTemplate
from experiments.plan_selectors import template_get, template_plan, templates_list
from experiments.services.design import ExperimentDesign, VariantSpec
from experiments.services.templates import (
    template_create,
    template_delete,
    template_design_values,
    template_spec_of,
    template_update,
)
from experiments.views.base import percent, workspace_page
from experiments.views.plan_blocks import Fact, plan_facts
from metrics.public import metrics_list
from plg_platform.errors import DomainError, NotFound
from plg_platform.models import Membership, Role
from plg_platform.web.pages import attach_errors

EDITORS_ONLY = "Only editors of this workspace can change templates."
KEEP_PLANS = "Experiments made from it keep their plans."


@dataclass(frozen=True)
class TemplateCard:
    template: ExperimentTemplate
    facts: list[Fact]
    rule: str
    experiments: int


def _template(membership: Membership, key: str) -> ExperimentTemplate:
    try:
        return template_get(workspace=membership.workspace, key=key)
    except NotFound as error:
        raise Http404(error.message) from error


@workspace_page()
def template_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    cards = []
    for template in templates_list(workspace=membership.workspace):
        plan = template_plan(template)
        cards.append(
            TemplateCard(
                template=template,
                facts=plan_facts(plan),
                rule=rule_text(plan),
                experiments=template.experiments_count,  # type: ignore[attr-defined]
            )
        )
    return render(
        request,
        "experiments/templates.html",
        {"cards": cards, "can_edit": membership.has_role(Role.EDITOR)},
    )


def _form_page(
    request: HttpRequest, membership: Membership, template: ExperimentTemplate | None
) -> HttpResponse:
    workspace = membership.workspace
    choices = [(m.key, f"{m.name} ({m.key})") for m in metrics_list(workspace=workspace)]
    base = template_spec_of(template) if template is not None else None
    initial = (
        TemplateForm.initial_of(base)
        if base is not None
        else {**DecisionRuleForm.rule_initial(DecisionRule()), "alpha": 0.05, "cuped": True}
    )
    kwargs: dict[str, Any] = {"metric_choices": choices, "editing": template is not None}
    if request.method == "POST":
        form = TemplateForm(request.POST, initial=initial, **kwargs)
        if form.is_valid():
            try:
                if template is None:
                    saved = template_create(
                        workspace=workspace, spec=form.spec(), actor=request.user
                    )
                    messages.success(request, f"Template “{saved.name}” saved.")
                else:
                    assert base is not None
                    after = form.spec(base=base)
                    changes = {
                        name: getattr(after, name)
                        for name in vars(after)
                        if getattr(after, name) != getattr(base, name)
                    }
                    saved = template_update(template=template, changes=changes, actor=request.user)
                    messages.success(
                        request, "Template saved. Experiments made from it keep their plans."
                    )
                return redirect("experiments_web:templates")
            except DomainError as error:
                attach_errors(form, error)
    else:
        form = TemplateForm(initial=initial, **kwargs)
    return render(
        request,
        "experiments/template_form.html",
        {"form": form, "template": template, "has_metrics": bool(choices)},
    )


@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def template_new(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _form_page(request, membership, None)


@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def template_edit(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    return _form_page(request, membership, _template(membership, key))


@require_POST
@workspace_page(Role.EDITOR, denied=EDITORS_ONLY)
def template_remove(request: HttpRequest, membership: Membership, key: str) -> HttpResponse:
    template = _template(membership, key)
    name = template.name
    template_delete(template=template, actor=request.user)
    messages.success(
        request, f"Template “{name}” deleted. Experiments made from it keep their plans."
    )
    return redirect("experiments_web:templates")


# --- Starting an experiment from a template (the design form of experiments.views) -------------


def new_design(
    form: ExperimentForm,
    specs: list[VariantSpec],
    planned: dict[str, Any] | None,
    template: ExperimentTemplate | None,
) -> ExperimentDesign:
    """The design of a new experiment: the template's values (if any), then the form's, then
    the sizes planned from the form's baseline (else the template's stay)."""
    base = template_design_values(template) if template is not None else {}
    changes = form.design_changes(specs)
    changes["decision_rule"] = form.decision_rule(base.get("decision_rule", DecisionRule()))
    return ExperimentDesign(key=form.cleaned_data["key"], **{**base, **changes, **(planned or {})})


def template_from_query(membership: Membership, key: str | None) -> ExperimentTemplate | None:
    """The template a new experiment starts from (``?template=`` or the form's hidden field)."""
    if not key:
        return None
    try:
        return template_get(workspace=membership.workspace, key=key)
    except NotFound as error:
        raise Http404(error.message) from error


def template_initial(template: ExperimentTemplate) -> dict[str, Any]:
    """The design form's initial values from the template."""
    values = template_design_values(template)
    mde = values["planned_mde"]
    return {
        "template": template.key,
        "primary_metric": values["primary_metric"],
        "secondary_metrics": list(values["secondary_metrics"]),
        "guardrail_metrics": list(values["guardrail_metrics"]),
        "planned_mde": percent(mde) if mde else None,
        "engine": values["engine"],
        "alpha": values["alpha"],
        "correction": values["correction"],
        "sequential": values["sequential"],
        **DecisionRuleForm.rule_initial(values["decision_rule"]),
    }
