"""The configuration snapshot: every enabled row (plus the environment fallback), frozen.

`current()` returns an immutable `RegistryConfig` shared by every thread and task of the process.
It is rebuilt only when the configuration changed:

- a write in this process (model save/delete signals and the config querysets' bulk methods call
  `bump_version()`) is seen by the very next call;
- a write in another process bumps the `ConfigStamp` row; each process reads that one row at most
  once per `AI_CONFIG_CHECK_INTERVAL` seconds (default 1), so other processes follow within a
  second with the default local-memory cache;
- with a shared cache (Redis through `CACHE_URL`) the new version is also published in the cache,
  and every process compares it at most every `AI_SHARED_STATE_SECONDS` (0.1 s), so all of them
  switch within a tenth of a second without a network round trip on every call.

While nothing changed the hot path makes no database query and no cache call on the local-memory
cache. When the database cannot be read the last good snapshot keeps serving; the failure is
logged once until the database answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction

from .errors import ConfigurationError
from .pricing import Price
from .providers.base import ProviderSpec
from .providers.factory import DEFAULT_BASE_URLS

logger = logging.getLogger(__name__)

VERSION_CACHE_KEY: Final = "ai:config:version"
MODES: Final = ("auto", "openrouter", "openai", "anthropic")
ENV_KEY_NAMES: Final = MappingProxyType(
    {"openrouter": "OPENROUTER_API_KEY", "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
)
ENV_BASE_URL_NAMES: Final = MappingProxyType(
    {"openrouter": "OPENROUTER_BASE_URL", "openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
)
# Models the environment-only configuration asks for when OPENROUTER_DEFAULT_MODEL names another
# vendor's model than the direct provider serves.
ENV_FALLBACK_MODELS: Final = MappingProxyType(
    {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
)
FIX_HINT: Final = (
    "add an enabled provider under Admin › AI › Providers, or set OPENROUTER_API_KEY, "
    "OPENAI_API_KEY or ANTHROPIC_API_KEY"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """One usable-or-not provider, as the router sees it."""

    name: str
    kind: str
    spec: ProviderSpec
    priority: int = 100
    weight: int = 1
    max_retries: int = 2
    key_source: str = ""
    problem: str = ""

    @property
    def usable(self) -> bool:
        return not self.problem


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    provider: str
    model: str
    priority: int = 100
    weight: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasConfig:
    name: str
    strategy: str = "priority"
    routes: tuple[RouteConfig, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig:
    """An immutable view of the registry's configuration at one version."""

    version: int
    source: str  # "database", "environment" or "empty"
    providers: Mapping[str, ProviderConfig]
    aliases: Mapping[str, AliasConfig]
    mode: str = "auto"
    default_alias: str = "default"
    failover_enabled: bool = True
    store_prompts: bool = False
    prices: Mapping[tuple[str, str], Price] = field(default_factory=dict)
    # Router memo (alias or model -> ordered static candidates); private to router.py.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def provider_order(self) -> tuple[ProviderConfig, ...]:
        return tuple(sorted(self.providers.values(), key=lambda p: (p.priority, p.name)))


# --- building a snapshot -------------------------------------------------------------------------


def _pool_size_default() -> int:
    return int(getattr(settings, "AI_HTTP_POOL_SIZE", 100))


def _spec(
    *,
    kind: str,
    name: str,
    base_url: str,
    api_key: str,
    timeout_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
    pool_size: int | None = None,
    api_version: str = "",
    api_key_header: str = "",
) -> ProviderSpec:
    options: list[tuple[str, str]] = []
    if kind == "openrouter":
        options += [
            ("http_referer", settings.OPENROUTER_HTTP_REFERER),
            ("app_name", settings.OPENROUTER_APP_NAME),
        ]
    if api_version:
        options.append(("api_version", api_version))
    if api_key_header:
        options.append(("api_key_header", api_key_header))
    return ProviderSpec(
        kind=kind,
        name=name,
        base_url=(base_url or DEFAULT_BASE_URLS.get(kind, "")).rstrip("/"),
        api_key=api_key,
        timeout_s=float(timeout_s),
        connect_timeout_s=min(float(timeout_s), float(getattr(settings, "AI_CONNECT_TIMEOUT", 5.0))),
        extra_headers=tuple(sorted((str(k), str(v)) for k, v in (headers or {}).items())),
        pool_size=pool_size or _pool_size_default(),
        options=tuple(options),
    )


