"""The registry's write services: set, keep, remove and rotate stored keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from backend.integrations.ai import services
from backend.integrations.ai.errors import EncryptionKeyError
from backend.integrations.ai.models import Provider

from .factories import ProviderRowFactory

pytestmark = pytest.mark.django_db

KEY = "sk-test-services-000000000000KEEP"


def test_save_with_a_blank_key_keeps_the_stored_one():
    provider = ProviderRowFactory(api_key=KEY)
    provider.priority = 42
    services.provider_save(provider=provider, new_api_key="   ")
    stored = Provider.objects.get(pk=provider.pk)
    assert (stored.priority, stored.api_key) == (42, KEY)


def test_save_with_a_new_key_strips_and_stores_it():
    provider = ProviderRowFactory(api_key=KEY)
    services.provider_save(provider=provider, new_api_key="  sk-test-new-key-0000000000  ")
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-test-new-key-0000000000"


def test_save_with_remove_clears_the_key():
    provider = ProviderRowFactory(api_key=KEY)
    services.provider_save(provider=provider, remove_key=True)
    assert Provider.objects.get(pk=provider.pk).api_key == ""


def test_save_of_a_new_key_without_an_encryption_key_raises_before_writing(settings):
    provider = ProviderRowFactory(api_key=KEY)
    settings.FIELD_ENCRYPTION_KEY = ""
    with pytest.raises(EncryptionKeyError, match="FIELD_ENCRYPTION_KEY"):
        services.provider_save(provider=provider, new_api_key="sk-test-new-key-0000000000")


def test_remove_key_service():
    provider = ProviderRowFactory(api_key=KEY, api_key_env="OPENAI_API_KEY")
    services.provider_api_key_remove(provider=provider)
    stored = Provider.objects.get(pk=provider.pk)
    assert (stored.api_key, stored.api_key_env) == ("", "OPENAI_API_KEY")


def test_rotate_report_counts(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = old
    ProviderRowFactory(api_key=KEY)
    ProviderRowFactory(keyless=True)
    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"
    report = services.api_keys_rotate()
    assert (report.rotated, report.without_key, report.undecryptable) == (1, 1, ())
