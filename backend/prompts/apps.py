"""App config for prompt templates (app label `prompts`)."""

from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "backend.prompts"
    label = "prompts"
    verbose_name = "Prompts"
    default_auto_field = "django.db.models.BigAutoField"
