from django.apps import AppConfig


class PlgPlatformConfig(AppConfig):
    name = "plg_platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from plg_platform import schema  # noqa: F401 - registers the OpenAPI auth schemes
