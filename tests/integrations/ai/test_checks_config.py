"""Config lint (checks_config.py): ai.W101, ai.W102, ai.W103 and ai.E104 on the registry's rows."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Tags, run_checks

from backend.integrations.ai.models import CatalogModel, Provider
from tests.integrations.ai.factories import ModelAliasRowFactory, ModelRouteRowFactory, ProviderRowFactory

OUR_IDS = ("ai.W101", "ai.W102", "ai.W103", "ai.E104")


def lint(check_id: str | None = None) -> list:
    found = [m for m in run_checks(tags=[Tags.database], databases=["default"]) if m.id in OUR_IDS]
    return [m for m in found if check_id is None or m.id == check_id]


def about(messages: list, row: object) -> list:
    return [m for m in messages if m.obj == row]


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch):
    for name in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PANEL_TEST_KEY"):
        monkeypatch.delenv(name, raising=False)


# --- ai.W101 ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_enabled_alias_with_no_route_is_flagged_with_its_admin_page():
    alias = ModelAliasRowFactory(name="fast")
    (message,) = about(lint("ai.W101"), alias)
    assert "'fast'" in message.msg
    assert "Admin › AI › Model aliases › fast" in message.hint
    assert f"/admin/ai/modelalias/{alias.pk}/change/" in message.hint


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route_kwargs",
    [{"enabled": False}, {"provider__enabled": False}],
    ids=["disabled-route", "disabled-provider"],
)
def test_an_alias_whose_only_route_cannot_serve_is_flagged(route_kwargs):
    route = ModelRouteRowFactory(**route_kwargs)
    assert about(lint("ai.W101"), route.alias)


@pytest.mark.django_db
def test_an_alias_with_a_working_route_or_a_disabled_alias_is_fine():
    route = ModelRouteRowFactory()
    ModelRouteRowFactory(alias=route.alias, enabled=False)
    disabled = ModelAliasRowFactory(enabled=False)
    messages = lint("ai.W101")
    assert not about(messages, route.alias)
    assert not about(messages, disabled)


# --- ai.W102 ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_route_to_a_model_missing_from_the_catalog_is_flagged():
    CatalogModel.objects.create(provider_kind="openrouter", model_id="openai/gpt-4o-mini")
    provider = ProviderRowFactory(openrouter=True)
    listed = ModelRouteRowFactory(provider=provider, model="openai/gpt-4o-mini")
    missing = ModelRouteRowFactory(provider=provider, model="openai/gpt-does-not-exist")
    messages = lint("ai.W102")
    assert not about(messages, listed)
    (message,) = about(messages, missing)
    assert "openai/gpt-does-not-exist" in message.msg
    assert f"/admin/ai/modelalias/{missing.alias_id}/change/" in message.hint
    assert "ai_sync_models" in message.hint


@pytest.mark.django_db
def test_a_route_to_a_retired_model_is_flagged():
    CatalogModel.objects.create(provider_kind="openrouter", model_id="anthropic/claude-3-opus", retired=True)
    CatalogModel.objects.create(provider_kind="openrouter", model_id="openai/gpt-4o")
    route = ModelRouteRowFactory(
        provider=ProviderRowFactory(openrouter=True), model="anthropic/claude-3-opus"
    )
    assert about(lint("ai.W102"), route)


@pytest.mark.django_db
def test_routes_are_not_checked_for_kinds_the_catalog_has_no_rows_for():
    CatalogModel.objects.create(provider_kind="openrouter", model_id="openai/gpt-4o")
    route = ModelRouteRowFactory(provider=ProviderRowFactory(kind="openai"), model="my-fine-tune")
    assert not about(lint("ai.W102"), route)


# --- ai.W103 ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_enabled_provider_without_any_key_is_flagged():
    provider = ProviderRowFactory(name="naked", keyless=True, api_key_env="PANEL_TEST_KEY")
    (message,) = about(lint("ai.W103"), provider)
    assert "'naked'" in message.msg
    assert "PANEL_TEST_KEY is not set" in message.msg
    assert f"/admin/ai/provider/{provider.pk}/change/" in message.hint


@pytest.mark.django_db
def test_a_key_in_the_named_environment_variable_counts(monkeypatch):
    provider = ProviderRowFactory(keyless=True, api_key_env="PANEL_TEST_KEY")
    monkeypatch.setenv("PANEL_TEST_KEY", "sk-test-from-env")
    assert not about(lint("ai.W103"), provider)


@pytest.mark.django_db
def test_a_stored_key_or_a_disabled_provider_is_fine():
    stored = ProviderRowFactory()
    disabled = ProviderRowFactory(keyless=True, disabled=True)
    messages = lint("ai.W103")
    assert not about(messages, stored)
    assert not about(messages, disabled)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("base_url", "flagged"),
    [
        ("http://localhost:11434/v1", False),
        ("http://127.0.0.1:8000/v1", False),
        ("http://192.168.1.20:1234/v1", False),
        ("http://ollama:11434/v1", False),
        ("https://api.groq.com/openai/v1", True),
    ],
)
def test_a_local_openai_compatible_server_may_have_no_key(base_url, flagged):
    provider = ProviderRowFactory(kind="openai_compatible", keyless=True, base_url=base_url)
    assert bool(about(lint("ai.W103"), provider)) is flagged


# --- ai.E104 ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_key_that_does_not_decrypt_is_an_error(settings):
    test_key = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    provider = ProviderRowFactory(name="old-key")
    settings.FIELD_ENCRYPTION_KEY = test_key
    messages = lint()
    (message,) = about(messages, Provider.objects.get(pk=provider.pk))
    assert message.id == "ai.E104"
    assert "'old-key'" in message.msg
    assert "FIELD_ENCRYPTION_KEY" in message.hint
    assert f"/admin/ai/provider/{provider.pk}/change/" in message.hint


# --- when they run ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_config_checks_need_a_database_to_run():
    ModelAliasRowFactory()
    assert lint("ai.W101")
    assert not [m for m in run_checks() if m.id in OUR_IDS]


@pytest.mark.django_db
def test_messages_never_contain_a_key():
    ProviderRowFactory(api_key="sk-test-0000-visible-if-leaked")
    ModelAliasRowFactory()
    for message in lint():
        assert "sk-test-0000-visible-if-leaked" not in f"{message.msg} {message.hint}"
