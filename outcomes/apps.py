from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "outcomes"

    def ready(self) -> None:
        # Celery autodiscovers ``<app>.tasks``; the outcomes app keeps its tasks by sub-package.
        from outcomes.kpis import tasks as kpi_tasks  # noqa: F401
        from outcomes.okrs import tasks as okr_tasks  # noqa: F401
