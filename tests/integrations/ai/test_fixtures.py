"""fixtures/staging_providers.json: the staging config, loadable any number of times, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider, RoutingSettings

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "staging_providers.json"
MODELS = (Provider, ModelAlias, ModelRoute, RoutingSettings)

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}


def load() -> None:
    call_command("loaddata", str(FIXTURE), verbosity=0)


def test_loading_twice_changes_nothing_the_second_time():
    load()
    first = snapshot()
    load()
    assert snapshot() == first
    in_file = [entry["model"] for entry in json.loads(FIXTURE.read_text())]
    assert {name: len(rows) for name, rows in first.items()} == {
        "Provider": 3,
        "ModelAlias": 4,
        "ModelRoute": in_file.count("ai.modelroute"),
        "RoutingSettings": 1,
    }
    assert in_file.count("ai.modelroute") >= 12


def test_openrouter_first_with_direct_fallbacks_keys_from_env():
    load()
    providers = [(p.name, p.kind, p.priority, p.api_key_env, p.api_key) for p in Provider.objects.all()]
    assert providers == [
        ("openrouter", "openrouter", 10, "OPENROUTER_API_KEY", ""),
        ("openai", "openai", 20, "OPENAI_API_KEY", ""),
        ("anthropic", "anthropic", 30, "ANTHROPIC_API_KEY", ""),
    ]
    assert all(p.enabled and p.base_url == "" for p in Provider.objects.all())


@pytest.mark.parametrize("alias", ["default", "fast", "smart", "cheap"])
def test_each_alias_routes_through_openrouter_first_then_direct(alias):
    load()
    routes = list(ModelAlias.objects.get(name=alias).routes.select_related("provider"))
    assert routes[0].provider.name == "openrouter"
    assert {r.provider.name for r in routes} == {"openrouter", "openai", "anthropic"}
    priorities = [r.priority for r in routes]
    assert priorities == sorted(priorities)
    for route in routes:
        if route.provider.kind == "openrouter":
            assert "/" in route.model  # an OpenRouter slug, author/model
        else:
            assert "/" not in route.model  # a direct model id


def test_routing_settings_row():
    load()
    row = RoutingSettings.load()
    settings = (row.mode, row.default_alias, row.failover_enabled, row.store_prompts)
    assert settings == ("auto", "default", True, False)


def test_every_fixture_row_validates():
    load()
    for model in MODELS:
        for row in model.objects.all():
            row.full_clean()


def test_the_fixture_holds_no_secret():
    text = FIXTURE.read_text()
    assert "sk-" not in text
    for entry in json.loads(text):
        assert entry["fields"].get("api_key", "") == ""