def provider_from_row(row: Any) -> ProviderConfig:
    from .errors import EncryptionKeyError

    problem = ""
    try:
        key, source = row.resolve_api_key()
    except EncryptionKeyError as exc:
        key, source, problem = "", "undecryptable", str(exc)
    if not key and not problem and row.kind != "openai_compatible":
        env_hint = f" or set {row.api_key_env}" if row.api_key_env else ""
        problem = f"Provider '{row.name}' has no API key: enter one under Admin › AI › Providers{env_hint}."
        source = "missing"
    if row.kind == "openai_compatible" and not row.base_url:
        problem = f"Provider '{row.name}' is OpenAI-compatible but has no base URL: set one in admin."
    headers = row.extra_headers if isinstance(row.extra_headers, dict) else {}
    return ProviderConfig(
        name=row.name,
        kind=row.kind,
        spec=_spec(
            kind=row.kind,
            name=row.name,
            base_url=row.base_url,
            api_key=key,
            timeout_s=row.timeout_seconds,
            headers=headers,
            pool_size=row.max_connections,
            api_version=row.api_version,
            api_key_header=row.api_key_header,
        ),
        priority=row.priority,
        weight=max(1, row.weight),
        max_retries=row.max_retries,
        key_source=source or "none",
        problem=problem,
    )


def _load_prices() -> dict[tuple[str, str], Price]:
    from .models import CatalogModel
    from .providers.model_mapper import register_catalog_slugs

    rows = list(CatalogModel.objects.filter(retired=False))
    # Every worker, not only the one that ran the sync, learns which OpenRouter slugs exist.
    register_catalog_slugs(r.model_id for r in rows if r.provider_kind == "openrouter")
    return {(r.provider_kind, r.model_id): Price.from_row(r) for r in rows}


def _routing_settings() -> dict[str, Any]:
    from .models import RoutingSettings

    row = RoutingSettings.objects.filter(pk=1).first()
    if row is None:
        return {
            "mode": _env_mode(),
            "default_alias": "default",
            "failover_enabled": True,
            "store_prompts": False,
        }
    return {
        "mode": row.mode,
        "default_alias": row.default_alias or "default",
        "failover_enabled": row.failover_enabled,
        "store_prompts": row.store_prompts,
    }


def _env_mode() -> str:
    mode = (settings.AI_PROVIDER or "auto").strip().lower()
    if mode not in MODES:
        logger.warning("AI_PROVIDER=%r is not one of %s; using 'auto'.", mode, ", ".join(MODES))
        return "auto"
    return mode


