"""App config for the registry (app label `ai`)."""

from django.apps import AppConfig


class AIConfig(AppConfig):
    name = "backend.integrations.ai"
    label = "ai"
    verbose_name = "AI"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, checks_config, signals  # noqa: F401  (registers checks and config-change hooks)
