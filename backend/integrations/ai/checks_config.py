"""Config lint: system checks that read the registry's rows (`manage.py check --database default`).

They are tagged `Tags.database`, so Django runs them only when a database is named (`check
--database`, `migrate`), and they return nothing while the tables do not exist yet. Ids are stable:

- `ai.W101` an enabled alias with no enabled route to an enabled provider;
- `ai.W102` a route to a model the catalog does not list (only for kinds the catalog has rows for);
- `ai.W103` an enabled provider with no key anywhere (no stored key, its env variable unset);
- `ai.E104` a stored key that does not decrypt with `FIELD_ENCRYPTION_KEY`.

Each message names the row, and its hint names the admin page that fixes it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import connections
from django.urls import NoReverseMatch, reverse

from .catalog import is_undecryptable
from .models import CatalogModel, ModelAlias, ModelRoute, Provider

_TABLES = (Provider, ModelAlias, ModelRoute, CatalogModel)


def _admin_page(model: str, pk: Any, trail: str) -> str:
    try:
        url = reverse(f"admin:ai_{model}_change", args=[pk])
    except NoReverseMatch:
        url = f"/admin/ai/{model}/{pk}/change/"
    return f"Admin › AI › {trail} ({url})"


def _tables_exist(alias: str) -> bool:
    names = set(connections[alias].introspection.table_names())
    return all(model._meta.db_table in names for model in _TABLES)


def _databases(databases: Sequence[str] | None) -> list[str]:
    return [alias for alias in databases or () if _tables_exist(alias)]


def _run(
    databases: Sequence[str] | None, check: Callable[[str], Iterable[CheckMessage]]
) -> list[CheckMessage]:
    return [message for alias in _databases(databases) for message in check(alias)]


# --- ai.W101 -------------------------------------------------------------------------------------


def _aliases_without_route(alias: str) -> Iterable[CheckMessage]:
    served = set(
        ModelRoute.objects.using(alias)
        .filter(enabled=True, provider__enabled=True)
        .values_list("alias_id", flat=True)
    )
    for row in ModelAlias.objects.using(alias).filter(enabled=True).exclude(pk__in=served):
        yield CheckWarning(
            f"Alias {row.name!r} is enabled but has no enabled route to an enabled provider; calls to "
            "it fall through to the environment fallback or fail.",
            hint=f"Add or enable a route under "
            f"{_admin_page('modelalias', row.pk, f'Model aliases › {row.name}')}, or disable the alias.",
            obj=row,
            id="ai.W101",
        )


@register(Tags.database)
def check_alias_routes(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list:
    return _run(databases, _aliases_without_route)


# --- ai.W102 -------------------------------------------------------------------------------------


def _normalizer() -> Callable[[str, str], str]:
    try:
        from .providers.model_mapper import normalize_model
    except ImportError:
        return lambda name, kind: name
    return normalize_model


def _catalog_id(normalize: Callable[[str, str], str], model: str, kind: str) -> str:
    try:
        return normalize(model, kind)
    except (ValueError, LookupError):
        return model


def _routes_off_catalog(alias: str) -> Iterable[CheckMessage]:
    listed: dict[str, set[str]] = {}
    for kind, model_id in (
        CatalogModel.objects.using(alias).filter(retired=False).values_list("provider_kind", "model_id")
    ):
        listed.setdefault(kind, set()).add(model_id)
    normalize = _normalizer()
    routes = ModelRoute.objects.using(alias).filter(enabled=True).select_related("alias", "provider")
    for route in routes.filter(provider__kind__in=list(listed)):
        kind = route.provider.kind
        wanted = _catalog_id(normalize, route.model, kind)
        if route.model in listed[kind] or wanted in listed[kind]:
            continue
        yield CheckWarning(
            f"Route {route.alias.name!r} → {route.provider.name}:{route.model} asks for a model the "
            f"{kind} catalog does not list (or lists as retired).",
            hint=f"Fix the model id under "
            f"{_admin_page('modelalias', route.alias_id, f'Model aliases › {route.alias.name}')}, or "
            "refresh the catalog with `manage.py ai_sync_models` (Admin › AI › Catalog models › Sync).",
            obj=route,
            id="ai.W102",
        )


@register(Tags.database)
def check_route_models(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list:
    return _run(databases, _routes_off_catalog)


# --- ai.W103 and ai.E104 -------------------------------------------------------------------------


def _is_local_url(url: str) -> bool:
    """Loopback, private, `localhost`, `*.local`/`*.internal` or a one-label host (a compose service)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host
    return address.is_loopback or address.is_private


def _has_key(row: Provider) -> bool:
    stored = row.api_key
    if isinstance(stored, str) and stored.strip():
        return True
    return bool(row.api_key_env and os.environ.get(row.api_key_env, "").strip())


def _key_problems(alias: str) -> Iterable[CheckMessage]:
    for row in Provider.objects.using(alias).all():
        page = _admin_page("provider", row.pk, f"Providers › {row.name}")
        if is_undecryptable(row.api_key):
            yield Error(
                f"The stored API key of provider {row.name!r} cannot be decrypted with FIELD_ENCRYPTION_KEY.",
                hint="Put the key it was encrypted with back into FIELD_ENCRYPTION_KEY (after the "
                f"current one, comma-separated), or enter the API key again under {page}.",
                obj=row,
                id="ai.E104",
            )
            continue
        if not row.enabled or _has_key(row):
            continue
        if row.kind == "openai_compatible" and _is_local_url(row.base_url):
            continue  # a local Ollama, vLLM or LM Studio usually takes no key
        env = (
            f"the environment variable {row.api_key_env} is not set"
            if row.api_key_env
            else "no key variable is named"
        )
        yield CheckWarning(
            f"Provider {row.name!r} is enabled but has no API key: none is stored and {env}.",
            hint=f"Enter a key (or the name of a set environment variable) under {page}, "
            "or disable the provider.",
            obj=row,
            id="ai.W103",
        )


@register(Tags.database)
def check_provider_keys(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list:
    return _run(databases, _key_problems)
