"""ai_generate_key and ai_rotate_keys."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backend.integrations.ai.fields import UndecryptableSecret
from backend.integrations.ai.models import Provider

from .factories import ProviderRowFactory

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
LOST = Fernet.generate_key().decode()


def raw_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_provider WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_generate_key_prints_a_new_fernet_key_each_time():
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        call_command("ai_generate_key", stdout=out)
        outputs.append(out.getvalue().strip())
        Fernet(outputs[-1])
    assert outputs[0] != outputs[1]


@pytest.mark.django_db
def test_rotate_re_encrypts_every_key_with_the_first_key(settings):
    settings.FIELD_ENCRYPTION_KEY = OLD
    rows = [ProviderRowFactory(api_key=f"sk-test-rotate-{i}-000000000000") for i in range(3)]
    ProviderRowFactory(keyless=True)
    settings.FIELD_ENCRYPTION_KEY = f"{NEW},{OLD}"
    out = io.StringIO()
    call_command("ai_rotate_keys", stdout=out)
    assert "Re-encrypted 3 stored key(s)" in out.getvalue()
    assert "1 provider(s) have no stored key" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEY = NEW  # OLD can now be dropped
    for i, row in enumerate(rows):
        assert Provider.objects.get(pk=row.pk).api_key == f"sk-test-rotate-{i}-000000000000"
        assert Fernet(NEW).decrypt(raw_column(row.pk).encode()).decode() == f"sk-test-rotate-{i}-000000000000"


@pytest.mark.django_db
def test_rotate_leaves_undecryptable_keys_untouched_and_fails(settings):
    settings.FIELD_ENCRYPTION_KEY = LOST
    lost = ProviderRowFactory(name="lost-one", api_key="sk-test-lost-000000000000000")
    lost_token = raw_column(lost.pk)
    settings.FIELD_ENCRYPTION_KEY = OLD
    kept = ProviderRowFactory(name="kept", api_key="sk-test-kept-000000000000000")
    settings.FIELD_ENCRYPTION_KEY = f"{NEW},{OLD}"
    out = io.StringIO()
    with pytest.raises(CommandError, match="lost-one") as caught:
        call_command("ai_rotate_keys", stdout=out)
    assert "sk-test-lost" not in str(caught.value)
    assert "Re-encrypted 1 stored key(s)" in out.getvalue()
    assert raw_column(lost.pk) == lost_token
    assert isinstance(Provider.objects.get(pk=lost.pk).api_key, UndecryptableSecret)
    assert Fernet(NEW).decrypt(raw_column(kept.pk).encode()).decode() == "sk-test-kept-000000000000000"


@pytest.mark.django_db
def test_rotate_without_a_key_fails_with_the_setting_name(settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEY"):
        call_command("ai_rotate_keys", stdout=io.StringIO())
