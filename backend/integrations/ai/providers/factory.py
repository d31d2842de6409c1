"""Build provider instances from frozen specs and keep them, with their pooled clients, for reuse.

This mirrors Django's `BaseConnectionHandler`: one explicit `kind -> dotted path` table resolved
lazily with `import_string` (a test can point a kind at a fake), instances cached by their frozen
`ProviderSpec`, and `close_all()` to release the pools. A spec that changes for the same provider
name (a new key, timeout or base URL edited in the admin) gets a fresh instance, and the old one is
retired: its clients close as soon as the calls still running on it have finished. The router
calls `factory.get(spec)` on every call, so a hit is one dict lookup.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Final

from django.utils.module_loading import import_string

from ..errors import ConfigurationError
from .base import AIProvider, ProviderSpec

KIND_PATHS: dict[str, str] = {
    "openai": "backend.integrations.ai.providers.openai_provider.OpenAIProvider",
    "openai_compatible": "backend.integrations.ai.providers.openai_provider.OpenAIProvider",
    "anthropic": "backend.integrations.ai.providers.anthropic_provider.AnthropicProvider",
    "openrouter": "backend.integrations.ai.providers.openrouter_provider.OpenRouterProvider",
}

DEFAULT_BASE_URLS: Final[dict[str, str]] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "openrouter": "https://openrouter.ai/api/v1",
}


def default_base_url(kind: str, *, name: str = "") -> str:
    """The base URL a kind uses when the Provider row leaves it blank (the official SDKs' defaults).

    Raises `ConfigurationError` for `openai_compatible` (it has no default) and unknown kinds.
    """
    url = DEFAULT_BASE_URLS.get(kind)
    if url is not None:
        return url
    label = f"Provider {name!r}" if name else "A provider"
    if kind == "openai_compatible":
        raise ConfigurationError(
            f"{label} is an OpenAI-compatible server with no base URL: set its base URL under "
            "Admin › AI › Providers (for example http://localhost:11434/v1 for Ollama)."
        )
    raise ConfigurationError(f"{label} has unknown kind {kind!r}: use one of {sorted(KIND_PATHS)}.")


class ProviderFactory:
    """Provider instances cached by spec; thread-safe; one pooled client set per instance."""

    def __init__(self, kind_paths: dict[str, str] | None = None) -> None:
        # The module table by default, so monkeypatching KIND_PATHS reaches the default factory.
        self.kind_paths = KIND_PATHS if kind_paths is None else kind_paths
        self._by_spec: dict[ProviderSpec, AIProvider] = {}
        self._by_name: dict[str, ProviderSpec] = {}
        # Per provider name: the config version its current spec came from, and the instance it
        # replaced, so a call still routing with an older snapshot is served by that retired
        # instance instead of swapping the old spec back in.
        self._version: dict[str, int] = {}
        self._retired: dict[str, tuple[ProviderSpec, AIProvider]] = {}
        self._lock = threading.Lock()

    def default_base_url(self, kind: str, *, name: str = "") -> str:
        return default_base_url(kind, name=name)

    def get(self, spec: ProviderSpec, *, version: int | None = None) -> AIProvider:
        """The provider for `spec`, built on first use. Raises `ConfigurationError` for a bad spec.

        `version` is the config version the caller routed with: a spec older than the provider's
        current one is served by the instance it replaced (retired, it closes after its calls).
        """
        provider = self._by_spec.get(spec)
        if provider is not None:
            return provider
        with self._lock:
            provider = self._by_spec.get(spec)
            stale = None
            if provider is None:
                provider = self._older(spec, version)
            if provider is None:
                provider = self._build(spec)
                stale = self._replace(spec, provider)
                if version is not None:
                    self._version[spec.name] = version
        if stale is not None:
            # Calls that picked up the old instance a moment ago finish on it; then it closes.
            stale.retire()
        return provider

    def _build(self, spec: ProviderSpec) -> AIProvider:
        path = self.kind_paths.get(spec.kind)
        if path is None:
            kinds = sorted(self.kind_paths)
            raise ConfigurationError(
                f"Provider {spec.name!r} has unknown kind {spec.kind!r}: use one of {kinds}."
            )
        built = spec if spec.base_url else replace(spec, base_url=default_base_url(spec.kind, name=spec.name))
        cls = import_string(path)
        return cls(built)

    def _older(self, spec: ProviderSpec, version: int | None) -> AIProvider | None:
        """The retired instance for a caller routing with an older config version, if it has it."""
        current = self._version.get(spec.name)
        if version is None or current is None or version >= current:
            return None
        retired = self._retired.get(spec.name)
        return retired[1] if retired is not None and retired[0] == spec else None

    def _replace(self, spec: ProviderSpec, provider: AIProvider) -> AIProvider | None:
        old_spec = self._by_name.get(spec.name)
        self._by_name[spec.name] = spec
        self._by_spec[spec] = provider
        if old_spec is None or old_spec == spec:
            return None
        stale = self._by_spec.pop(old_spec, None)
        if stale is not None:
            self._retired[spec.name] = (old_spec, stale)
        return stale

    def providers(self) -> list[AIProvider]:
        """The instances built so far (for diagnostics and tests)."""
        return list(self._by_spec.values())

    def _take_all(self) -> list[AIProvider]:
        with self._lock:
            providers = list(self._by_spec.values())
            self._by_spec.clear()
            self._by_name.clear()
            self._version.clear()
            self._retired.clear()
        return providers

    def close_all(self) -> None:
        """Forget every instance and close its pooled clients."""
        for provider in self._take_all():
            provider.close()

    async def aclose_all(self) -> None:
        """The async twin of `close_all()`: awaits each instance's `aclose()`."""
        for provider in self._take_all():
            await provider.aclose()


factory = ProviderFactory()
