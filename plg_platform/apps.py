from django.apps import AppConfig


class PlgPlatformConfig(AppConfig):
    name = "plg_platform"
    verbose_name = "Platform"