def build_from_database(version: int) -> RegistryConfig:
    """Read every config row into a new snapshot. Raises `DatabaseError` if the DB cannot be read."""
    from .models import ModelAlias, ModelRoute, Provider

    provider_rows = list(Provider.objects.filter(enabled=True))
    routing = _routing_settings()
    prices = _load_prices()
    if not provider_rows:
        env_config = build_from_environment(version, mode=routing["mode"])
        return RegistryConfig(
            version=version,
            source=env_config.source,
            providers=env_config.providers,
            aliases=env_config.aliases,
            mode=routing["mode"],
            default_alias=env_config.default_alias,
            failover_enabled=routing["failover_enabled"],
            store_prompts=routing["store_prompts"],
            prices=MappingProxyType(prices),
        )
    providers = {row.name: provider_from_row(row) for row in provider_rows}
    routes_by_alias: dict[int, list[RouteConfig]] = {}
    route_rows = ModelRoute.objects.filter(enabled=True, provider__enabled=True, alias__enabled=True)
    for alias_id, provider_name, model, priority, weight in route_rows.values_list(
        "alias_id", "provider__name", "model", "priority", "weight"
    ):
        routes_by_alias.setdefault(alias_id, []).append(
            RouteConfig(provider=provider_name, model=model.strip(), priority=priority, weight=max(1, weight))
        )
    aliases = {
        alias.name: AliasConfig(
            name=alias.name,
            strategy=alias.strategy,
            description=alias.description,
            routes=tuple(routes_by_alias.get(alias.pk, ())),
        )
        for alias in ModelAlias.objects.filter(enabled=True)
    }
    return RegistryConfig(
        version=version,
        source="database",
        providers=MappingProxyType(providers),
        aliases=MappingProxyType(aliases),
        prices=MappingProxyType(prices),
        **routing,
    )


def build_from_environment(version: int = 0, *, mode: str | None = None) -> RegistryConfig:
    """Providers and a default alias from environment variables alone (no enabled Provider rows)."""
    from .providers.model_mapper import can_serve, normalize_model

    mode = mode or _env_mode()
    default_model = settings.OPENROUTER_DEFAULT_MODEL or "openai/gpt-4o-mini"
    providers: dict[str, ProviderConfig] = {}
    routes: list[RouteConfig] = []
    # `auto` prefers OpenRouter when its key is set: it is tried first.
    for priority, kind in enumerate(("openrouter", "openai", "anthropic"), start=1):
        key = getattr(settings, ENV_KEY_NAMES[kind], "") or ""
        if not key or (mode != "auto" and mode != kind):
            continue
        base_url = getattr(settings, ENV_BASE_URL_NAMES[kind], "") or ""
        providers[kind] = ProviderConfig(
            name=kind,
            kind=kind,
            spec=_spec(kind=kind, name=kind, base_url=base_url, api_key=key),
            priority=priority * 10,
            key_source=f"env:{ENV_KEY_NAMES[kind]}",
        )
        model = normalize_model(default_model, kind)
        if not can_serve(default_model, kind):
            model = ENV_FALLBACK_MODELS[kind]
        routes.append(RouteConfig(provider=kind, model=model, priority=priority * 10))
    aliases = {"default": AliasConfig(name="default", routes=tuple(routes))} if routes else {}
    return RegistryConfig(
        version=version,
        source="environment" if providers else "empty",
        providers=MappingProxyType(providers),
        aliases=MappingProxyType(aliases),
        mode=mode,
    )


# --- version tracking and the cached snapshot ----------------------------------------------------


class _State:
    """Process-wide snapshot holder. `generation` grows on every local bump."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snapshot: RegistryConfig | None = None
        self.generation = 0
        self.snapshot_generation = -1
        self.next_check = 0.0
        self.next_shared_check = 0.0
        self.db_failing = False
        self.shared_cache: bool | None = None


_state = _State()


def _check_interval() -> float:
    return float(getattr(settings, "AI_CONFIG_CHECK_INTERVAL", 1.0))


def cache_is_shared() -> bool:
    """Is Django's default cache shared between processes (Redis...) rather than process-local?"""
    if _state.shared_cache is None:
        backend = settings.CACHES.get("default", {}).get("BACKEND", "")
        _state.shared_cache = not backend.endswith(("LocMemCache", "DummyCache"))
    return _state.shared_cache


def _read_stamp() -> int:
    from .models import ConfigStamp

    version = ConfigStamp.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(version or 0)


def _publish() -> None:
    """After commit: tell this process and (through the cache) every other one."""
    _state.generation += 1
    try:
        cache.set(VERSION_CACHE_KEY, _read_stamp(), timeout=None)
    except Exception:
        logger.warning("Could not publish the AI config version to the cache.", exc_info=True)


