"""Registry rows for the CMS tests: two providers on the loopback fake server, every alias routed.

`primary` is an OpenAI-flavored account (tenant "primary", priority 10) and `backup` an
Anthropic-flavored one (tenant "backup", priority 20). Every alias the CMS features use routes to
both with equal route priority, so the Provider rows' priority decides the order, as an admin
reordering providers would. Each alias asks for its own model ids, so a test can tell from the
request which alias was used. Retries are off so failover is immediate and tests stay fast.

The fixtures at the end are imported by tests/pages/conftest.py and tests/prompts/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from backend.integrations.ai import config
from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider
from tests.fakes.server import FakeProviderServer

PRIMARY = "primary"
BACKUP = "backup"

# alias -> (primary model, backup model)
ALIAS_MODELS: dict[str, tuple[str, str]] = {
    "default": ("gpt-4.1-mini", "claude-3-5-haiku-latest"),
    "fast": ("gpt-4o-mini", "claude-3-5-haiku-20241022"),
    "smart": ("gpt-4o", "claude-sonnet-4-20250514"),
    "cheap": ("gpt-4.1-nano", "claude-3-haiku-20240307"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    server: FakeProviderServer
    primary: Provider
    backup: Provider

    def swap_order(self) -> None:
        """Put the backup first, as an admin editing the priorities would (one save each)."""
        self.primary.priority, self.backup.priority = 20, 10
        self.primary.save(update_fields=["priority"])
        self.backup.save(update_fields=["priority"])

    def requested_models(self, tenant: str) -> list[str]:
        return [r.json["model"] for r in self.server.requests(tenant) if isinstance(r.json, dict)]


def routing_create(server: FakeProviderServer) -> Routing:
    primary = Provider.objects.create(
        name="primary-openai",
        kind="openai",
        base_url=server.base_url("openai", tenant=PRIMARY),
        api_key="sk-test-primary-0001",
        priority=10,
        max_retries=0,
    )
    backup = Provider.objects.create(
        name="backup-anthropic",
        kind="anthropic",
        base_url=server.base_url("anthropic", tenant=BACKUP),
        api_key="sk-test-backup-0002",
        priority=20,
        max_retries=0,
    )
    for name, (primary_model, backup_model) in ALIAS_MODELS.items():
        alias = ModelAlias.objects.create(name=name)
        ModelRoute.objects.create(alias=alias, provider=primary, model=primary_model)
        ModelRoute.objects.create(alias=alias, provider=backup, model=backup_model)
    return Routing(server=server, primary=primary, backup=backup)


def admin_client_create() -> Client:
    user = get_user_model().objects.create_superuser(
        "editor", "editor@example.com", None
    )  # no hashing: force_login
    client = Client()
    client.force_login(user)
    return client


def message_texts(response: object) -> list[str]:
    """The admin messages a response carried (from its context or the followed redirect)."""
    context = getattr(response, "context", None)
    if context is None or "messages" not in context:
        return []
    return [str(m) for m in context["messages"]]


@pytest.fixture(autouse=True)
def _fresh_registry_state() -> Iterator[None]:
    """No circuit state or config snapshot leaks between tests (both outlive a test's rollback)."""
    cache.clear()
    config.invalidate()
    yield
    cache.clear()
    config.invalidate()


@pytest.fixture
def routing(db: None, fake_server: FakeProviderServer) -> Routing:
    """Two providers on the fake server, primary first, every alias routed to both."""
    return routing_create(fake_server)


@pytest.fixture
def admin_client_logged_in(db: None) -> Client:
    return admin_client_create()
