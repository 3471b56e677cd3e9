from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "apps.usage"

    def ready(self) -> None:
        from apps.usage import signals  # noqa: F401  (connects the login receivers)
