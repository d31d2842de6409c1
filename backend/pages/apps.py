"""App config for CMS pages (app label `pages`)."""

from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "backend.pages"
    label = "pages"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"
