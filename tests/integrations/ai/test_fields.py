"""EncryptedTextField: every write path stores a token, undecryptable tokens survive, lookups
raise, dumps hold ciphertext, and key lists rotate."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Upper

from backend.integrations.ai.errors import ConfigurationError, EncryptionKeyError, KeyDecryptionError
from backend.integrations.ai.fields import (
    EncryptedTextField,
    UndecryptableSecret,
    decrypt,
    encrypt,
    encryption_keys,
    fingerprint,
    looks_like_token,
)
from backend.integrations.ai.models import Provider
from tests.conftest import TEST_FIELD_ENCRYPTION_KEY

from .factories import ProviderRowFactory

KEY = "sk-test-field-0123456789abcdefghijklmnop"
OTHER_KEY = Fernet.generate_key().decode()
THIRD_KEY = Fernet.generate_key().decode()


def raw_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_provider WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def assert_token_of(stored: str, plaintext: str, key: str = TEST_FIELD_ENCRYPTION_KEY) -> None:
    assert plaintext not in stored
    assert looks_like_token(stored)
    assert Fernet(key).decrypt(stored.encode()).decode() == plaintext


pytestmark = pytest.mark.django_db


# --- every write path stores a token ----------------------------------------------------------


def test_create_stores_a_token_and_reads_back_the_key():
    provider = Provider.objects.create(name="p", kind="openai", api_key=KEY)
    assert_token_of(raw_column(provider.pk), KEY)
    assert Provider.objects.get(pk=provider.pk).api_key == KEY


def test_save_of_an_existing_row_stores_a_token():
    provider = ProviderRowFactory(api_key="")
    provider.api_key = KEY
    provider.save()
    assert_token_of(raw_column(provider.pk), KEY)


def test_queryset_update_stores_a_token():
    provider = ProviderRowFactory()
    Provider.objects.filter(pk=provider.pk).update(api_key=KEY)
    assert_token_of(raw_column(provider.pk), KEY)
    assert Provider.objects.get(pk=provider.pk).api_key == KEY


def test_bulk_create_stores_tokens():
    created = Provider.objects.bulk_create(
        [Provider(name=f"b{i}", kind="openai", api_key=f"{KEY}-{i}") for i in range(3)]
    )
    names = [p.name for p in created]
    for i, provider in enumerate(Provider.objects.filter(name__in=names).order_by("name")):
        assert_token_of(raw_column(provider.pk), f"{KEY}-{i}")


def test_bulk_update_stores_tokens():
    rows = [ProviderRowFactory(), ProviderRowFactory()]
    for i, row in enumerate(rows):
        row.api_key = f"{KEY}-bulk-{i}"
    Provider.objects.bulk_update(rows, ["api_key"])
    for i, row in enumerate(rows):
        assert_token_of(raw_column(row.pk), f"{KEY}-bulk-{i}")
        assert Provider.objects.get(pk=row.pk).api_key == f"{KEY}-bulk-{i}"


def test_blank_stays_blank():
    provider = ProviderRowFactory(keyless=True)
    assert raw_column(provider.pk) == ""
    assert Provider.objects.get(pk=provider.pk).api_key == ""


def test_values_and_values_list_decrypt():
    provider = ProviderRowFactory(api_key=KEY)
    assert Provider.objects.filter(pk=provider.pk).values_list("api_key", flat=True).get() == KEY
    assert Provider.objects.filter(pk=provider.pk).values("api_key").get() == {"api_key": KEY}


@pytest.mark.parametrize("length", [164, 256])
def test_long_keys_round_trip(length):
    key = ("sk-proj-" + "Ab9_-" * 60)[:length]
    provider = ProviderRowFactory(api_key=key)
    assert Provider.objects.get(pk=provider.pk).api_key == key
    assert_token_of(raw_column(provider.pk), key)


# --- SQL expressions would store their own text: they raise -----------------------------------


@pytest.mark.parametrize(
    "expression",
    [F("name"), Value("sk-test-plain"), Concat(F("name"), Value("x")), Upper(F("api_key_env"))],
    ids=["F", "Value", "Concat", "Upper"],
)
def test_update_with_an_expression_raises_and_changes_nothing(expression):
    provider = ProviderRowFactory(api_key=KEY)
    before = raw_column(provider.pk)
    # Like any error while a query runs, it marks the enclosing transaction for rollback.
    with pytest.raises(FieldError, match="cannot be set from a SQL expression"), transaction.atomic():
        Provider.objects.filter(pk=provider.pk).update(api_key=expression)
    assert raw_column(provider.pk) == before


def test_save_with_an_expression_raises():
    provider = ProviderRowFactory(api_key=KEY)
    before = raw_column(provider.pk)
    provider.api_key = F("name")
    with pytest.raises(FieldError, match="SQL expression"), transaction.atomic():
        provider.save()
    assert raw_column(provider.pk) == before


def test_create_and_bulk_create_with_an_expression_raise():
    with pytest.raises(FieldError, match="SQL expression"), transaction.atomic():
        Provider.objects.create(name="x", kind="openai", api_key=Value("sk-test-plain"))
    with pytest.raises(FieldError, match="SQL expression"), transaction.atomic():
        Provider.objects.bulk_create([Provider(name="y", kind="openai", api_key=Value("sk-test-plain"))])
    assert not Provider.objects.filter(name__in=["x", "y"]).exists()


def test_bulk_update_with_an_expression_raises_and_changes_nothing():
    provider = ProviderRowFactory(api_key=KEY)
    before = raw_column(provider.pk)
    provider.api_key = F("name")
    with pytest.raises(FieldError, match="SQL expression"), transaction.atomic():
        Provider.objects.bulk_update([provider], ["api_key"])
    assert raw_column(provider.pk) == before


# --- undecryptable tokens -----------------------------------------------------------------------


@pytest.fixture
def foreign_row(settings):
    """A row whose token was written under another key than the one now configured."""
    settings.FIELD_ENCRYPTION_KEY = OTHER_KEY
    provider = ProviderRowFactory(api_key=KEY)
    settings.FIELD_ENCRYPTION_KEY = TEST_FIELD_ENCRYPTION_KEY
    return Provider.objects.get(pk=provider.pk), raw_column(provider.pk)


def test_undecryptable_token_loads_as_a_marker_that_shows_nothing(foreign_row):
    provider, token = foreign_row
    assert isinstance(provider.api_key, UndecryptableSecret)
    assert provider.api_key.token == token
    for text in (repr(provider.api_key), str(provider.api_key), repr(provider), str(provider)):
        assert token not in text
        assert KEY not in text


def test_saving_a_marker_writes_the_token_back_unchanged(foreign_row, settings):
    provider, token = foreign_row
    provider.priority = 5
    provider.save()
    assert raw_column(provider.pk) == token
    Provider.objects.bulk_update([provider], ["api_key"])
    assert raw_column(provider.pk) == token
    Provider.objects.filter(pk=provider.pk).update(api_key=provider.api_key)
    assert raw_column(provider.pk) == token
    settings.FIELD_ENCRYPTION_KEY = OTHER_KEY  # nothing was lost: the right key still opens it
    assert Provider.objects.get(pk=provider.pk).api_key == KEY


def test_using_an_undecryptable_key_raises_a_configuration_error(foreign_row):
    provider, token = foreign_row
    with pytest.raises(KeyDecryptionError) as caught:
        provider.resolve_api_key()
    assert isinstance(caught.value, ConfigurationError)
    message = str(caught.value)
    assert "FIELD_ENCRYPTION_KEY" in message
    assert provider.name in message
    assert token not in message
    assert KEY not in message


def test_a_missing_setting_makes_markers_not_crashes(foreign_row, settings):
    provider, token = foreign_row
    settings.FIELD_ENCRYPTION_KEY = ""
    loaded = Provider.objects.get(pk=provider.pk)
    assert isinstance(loaded.api_key, UndecryptableSecret)
    with pytest.raises(KeyDecryptionError, match="FIELD_ENCRYPTION_KEY is not set"):
        loaded.resolve_api_key()
    loaded.save()
    assert raw_column(provider.pk) == token


def test_encrypting_without_a_key_raises_naming_the_setting(settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    with pytest.raises(EncryptionKeyError, match="FIELD_ENCRYPTION_KEY is not set"):
        Provider.objects.create(name="nokey", kind="openai", api_key=KEY)


def test_a_plaintext_value_in_the_column_is_treated_as_undecryptable():
    provider = ProviderRowFactory(keyless=True)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ai_provider SET api_key = %s WHERE id = %s", ["sk-test-raw-sql", provider.pk])
    loaded = Provider.objects.get(pk=provider.pk)
    assert isinstance(loaded.api_key, UndecryptableSecret)
    assert loaded.key_status()[0] == "undecryptable"


# --- key lists ----------------------------------------------------------------------------------


def test_first_key_encrypts_and_every_key_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEY = OTHER_KEY
    old = ProviderRowFactory(api_key="sk-test-under-old-key-000000")
    settings.FIELD_ENCRYPTION_KEY = f"{THIRD_KEY}, {OTHER_KEY}"
    assert Provider.objects.get(pk=old.pk).api_key == "sk-test-under-old-key-000000"
    new = ProviderRowFactory(api_key="sk-test-under-new-key-000000")
    assert_token_of(raw_column(new.pk), "sk-test-under-new-key-000000", key=THIRD_KEY)
    settings.FIELD_ENCRYPTION_KEY = OTHER_KEY
    assert isinstance(Provider.objects.get(pk=new.pk).api_key, UndecryptableSecret)


def test_the_key_set_is_cached_per_setting_value(settings):
    first = encryption_keys()
    assert encryption_keys() is first
    settings.FIELD_ENCRYPTION_KEY = f"{THIRD_KEY},{TEST_FIELD_ENCRYPTION_KEY}"
    assert encryption_keys() is not first


def test_a_malformed_item_names_its_position_not_its_value(settings):
    settings.FIELD_ENCRYPTION_KEY = f"{THIRD_KEY},not-a-key-at-all"
    with pytest.raises(EncryptionKeyError) as caught:
        encrypt("x")
    assert "item 2 of 2" in str(caught.value)
    assert THIRD_KEY not in str(caught.value)
    assert "not-a-key-at-all" not in str(caught.value)


def test_decrypt_of_a_foreign_token_raises_key_decryption_error():
    token = Fernet(OTHER_KEY).encrypt(b"sk-test-x").decode()
    with pytest.raises(KeyDecryptionError):
        decrypt(token)


# --- lookups --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"api_key": KEY},
        {"api_key__exact": KEY},
        {"api_key__iexact": KEY},
        {"api_key__startswith": "sk-"},
        {"api_key__contains": "test"},
        {"api_key__in": [KEY]},
        {"api_key__gt": ""},
        {"api_key__lower": KEY},
    ],
    ids=lambda q: next(iter(q)),
)
def test_lookups_raise_instead_of_matching_nothing(query):
    ProviderRowFactory(api_key=KEY)
    with pytest.raises(FieldError, match="encrypted"):
        list(Provider.objects.filter(**query))
    with pytest.raises(FieldError, match="encrypted"):
        list(Provider.objects.exclude(Q(**query)))


def test_isnull_is_allowed():
    provider = ProviderRowFactory(api_key=KEY)
    assert list(Provider.objects.filter(api_key__isnull=False)) == [provider]
    assert not Provider.objects.filter(api_key__isnull=True).exists()


# --- dumps and fixtures -------------------------------------------------------------------------


def _dump() -> list[dict]:
    out = io.StringIO()
    call_command("dumpdata", "ai.provider", stdout=out)
    return json.loads(out.getvalue())


def test_dumpdata_writes_ciphertext_and_loaddata_restores_the_key_exactly(tmp_path):
    keys = {"d1": KEY, "d2": "sk-test-" + "z" * 248, "d3": ""}
    for name, key in keys.items():
        ProviderRowFactory(name=name, api_key=key)
    dump = _dump()
    text = json.dumps(dump)
    assert KEY not in text and "z" * 248 not in text
    stored = {row["fields"]["name"]: row["fields"]["api_key"] for row in dump}
    assert stored["d3"] == ""
    assert looks_like_token(stored["d1"]) and looks_like_token(stored["d2"])
    path = tmp_path / "dump.json"
    path.write_text(text)
    Provider.objects.all().delete()
    call_command("loaddata", str(path), verbosity=0)
    assert {p.name: p.api_key for p in Provider.objects.all()} == keys
    for provider in Provider.objects.exclude(name="d3"):
        assert_token_of(raw_column(provider.pk), keys[provider.name])


def test_loaddata_with_the_wrong_key_keeps_tokens_unchanged(tmp_path, settings):
    ProviderRowFactory(name="w1", api_key=KEY)
    dump = _dump()
    token = dump[0]["fields"]["api_key"]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    Provider.objects.all().delete()
    settings.FIELD_ENCRYPTION_KEY = OTHER_KEY
    call_command("loaddata", str(path), verbosity=0)
    loaded = Provider.objects.get(name="w1")
    assert isinstance(loaded.api_key, UndecryptableSecret)
    assert raw_column(loaded.pk) == token  # never encrypted a second time
    settings.FIELD_ENCRYPTION_KEY = f"{OTHER_KEY},{TEST_FIELD_ENCRYPTION_KEY}"
    assert Provider.objects.get(name="w1").api_key == KEY


def test_dumpdata_of_an_undecryptable_row_writes_its_original_token(foreign_row):
    _provider, token = foreign_row
    assert _dump()[0]["fields"]["api_key"] == token


# --- to_python: tokens from fixtures, plaintext from Python -------------------------------------


def test_to_python_decrypts_tokens_and_keeps_plaintext():
    field = Provider._meta.get_field("api_key")
    token = encrypt(KEY)
    assert field.to_python(token) == KEY
    assert field.to_python(KEY) == KEY
    assert field.to_python("") == ""
    assert field.to_python(None) is None
    foreign = Fernet(OTHER_KEY).encrypt(KEY.encode()).decode()
    assert field.to_python(foreign) == UndecryptableSecret(foreign)


@pytest.mark.parametrize(
    "value",
    [
        "sk-test-abc",
        "sk-proj-" + "A" * 156,
        "gAAAAA" + "A" * 200,  # right alphabet and prefix, wrong layout
        "sk-ant-api03-" + "x" * 95,
    ],
)
def test_api_keys_never_look_like_tokens(value):
    assert not looks_like_token(value)


def test_a_plaintext_key_assigned_in_python_stays_plaintext():
    provider = Provider(name="plain", kind="openai", api_key=KEY)
    provider.full_clean()
    assert provider.api_key == KEY


# --- presentation -------------------------------------------------------------------------------


def test_provider_repr_and_str_show_no_key_material():
    provider = ProviderRowFactory(api_key=KEY)
    loaded = Provider.objects.get(pk=provider.pk)
    for text in (repr(provider), str(provider), repr(loaded), str(loaded)):
        assert KEY not in text
        assert KEY[-4:] not in text


@pytest.mark.parametrize(
    ("key", "expected_tail_length"),
    [("sk-test-0123456789abcdef", 4), ("sk-test-0123", 2), ("sk-test", 0), ("", None)],
)
def test_fingerprint_shows_at_most_four_characters(key, expected_tail_length):
    hint = fingerprint(key)
    if expected_tail_length is None:
        assert hint == ""
        return
    assert hint.startswith("…")
    tail = hint[1:]
    assert len(tail) == expected_tail_length
    assert key.endswith(tail)


def test_fingerprint_of_a_marker_is_empty():
    assert fingerprint(UndecryptableSecret("gAAAA")) == ""


def test_formfield_never_renders_a_value():
    form_field = EncryptedTextField().formfield()
    html = form_field.widget.render("api_key", KEY)
    assert KEY not in html
    assert 'type="password"' in html


def test_migrations_match_the_models():
    call_command("makemigrations", "ai", "--check", "--dry-run", verbosity=0)