def bump_version() -> None:
    """Record a config change: bump the database stamp, invalidate this process's snapshot now,
    and publish the new version to other processes once the transaction commits."""
    from django.db.models import F
    from django.utils import timezone

    from .models import ConfigStamp

    _state.generation += 1
    try:
        updated = ConfigStamp.objects.filter(pk=1).update(version=F("version") + 1, changed_at=timezone.now())
        if not updated:
            ConfigStamp.objects.get_or_create(pk=1, defaults={"version": 1})
    except DatabaseError:
        logger.warning("Could not bump the AI config stamp; other processes may lag.", exc_info=True)
        return
    transaction.on_commit(_publish)


def invalidate() -> None:
    """Drop the snapshot of this process (tests, and after a cache flush)."""
    with _state.lock:
        _state.snapshot = None
        _state.snapshot_generation = -1
        _state.next_check = 0.0
        _state.next_shared_check = 0.0
        _state.shared_cache = None


def _usable_snapshot(now: float) -> RegistryConfig | None:
    """The snapshot if it may serve this call as it is, else None (a refresh is due)."""
    snap = _state.snapshot
    if snap is None or _state.snapshot_generation != _state.generation or now >= _state.next_check:
        return None
    if cache_is_shared() and now >= _state.next_shared_check:
        # Redis: other hosts' changes arrive through the cache, read at most every
        # AI_SHARED_STATE_SECONDS (0.1 s): a network round trip per call would double its cost.
        _state.next_shared_check = now + float(getattr(settings, "AI_SHARED_STATE_SECONDS", 0.1))
        shared = cache.get(VERSION_CACHE_KEY)
        if shared is not None and shared != snap.version:
            return None
    return snap


def current() -> RegistryConfig:
    """The snapshot to route this call with. Cheap unless the configuration changed."""
    now = time.monotonic()
    snap = _usable_snapshot(now)
    return snap if snap is not None else _refresh(now)


def _install(snap: RegistryConfig, generation: int, now: float) -> RegistryConfig:
    _state.snapshot = snap
    _state.snapshot_generation = generation
    _state.next_check = now + _check_interval()
    return snap


def _refresh(now: float) -> RegistryConfig:
    with _state.lock:
        generation = _state.generation
        snap = _state.snapshot
        try:
            stamp = _read_stamp()
            if snap is None or stamp != snap.version or _state.snapshot_generation != generation:
                snap = build_from_database(stamp)
        except DatabaseError as exc:
            if snap is None:
                snap = build_from_environment()
                if not snap.providers:
                    raise ConfigurationError(
                        f"The AI configuration cannot be read from the database ({type(exc).__name__}) "
                        f"and no environment fallback is set: {FIX_HINT}."
                    ) from exc
            if not _state.db_failing:
                # No traceback: a driver's message can carry connection details; the class says enough.
                logger.error(  # noqa: TRY400
                    "AI config: the database cannot be read (%s); serving the last good configuration "
                    "(version %s) until it answers again.",
                    type(exc).__name__,
                    snap.version,
                )
                _state.db_failing = True
            return _install(snap, generation, now)
        if _state.db_failing:
            logger.warning("AI config: the database answers again.")
            _state.db_failing = False
        return _install(snap, generation, now)


async def acurrent() -> RegistryConfig:
    """`current()` for async code: the rare refresh runs in a worker thread."""
    snap = _usable_snapshot(time.monotonic())
    if snap is not None:
        return snap
    from asgiref.sync import sync_to_async

    return await sync_to_async(_current_in_worker, thread_sensitive=False)()


def _current_in_worker() -> RegistryConfig:
    """`current()` on a pool thread that is not ours: do not leave a database connection open."""
    from django.db import connection

    try:
        return current()
    finally:
        connection.close()
