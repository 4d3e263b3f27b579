"""URLs of the experiment results page and its htmx fragments (namespace ``results_web``).

Mounted from ``plg_platform/urls.py`` with ``path("", include("experiments.results_urls"))``.
"""

from django.urls import path

from experiments.views import results

app_name = "results_web"

urlpatterns = [
    path("experiments/<slug:key>/results", results.results_page, name="page"),
    path("experiments/<slug:key>/results/body", results.results_body, name="body"),
    path("experiments/<slug:key>/results/refresh", results.refresh, name="refresh"),
    path("experiments/<slug:key>/results/jobs/<int:job_id>", results.job_progress, name="job"),
]
