"""Provider key helpers, model validation, natural keys and the routing-settings singleton."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from backend.integrations.ai.errors import KeyDecryptionError
from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider, RoutingSettings

from .factories import ModelAliasRowFactory, ModelRouteRowFactory, ProviderRowFactory

pytestmark = pytest.mark.django_db

KEY = "sk-test-models-0123456789abcdWXYZ"


# --- key_status and resolve_api_key -------------------------------------------------------------


def test_stored_key_status_shows_only_the_last_four_characters():
    provider = ProviderRowFactory(api_key=KEY)
    assert provider.key_status() == ("stored", "set …WXYZ")
    assert provider.key_status(reveal_hint=False) == ("stored", "set")


def test_env_key_status_names_the_variable(monkeypatch):
    monkeypatch.setenv("PANEL_TEST_KEY_ENV", "sk-test-from-env-000000000")
    provider = ProviderRowFactory(keyless=True, api_key_env="PANEL_TEST_KEY_ENV")
    assert provider.key_status() == ("env", "from env PANEL_TEST_KEY_ENV")


def test_missing_key_status(monkeypatch):
    monkeypatch.delenv("PANEL_TEST_KEY_ENV", raising=False)
    assert ProviderRowFactory(keyless=True).key_status() == ("missing", "missing")
    code, label = ProviderRowFactory(keyless=True, api_key_env="PANEL_TEST_KEY_ENV").key_status()
    assert code == "missing"
    assert "PANEL_TEST_KEY_ENV" in label


def test_undecryptable_key_status(settings):
    provider = ProviderRowFactory(api_key=KEY)
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    loaded = Provider.objects.get(pk=provider.pk)
    assert loaded.key_status() == ("undecryptable", "cannot decrypt — re-enter the key")


def test_resolve_prefers_the_stored_key_over_the_environment(monkeypatch):
    monkeypatch.setenv("PANEL_TEST_KEY_ENV", "sk-test-from-env-000000000")
    provider = ProviderRowFactory(api_key=KEY, api_key_env="PANEL_TEST_KEY_ENV")
    assert Provider.objects.get(pk=provider.pk).resolve_api_key() == (KEY, "stored")


def test_resolve_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("PANEL_TEST_KEY_ENV", "  sk-test-from-env-000000000\n")
    provider = ProviderRowFactory(keyless=True, api_key_env="PANEL_TEST_KEY_ENV")
    assert provider.resolve_api_key() == ("sk-test-from-env-000000000", "env:PANEL_TEST_KEY_ENV")


def test_resolve_with_no_key_anywhere(monkeypatch):
    monkeypatch.delenv("PANEL_TEST_KEY_ENV", raising=False)
    provider = ProviderRowFactory(keyless=True, api_key_env="PANEL_TEST_KEY_ENV")
    assert provider.resolve_api_key() == ("", "")


def test_resolve_of_an_undecryptable_key_raises_even_with_an_env_fallback(settings, monkeypatch):
    monkeypatch.setenv("PANEL_TEST_KEY_ENV", "sk-test-from-env-000000000")
    provider = ProviderRowFactory(api_key=KEY, api_key_env="PANEL_TEST_KEY_ENV")
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(KeyDecryptionError, match="FIELD_ENCRYPTION_KEY"):
        Provider.objects.get(pk=provider.pk).resolve_api_key()


# --- validation ---------------------------------------------------------------------------------


def test_openai_compatible_needs_a_base_url():
    provider = Provider(name="local", kind="openai_compatible", base_url="")
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "base_url" in caught.value.message_dict
    provider.base_url = "http://localhost:11434/v1"
    provider.full_clean()


def test_clean_strips_whitespace_from_keys_and_names():
    provider = Provider(
        name="p", kind="openai", api_key="  sk-test-padded  \n", api_key_env=" OPENAI_API_KEY "
    )
    provider.full_clean()
    assert provider.api_key == "sk-test-padded"
    assert provider.api_key_env == "OPENAI_API_KEY"


def test_api_key_env_must_be_a_variable_name_not_a_key():
    provider = Provider(name="p", kind="openai", api_key_env="sk-test-pasted-in-the-wrong-box")
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "api_key_env" in caught.value.message_dict
    assert "sk-test-pasted" not in str(caught.value)


@pytest.mark.parametrize("weight", [0, -1])
def test_weight_must_be_at_least_one(weight):
    with pytest.raises(ValidationError) as caught:
        Provider(name="p", kind="openai", weight=weight).full_clean()
    assert "weight" in caught.value.message_dict


def test_base_url_is_validated_on_full_clean(settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = True
    with pytest.raises(ValidationError) as caught:
        Provider(name="p", kind="openai", base_url="http://169.254.169.254/latest").full_clean()
    assert "base_url" in caught.value.message_dict


def test_extra_headers_with_credentials_are_refused():
    provider = Provider(name="p", kind="openai", extra_headers={"Authorization": "Bearer sk-test-x"})
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "extra_headers" in caught.value.message_dict
    assert "sk-test-x" not in str(caught.value)


def test_route_model_must_not_be_blank():
    route = ModelRoute(alias=ModelAliasRowFactory(), provider=ProviderRowFactory(), model="   ")
    with pytest.raises(ValidationError) as caught:
        route.full_clean()
    assert "model" in caught.value.message_dict


def test_route_model_blank_is_refused_by_the_database_too():
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelRoute.objects.create(alias=ModelAliasRowFactory(), provider=ProviderRowFactory(), model="")


def test_routes_are_ordered_by_priority():
    alias = ModelAliasRowFactory()
    late = ModelRouteRowFactory(alias=alias, priority=30)
    early = ModelRouteRowFactory(alias=alias, priority=10)
    assert list(alias.routes.all()) == [early, late]


# --- natural keys and the singleton -------------------------------------------------------------


def test_natural_keys_round_trip():
    route = ModelRouteRowFactory(model="openai/gpt-4o-mini")
    assert Provider.objects.get_by_natural_key(*route.provider.natural_key()) == route.provider
    assert ModelAlias.objects.get_by_natural_key(*route.alias.natural_key()) == route.alias
    assert ModelRoute.objects.get_by_natural_key(*route.natural_key()) == route


def test_routing_settings_is_a_single_row():
    first = RoutingSettings.load()
    RoutingSettings(mode="openrouter").save()
    assert RoutingSettings.objects.count() == 1
    assert RoutingSettings.load().pk == first.pk
    assert RoutingSettings.load().mode == "openrouter"


def test_str_never_shows_the_key():
    provider = ProviderRowFactory(api_key=KEY)
    route = ModelRouteRowFactory(provider=provider)
    for text in (str(provider), repr(provider), str(route), repr(route)):
        assert KEY not in text
        assert "WXYZ" not in text
