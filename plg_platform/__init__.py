"""The Django project: settings, URLs, the Celery app and the platform-wide pieces.

Workspaces, people and keys, event ingestion and background jobs live here; every other app
depends on this one and never the other way round.
"""

from plg_platform.celery import app as celery_app

__all__ = ["celery_app"]
