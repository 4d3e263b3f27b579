"""Pages of experiments and the statistics calculator (the API is in ``experiments.urls``)."""

from django.urls import path

from experiments.views import calculator, experiments, holdouts, lifecycle, templates

experiment_pages = [
    path("experiments/", experiments.experiment_list, name="list"),
    path("experiments/new", experiments.experiment_new, name="create"),
    path("experiments/plan-preview", experiments.plan_preview, name="plan-preview"),
    path("holdouts/", holdouts.holdout_page, name="holdouts"),
    path("holdouts/<slug:key>/end", holdouts.holdout_end_now, name="holdout-end"),
    path("holdouts/<slug:key>/refresh", holdouts.holdout_refresh, name="holdout-refresh"),
    path("experiments/<slug:key>/", experiments.experiment_detail, name="detail"),
    path("experiments/<slug:key>/edit", experiments.experiment_edit, name="edit"),
    path("experiments/<slug:key>/start", lifecycle.start, name="start"),
    path("experiments/<slug:key>/stop", lifecycle.stop, name="stop"),
    path("experiments/<slug:key>/archive", lifecycle.archive, name="archive"),
    path("experiment-templates/", templates.template_list, name="templates"),
    path("experiment-templates/new", templates.template_new, name="template-create"),
    path("experiment-templates/<slug:key>/edit", templates.template_edit, name="template-edit"),
    path(
        "experiment-templates/<slug:key>/delete",
        templates.template_remove,
        name="template-delete",
    ),
    path("calculator/", calculator.calculator, name="calculator"),
    path("calculator/sample-size", calculator.power, name="power"),
]

app_name = "experiments_web"
urlpatterns = experiment_pages
