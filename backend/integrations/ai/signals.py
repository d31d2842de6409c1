"""Config-change hooks: every save or delete of a config row bumps the config version."""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .config import bump_version
from .models import CatalogModel, ModelAlias, ModelRoute, Provider, RoutingSettings

CONFIG_MODELS = (Provider, ModelAlias, ModelRoute, RoutingSettings, CatalogModel)


@receiver(post_save)
@receiver(post_delete)
def _config_changed(sender: type, **kwargs: Any) -> None:
    if sender in CONFIG_MODELS:
        bump_version()
