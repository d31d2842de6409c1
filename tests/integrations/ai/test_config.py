"""The config snapshot: precedence, propagation without restart, database outages."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.management import call_command
from django.db import DatabaseError

from backend.integrations.ai import config
from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider, RoutingSettings

from .registry_helpers import alias_with_routes, provider_row

pytestmark = pytest.mark.django_db


def first_provider(model=None):
    from backend.integrations.ai import router

    return router.resolve(config.current(), model).candidates[0].name


@pytest.fixture
def rows():
    a = provider_row("a", "openai", "https://api.openai.com/v1", priority=10)
    b = provider_row("b", "openrouter", "https://openrouter.ai/api/v1", priority=20)
    alias_with_routes("default", (a, "gpt-4o-mini", 10), (b, "openai/gpt-4o-mini", 10))
    return a, b


def test_rows_build_the_snapshot(rows):
    cfg = config.current()
    assert cfg.source == "database"
    assert [p.name for p in cfg.provider_order] == ["a", "b"]
    assert cfg.providers["a"].spec.api_key == "sk-test-a"
    assert "sk-test-a" not in repr(cfg.providers["a"])
    assert [r.model for r in cfg.aliases["default"].routes] == ["gpt-4o-mini", "openai/gpt-4o-mini"]


def test_snapshot_is_reused_without_queries(rows, django_assert_num_queries):
    first = config.current()
    with django_assert_num_queries(0):
        for _ in range(100):
            assert config.current() is first


def test_reordering_providers_changes_the_next_call(rows):
    a, _ = rows
    assert first_provider() == "a"
    a.priority = 30
    a.save()
    assert first_provider() == "b"


def test_queryset_update_is_seen_by_the_next_call(rows):
    assert first_provider() == "a"
    Provider.objects.filter(name="a").update(enabled=False)
    assert first_provider() == "b"


def test_queryset_delete_is_seen_by_the_next_call(rows):
    assert first_provider() == "a"
    ModelRoute.objects.filter(provider__name="a").delete()
    assert first_provider() == "b"


def test_routing_settings_mode_is_seen_by_the_next_call(rows):
    assert first_provider() == "a"
    settings_row = RoutingSettings.load()
    settings_row.mode = "openrouter"
    settings_row.save()
    cfg = config.current()
    assert cfg.mode == "openrouter"
    assert first_provider() == "b"


def test_loaddata_is_seen_by_the_next_call(rows, tmp_path, monkeypatch):
    assert first_provider() == "a"
    fixture = tmp_path / "move.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "ai.provider",
                    "fields": {
                        "name": "b",
                        "kind": "openrouter",
                        "api_key_env": "OPENROUTER_API_KEY",
                        "priority": 1,
                        "created_at": "2026-01-01T00:00:00Z",
                        "updated_at": "2026-01-01T00:00:00Z",
                    },
                }
            ]
        )
    )
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-test")
    call_command("loaddata", str(fixture), verbosity=0)
    assert Provider.objects.get(name="b").priority == 1
    assert first_provider() == "b"


def test_a_write_from_another_process_is_seen_at_the_next_version_check(rows, settings):
    """Simulates another process: the stamp grows with no local bump; the snapshot follows at
    the next check (at most AI_CONFIG_CHECK_INTERVAL later)."""
    from django.db.models import F

    from backend.integrations.ai.models import ConfigStamp

    assert first_provider() == "a"
    generation = config._state.generation
    # A raw write this process does not hear about: bypass the bumping queryset.
    Provider.objects.filter(name="a").values("pk")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE ai_provider SET priority = 99 WHERE name = 'a'")
    ConfigStamp.objects.filter(pk=1).update(version=F("version") + 1)  # plain QuerySet: no bump
    assert config._state.generation == generation
    assert first_provider() == "a"  # still inside the check interval
    config._state.next_check = 0  # the interval has passed
    assert first_provider() == "b"


def test_env_only_configuration_with_an_empty_database(settings):
    settings.OPENROUTER_API_KEY = "sk-or-v1-test"
    settings.OPENAI_API_KEY = "sk-test-openai"
    settings.OPENROUTER_DEFAULT_MODEL = "anthropic/claude-3.5-sonnet"
    cfg = config.current()
    assert cfg.source == "environment"
    assert [p.name for p in cfg.provider_order] == ["openrouter", "openai"]  # auto prefers OpenRouter
    assert cfg.providers["openrouter"].key_source == "env:OPENROUTER_API_KEY"
    routes = {r.provider: r.model for r in cfg.aliases["default"].routes}
    assert routes == {"openrouter": "anthropic/claude-3.5-sonnet", "openai": "gpt-4o-mini"}


def test_env_only_respects_ai_provider_and_base_urls(settings):
    settings.OPENROUTER_API_KEY = "sk-or-v1-test"
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    settings.AI_PROVIDER = "anthropic"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9/anthropic/"
    cfg = config.current()
    assert list(cfg.providers) == ["anthropic"]
    assert cfg.providers["anthropic"].spec.base_url == "http://127.0.0.1:9/anthropic"


def test_no_configuration_at_all_is_a_configuration_error_naming_the_fix():
    from backend.integrations import ai

    with pytest.raises(ai.ConfigurationError) as caught:
        ai.complete(prompt="hi")
    message = str(caught.value)
    assert "Admin › AI › Providers" in message
    assert "OPENROUTER_API_KEY" in message


def test_row_without_key_uses_its_env_var(monkeypatch):
    monkeypatch.setenv("PANEL_TEST_KEY", "sk-test-from-env")
    provider_row("a", "openai", "https://api.openai.com/v1", api_key="", api_key_env="PANEL_TEST_KEY")
    cfg = config.current()
    assert cfg.providers["a"].spec.api_key == "sk-test-from-env"
    assert cfg.providers["a"].key_source == "env:PANEL_TEST_KEY"


def test_row_with_no_key_anywhere_is_unusable_with_a_message():
    provider_row("a", "openai", "https://api.openai.com/v1", api_key="", api_key_env="PANEL_UNSET_KEY")
    problem = config.current().providers["a"].problem
    assert "no API key" in problem
    assert "PANEL_UNSET_KEY" in problem


def test_disabled_alias_and_route_are_left_out(rows):
    ModelAlias.objects.create(name="off", enabled=False)
    ModelRoute.objects.filter(provider__name="b").update(enabled=False)
    cfg = config.current()
    assert "off" not in cfg.aliases
    assert [r.provider for r in cfg.aliases["default"].routes] == ["a"]


def test_database_outage_keeps_serving_the_last_snapshot_and_logs_once(rows, monkeypatch, caplog):
    good = config.current()

    def broken(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(config, "_read_stamp", broken)
    caplog.set_level(logging.ERROR, logger="backend.integrations.ai.config")
    for _ in range(5):
        config._state.next_check = 0
        config._state.generation += 1  # even a local change cannot be read now
        assert config.current().providers == good.providers
    outage_logs = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(outage_logs) == 1
    monkeypatch.undo()
    config._state.next_check = 0
    assert config.current().source == "database"


def test_moving_a_provider_to_the_top_moves_every_staging_alias(monkeypatch):
    """The staging fixture ties each provider's first-choice route, so provider order decides."""
    for name in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, f"sk-test-{name.lower()}")
    call_command("loaddata", "fixtures/staging_providers.json", verbosity=0)
    aliases = ("default", "fast", "smart", "cheap")
    assert {alias: first_provider(alias) for alias in aliases} == dict.fromkeys(aliases, "openrouter")
    Provider.objects.filter(name="anthropic").update(priority=1)
    assert {alias: first_provider(alias) for alias in aliases} == dict.fromkeys(aliases, "anthropic")
