from django.apps import AppConfig


class LearningsConfig(AppConfig):
    name = "learnings"
