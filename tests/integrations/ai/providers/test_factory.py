"""ProviderFactory: the kind table, caching by spec, spec changes, pools, loops, threads, closing."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from backend.integrations.ai.errors import ConfigurationError
from backend.integrations.ai.providers import factory as factory_module
from backend.integrations.ai.providers._client import ASYNC_SHARD_SIZE, shard_limits
from backend.integrations.ai.providers.anthropic_provider import AnthropicProvider
from backend.integrations.ai.providers.base import AIProvider, ProviderSpec
from backend.integrations.ai.providers.factory import KIND_PATHS, ProviderFactory, default_base_url
from backend.integrations.ai.providers.openai_provider import OpenAIProvider
from backend.integrations.ai.providers.openrouter_provider import OpenRouterProvider
from backend.integrations.ai.types import Completion

from .conftest import spec


class FakeProvider(AIProvider):
    """Stands in for a real provider; records closes."""

    closed = 0
    aclosed = 0

    def complete(self, request):
        return Completion(text=f"fake from {self.spec.name}")

    def close(self) -> None:
        type(self).closed += 1

    async def aclose(self) -> None:
        type(self).aclosed += 1


FAKE_PATH = f"{__name__}.FakeProvider"


@pytest.fixture(autouse=True)
def _reset_fake():
    FakeProvider.closed = FakeProvider.aclosed = 0


def test_kind_table_builds_the_right_classes(providers):
    assert type(providers.get(spec("openai"))) is OpenAIProvider
    assert type(providers.get(spec("openai_compatible"))) is OpenAIProvider
    assert type(providers.get(spec("anthropic"))) is AnthropicProvider
    assert type(providers.get(spec("openrouter"))) is OpenRouterProvider
    assert set(KIND_PATHS) == {"openai", "openai_compatible", "anthropic", "openrouter"}


def test_default_base_urls():
    assert default_base_url("openai") == "https://api.openai.com/v1"
    assert default_base_url("anthropic") == "https://api.anthropic.com"
    assert default_base_url("openrouter") == "https://openrouter.ai/api/v1"
    assert ProviderFactory().default_base_url("openai") == "https://api.openai.com/v1"


def test_blank_base_url_takes_the_kind_default(providers):
    assert providers.get(spec("anthropic", base_url="")).base_url == "https://api.anthropic.com"
    assert providers.get(spec("openrouter", base_url="")).base_url == "https://openrouter.ai/api/v1"


def test_openai_compatible_without_base_url_is_a_configuration_error(providers):
    with pytest.raises(ConfigurationError, match="base URL") as caught:
        providers.get(spec("openai_compatible", base_url="", name="local-llm"))
    assert "local-llm" in str(caught.value)
    assert "Admin" in str(caught.value)


def test_unknown_kind_is_a_configuration_error(providers):
    with pytest.raises(ConfigurationError, match="unknown kind 'gemini'"):
        providers.get(ProviderSpec(kind="gemini", name="g", base_url="https://x"))


def test_same_spec_returns_the_cached_instance(providers):
    first = providers.get(spec("openai"))
    assert providers.get(spec("openai")) is first
    assert providers.get(replace(spec("openai"))) is first


def test_changed_spec_for_the_same_name_builds_new_and_closes_old():
    made = ProviderFactory(kind_paths={"openai": FAKE_PATH})
    old = made.get(spec("openai", name="main"))
    new = made.get(spec("openai", name="main", api_key="sk-test-rotated"))
    assert new is not old
    assert new.spec.api_key == "sk-test-rotated"
    assert FakeProvider.closed == 1
    assert made.providers() == [new]
    other = made.get(spec("openai", name="backup"))
    assert FakeProvider.closed == 1
    assert set(made.providers()) == {new, other}


def test_changed_spec_closes_real_pools(providers):
    old = providers.get(spec("openai", name="main"))
    client = old.clients.sync()
    providers.get(spec("openai", name="main", timeout_s=99.0))
    assert client.is_closed


def test_a_test_can_point_a_kind_at_a_fake(monkeypatch):
    monkeypatch.setitem(KIND_PATHS, "openai", FAKE_PATH)
    made = ProviderFactory()
    provider = made.get(spec("openai"))
    assert isinstance(provider, FakeProvider)
    assert provider.complete(None).text == "fake from openai-main"


def test_module_default_instance_uses_the_module_table():
    assert isinstance(factory_module.factory, ProviderFactory)
    assert factory_module.factory.kind_paths is KIND_PATHS


def test_close_all_and_aclose_all():
    made = ProviderFactory(kind_paths={"openai": FAKE_PATH, "anthropic": FAKE_PATH})
    made.get(spec("openai"))
    made.get(spec("anthropic"))
    made.close_all()
    assert FakeProvider.closed == 2
    assert made.providers() == []
    made.get(spec("openai"))
    asyncio.run(made.aclose_all())
    assert FakeProvider.aclosed == 1
    assert made.providers() == []


def test_pool_sized_from_spec_with_no_redirects_and_spec_timeouts(providers):
    provider = providers.get(spec("openai", pool_size=13, timeout_s=9.0, connect_timeout_s=1.5))
    client = provider.clients.sync()
    pool = client._transport._pool
    assert (pool._max_connections, pool._max_keepalive_connections) == (13, 13)
    assert client.follow_redirects is False
    assert (client.timeout.connect, client.timeout.read) == (1.5, 9.0)


def test_one_sync_client_per_spec_and_one_async_client_per_loop(providers):
    small = spec("anthropic", pool_size=ASYNC_SHARD_SIZE)  # one shard
    provider = providers.get(small)
    assert provider.clients.sync() is providers.get(small).clients.sync()

    async def grab():
        return providers.get(small).clients.for_running_loop()

    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        a1 = loop_a.run_until_complete(grab())
        a2 = loop_a.run_until_complete(grab())
        b1 = loop_b.run_until_complete(grab())
        assert a1 is a2
        assert b1 is not a1
        assert not a1.is_closed
    finally:
        loop_a.run_until_complete(a1.aclose())
        loop_b.run_until_complete(b1.aclose())
        loop_a.close()
        loop_b.close()


def test_a_large_async_pool_is_split_into_shards_used_in_turn(providers):
    assert shard_limits(100) == [25, 25, 25, 25]
    assert shard_limits(500) == [32] * 4 + [31] * 12
    assert sum(shard_limits(77)) == 77
    assert shard_limits(1) == [1]
    pool = providers.get(spec("anthropic", pool_size=100)).clients

    async def grab_many():
        return [pool.for_running_loop() for _ in range(8)]

    loop = asyncio.new_event_loop()
    try:
        clients = loop.run_until_complete(grab_many())
        assert len(set(map(id, clients))) == 4  # four shards, each taken in turn
        assert clients[:4] == clients[4:]
        assert sorted(c._transport._pool._max_connections for c in clients[:4]) == [25, 25, 25, 25]
    finally:
        loop.run_until_complete(pool.aclose())
        loop.close()


class CountingProvider(FakeProvider):
    """Records every instance built."""

    built: list[AIProvider] = []  # noqa: RUF012

    def __init__(self, spec: ProviderSpec) -> None:
        super().__init__(spec)
        self.built.append(self)


def test_concurrent_gets_build_one_instance():
    CountingProvider.built.clear()
    made = ProviderFactory(kind_paths={"openai": f"{__name__}.CountingProvider"})
    barrier = threading.Barrier(16)
    results = []

    def worker():
        barrier.wait()
        results.append(made.get(spec("openai")))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(CountingProvider.built) == 1
    assert len(results) == 16
    assert all(r is CountingProvider.built[0] for r in results)


def test_a_caller_on_an_older_config_version_is_served_by_the_retired_instance():
    made = ProviderFactory(kind_paths={"openai": FAKE_PATH})
    old_spec = spec("openai", timeout_s=30.0)
    new_spec = replace(old_spec, timeout_s=60.0)
    old = made.get(old_spec, version=1)
    new = made.get(new_spec, version=2)  # the admin edited the row: version 2 replaces it
    assert new is not old
    # A retry of a call that routed with version 1 neither rebuilds nor swaps the old spec back.
    assert made.get(old_spec, version=1) is old
    assert made.get(new_spec, version=2) is new
    assert made.providers() == [new]
    # A newer config that goes back to the old settings makes them current again.
    again = made.get(old_spec, version=3)
    assert again is not new
    assert made.get(old_spec) is again
    made.close_all()
