"""Rows and settings shared by the registry's tests (config, router, calls, ledger, e2e)."""

from __future__ import annotations

from typing import Any

from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider

CANARY_KEY = "sk-test-CANARY-9f8e7d6c5b4a-never-show-me"


def provider_row(name: str, kind: str, base_url: str, *, priority: int = 10, **fields: Any) -> Provider:
    fields.setdefault("api_key", f"sk-test-{name}")
    fields.setdefault("max_retries", 1)
    fields.setdefault("timeout_seconds", 5.0)
    return Provider.objects.create(name=name, kind=kind, base_url=base_url, priority=priority, **fields)


def alias_with_routes(
    name: str, *routes: tuple[Provider, str] | tuple[Provider, str, int], **fields: Any
) -> ModelAlias:
    alias = ModelAlias.objects.create(name=name, **fields)
    for route in routes:
        provider, model = route[0], route[1]
        priority = route[2] if len(route) > 2 else 100  # equal: provider priority decides
        ModelRoute.objects.create(alias=alias, provider=provider, model=model, priority=priority)
    return alias


def fast_retries(settings: Any) -> None:
    """Retries without real waiting, so failure paths run in milliseconds."""
    settings.AI_RETRY_BASE_SECONDS = 0.001
    settings.AI_RETRY_MAX_BACKOFF_SECONDS = 0.002


def two_providers(
    fake_server: Any, kind_a: str = "openai", kind_b: str = "openai"
) -> tuple[Provider, Provider]:
    """Provider `a` (priority 10) and `b` (priority 20) on fake-server tenants of the same names,
    and an alias `default` routing to both."""
    a = provider_row("a", kind_a, fake_server.base_url(_flavor(kind_a), tenant="a"), priority=10)
    b = provider_row("b", kind_b, fake_server.base_url(_flavor(kind_b), tenant="b"), priority=20)
    alias_with_routes("default", (a, _model(kind_a)), (b, _model(kind_b)))
    return a, b


def _flavor(kind: str) -> str:
    return "openai" if kind == "openai_compatible" else kind


def _model(kind: str) -> str:
    return {
        "openai": "gpt-4o-mini",
        "openai_compatible": "llama3",
        "anthropic": "claude-3-5-haiku-20241022",
        "openrouter": "openai/gpt-4o-mini",
    }[kind]
