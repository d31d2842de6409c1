"""Shared test set-up. Area-specific fixtures live in the plugin modules listed below."""

import pytest

pytest_plugins = [
    "tests.plugins.fake_server",
    "tests.plugins.registry",
]

# An obviously fake Fernet key for tests; never used outside them.
TEST_FIELD_ENCRYPTION_KEY = "dGVzdC1rZXktZm9yLXBhbmVsLW9ubHktMDAwMDAwMDA="


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.FIELD_ENCRYPTION_KEY = TEST_FIELD_ENCRYPTION_KEY
    # Logins in admin tests: the default hasher costs ~0.5 s a user by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AI_ALLOW_PRIVATE_BASE_URLS = True
    for name in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        setattr(settings, name, "")
    settings.AI_PROVIDER = "auto"
    return settings
