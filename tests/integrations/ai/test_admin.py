"""The registry's admin, through the Django test client.

The canary key must never appear in any page, in any state: after saving, after a validation
error, on the list, to view-only staff, for a row whose key cannot be decrypted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.urls import reverse

from backend.integrations.ai.fields import UndecryptableSecret, fingerprint
from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider, RoutingSettings
from tests.conftest import TEST_FIELD_ENCRYPTION_KEY

from .factories import ModelAliasRowFactory, ModelRouteRowFactory, ProviderRowFactory

pytestmark = pytest.mark.django_db

CANARY = "sk-test-CANARY-d41d8cd98f00b204e980-never-shown-Q7xZ"
CANARY_TAIL = CANARY[-4:]


def raw_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_provider WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def assert_no_key_material(response: Any, *, secrets: tuple[str, ...] = (CANARY,)) -> str:
    assert response.status_code < 500
    content = response.content.decode()
    for secret in secrets:
        assert secret not in content
    return content


def change_url(provider: Provider) -> str:
    return reverse("admin:ai_provider_change", args=[provider.pk])


def provider_post(provider: Provider | None = None, **overrides: Any) -> dict[str, Any]:
    """The change form's POST data for `provider` (or a fresh one), with overrides."""
    data: dict[str, Any] = {
        "name": "fresh",
        "kind": "openai",
        "enabled": "on",
        "priority": "10",
        "weight": "1",
        "base_url": "",
        "api_version": "",
        "timeout_seconds": "30",
        "max_retries": "2",
        "max_connections": "100",
        "extra_headers": "{}",
        "api_key_env": "",
        "new_api_key": "",
    }
    if provider is not None:
        data.update(
            {
                "name": provider.name,
                "kind": provider.kind,
                "priority": str(provider.priority),
                "weight": str(provider.weight),
                "base_url": provider.base_url,
                "timeout_seconds": str(provider.timeout_seconds),
                "max_retries": str(provider.max_retries),
                "max_connections": str(provider.max_connections),
                "extra_headers": json.dumps(provider.extra_headers),
                "api_key_env": provider.api_key_env,
            }
        )
        if not provider.enabled:
            del data["enabled"]
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # admin_client creates a superuser per test; the default hasher takes ~0.4 s each time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def canary_provider() -> Provider:
    return ProviderRowFactory(name="canary", api_key=CANARY, api_key_env="OPENAI_API_KEY", priority=20)


@pytest.fixture
def viewer_client(client):
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    codenames = ["view_provider", "view_modelalias", "view_modelroute", "view_routingsettings"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="ai", codename__in=codenames))
    client.force_login(user)
    return client


# --- the list -----------------------------------------------------------------------------------


def test_changelist_orders_by_priority_and_shows_key_status(admin_client, canary_provider, monkeypatch):
    monkeypatch.setenv("PANEL_ENV_KEY", "sk-test-env-value-123456789")
    ProviderRowFactory(name="envkey", keyless=True, api_key_env="PANEL_ENV_KEY", priority=5)
    ProviderRowFactory(name="nokey", keyless=True, priority=50)
    response = admin_client.get(reverse("admin:ai_provider_changelist"))
    content = assert_no_key_material(response, secrets=(CANARY, "sk-test-env-value-123456789"))
    assert content.index("envkey") < content.index("canary") < content.index("nokey")
    assert f"set …{CANARY_TAIL}" in content
    assert "from env PANEL_ENV_KEY" in content
    assert ">missing<" in content


def test_list_editable_saves_priority_and_keeps_the_key(admin_client, canary_provider):
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(canary_provider.pk),
        "form-0-priority": "77",
        "form-0-enabled": "on",
        "form-0-weight": "3",
        "_save": "Save",
    }
    response = admin_client.post(reverse("admin:ai_provider_changelist"), data)
    assert response.status_code == 302
    provider = Provider.objects.get(pk=canary_provider.pk)
    assert (provider.priority, provider.weight, provider.api_key) == (77, 3, CANARY)


@pytest.mark.parametrize(
    "query", ["api_key=x", "api_key__startswith=sk", "api_key__isnull=True", "routes__provider__api_key=x"]
)
def test_no_lookup_on_the_key_from_the_url(admin_client, canary_provider, query):
    for name in ("provider", "modelalias"):
        response = admin_client.get(reverse(f"admin:ai_{name}_changelist") + "?" + query)
        assert response.status_code in (302, 400)
        assert_no_key_material(response)


def test_search_does_not_look_into_keys(admin_client, canary_provider):
    response = admin_client.get(reverse("admin:ai_provider_changelist"), {"q": "d41d8cd98f00"})
    assert_no_key_material(response)
    assert response.context["cl"].result_count == 0


# --- the change page ----------------------------------------------------------------------------


def test_change_page_shows_a_masked_hint_and_an_empty_password_input(admin_client, canary_provider):
    response = admin_client.get(change_url(canary_provider))
    content = assert_no_key_material(response, secrets=(CANARY, raw_column(canary_provider.pk)))
    assert f"set …{CANARY_TAIL}" in content
    assert 'type="password" name="new_api_key"' in content
    field_html = content[
        content.index('name="new_api_key"') - 200 : content.index('name="new_api_key"') + 200
    ]
    assert "value=" not in field_html
    assert 'name="remove_key"' in content


def test_add_stores_the_key_encrypted(admin_client):
    response = admin_client.post(
        reverse("admin:ai_provider_add"), provider_post(name="added", new_api_key=CANARY), follow=True
    )
    assert_no_key_material(response)
    provider = Provider.objects.get(name="added")
    assert provider.api_key == CANARY
    stored = raw_column(provider.pk)
    assert CANARY not in stored
    assert Fernet(TEST_FIELD_ENCRYPTION_KEY).decrypt(stored.encode()).decode() == CANARY


def test_blank_key_keeps_the_stored_key(admin_client, canary_provider):
    response = admin_client.post(change_url(canary_provider), provider_post(canary_provider, priority="15"))
    assert response.status_code == 302
    provider = Provider.objects.get(pk=canary_provider.pk)
    assert (provider.priority, provider.api_key) == (15, CANARY)


def test_a_new_key_replaces_the_stored_one(admin_client, canary_provider):
    replacement = "sk-test-replacement-key-0000000RPLC"
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, new_api_key=replacement)
    )
    assert response.status_code == 302
    assert Provider.objects.get(pk=canary_provider.pk).api_key == replacement


def test_remove_key_checkbox_clears_the_key(admin_client, canary_provider):
    response = admin_client.post(change_url(canary_provider), provider_post(canary_provider, remove_key="on"))
    assert response.status_code == 302
    provider = Provider.objects.get(pk=canary_provider.pk)
    assert provider.api_key == ""
    assert raw_column(provider.pk) == ""


def test_new_key_and_remove_together_is_an_error(admin_client, canary_provider):
    response = admin_client.post(
        change_url(canary_provider),
        provider_post(canary_provider, new_api_key="sk-test-other-000000000000", remove_key="on"),
    )
    content = assert_no_key_material(response, secrets=(CANARY, "sk-test-other-000000000000"))
    assert response.status_code == 200
    assert "not both" in content
    assert Provider.objects.get(pk=canary_provider.pk).api_key == CANARY


@pytest.mark.parametrize(
    "overrides",
    [
        {"weight": "0"},
        {"priority": "not-a-number"},
        {"priority": "99999999999999999999"},
        {"timeout_seconds": "0"},
        {"kind": "openai_compatible", "base_url": ""},
        {"kind": "no-such-kind"},
        {"base_url": "http://169.254.169.254/latest"},
        {"base_url": "ftp://example.com"},
        {"extra_headers": "{not json"},
        {"extra_headers": "[1, 2]"},
        {"name": ""},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())[:40],
)
def test_validation_errors_show_the_form_without_the_new_key(admin_client, canary_provider, overrides):
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, new_api_key=CANARY, **overrides)
    )
    assert response.status_code == 200
    assert_no_key_material(response)
    assert response.context["adminform"].form.errors
    assert Provider.objects.get(pk=canary_provider.pk).api_key == CANARY


def test_validation_error_on_add_does_not_echo_the_key(admin_client):
    response = admin_client.post(
        reverse("admin:ai_provider_add"), provider_post(weight="0", new_api_key=CANARY)
    )
    assert response.status_code == 200
    assert_no_key_material(response)
    assert not Provider.objects.filter(name="fresh").exists()


def test_a_key_pasted_into_the_env_name_box_is_not_shown_back(admin_client, canary_provider):
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, api_key_env=CANARY)
    )
    assert response.status_code == 200
    content = assert_no_key_material(response)
    assert "name of an environment variable" in content


@pytest.mark.parametrize(
    "headers",
    [
        json.dumps({"Authorization": f"Bearer {CANARY}", "X-Title": "Panel"}),
        json.dumps({"x-api-key": CANARY}),
        f'{{"Authorization": "Bearer {CANARY}"',  # broken JSON that still holds the key
    ],
)
def test_credentials_in_extra_headers_are_refused_and_not_shown_back(admin_client, canary_provider, headers):
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, extra_headers=headers)
    )
    assert response.status_code == 200
    assert_no_key_material(response)
    assert response.context["adminform"].form.errors["extra_headers"]


def test_emptied_extra_headers_save_as_an_empty_object(admin_client, canary_provider):
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, extra_headers="")
    )
    assert response.status_code == 302
    assert Provider.objects.get(pk=canary_provider.pk).extra_headers == {}


def test_a_new_key_without_an_encryption_key_is_a_form_error(admin_client, canary_provider, settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    response = admin_client.post(
        change_url(canary_provider), provider_post(canary_provider, new_api_key=CANARY)
    )
    assert response.status_code == 200
    content = assert_no_key_material(response)
    assert "FIELD_ENCRYPTION_KEY" in content


@pytest.mark.parametrize("view", ["add", "change"])
def test_key_fields_are_sensitive_post_parameters(admin_client, canary_provider, view):
    url = reverse("admin:ai_provider_add") if view == "add" else change_url(canary_provider)
    response = admin_client.post(
        url, provider_post(canary_provider if view == "change" else None, weight="0")
    )
    assert "new_api_key" in response.wsgi_request.sensitive_post_parameters


# --- a key that cannot be decrypted ----------------------------------------------------------------


@pytest.fixture
def undecryptable_provider(settings, canary_provider) -> tuple[Provider, str]:
    other = Fernet.generate_key().decode()
    original = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = other
    canary_provider.save()  # re-encrypted under a key the site will not have
    settings.FIELD_ENCRYPTION_KEY = original
    provider = Provider.objects.get(pk=canary_provider.pk)
    assert isinstance(provider.api_key, UndecryptableSecret)
    return provider, raw_column(provider.pk)


def test_undecryptable_row_pages_work_and_keep_the_token(admin_client, undecryptable_provider):
    provider, token = undecryptable_provider
    for url in (reverse("admin:ai_provider_changelist"), change_url(provider)):
        response = admin_client.get(url)
        assert response.status_code == 200
        content = assert_no_key_material(response, secrets=(CANARY, token))
        assert "cannot decrypt — re-enter the key" in content
    response = admin_client.post(change_url(provider), provider_post(provider, priority="3"))
    assert response.status_code == 302
    assert raw_column(provider.pk) == token
    assert Provider.objects.get(pk=provider.pk).priority == 3


def test_undecryptable_row_with_validation_error_does_not_500(admin_client, undecryptable_provider):
    provider, token = undecryptable_provider
    response = admin_client.post(change_url(provider), provider_post(provider, weight="0"))
    assert response.status_code == 200
    assert_no_key_material(response, secrets=(CANARY, token))
    assert raw_column(provider.pk) == token


def test_re_entering_the_key_repairs_an_undecryptable_row(admin_client, undecryptable_provider):
    provider, token = undecryptable_provider
    admin_client.post(
        change_url(provider), provider_post(provider, new_api_key="sk-test-repaired-0000000000")
    )
    assert raw_column(provider.pk) != token
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-test-repaired-0000000000"


# --- view-only staff -------------------------------------------------------------------------------


def test_view_only_staff_see_no_key_material(viewer_client, canary_provider):
    list_response = viewer_client.get(reverse("admin:ai_provider_changelist"))
    change_response = viewer_client.get(change_url(canary_provider))
    for response in (list_response, change_response):
        assert response.status_code == 200
        content = assert_no_key_material(
            response, secrets=(CANARY, fingerprint(CANARY), raw_column(canary_provider.pk))
        )
        assert ">set<" in content
        assert 'name="new_api_key"' not in content
        assert 'name="remove_key"' not in content


def test_view_only_staff_cannot_change(viewer_client, canary_provider):
    response = viewer_client.post(
        change_url(canary_provider), provider_post(canary_provider, remove_key="on")
    )
    assert response.status_code == 403
    assert Provider.objects.get(pk=canary_provider.pk).api_key == CANARY


# --- every page ----------------------------------------------------------------------------------


def test_no_admin_page_shows_the_key(admin_client, canary_provider):
    route = ModelRouteRowFactory(provider=canary_provider, model="gpt-4o-mini")
    RoutingSettings.load()
    admin_client.post(change_url(canary_provider), provider_post(canary_provider, priority="11"))
    urls = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["ai"]),
        reverse("admin:ai_provider_changelist"),
        reverse("admin:ai_provider_add"),
        change_url(canary_provider),
        reverse("admin:ai_provider_history", args=[canary_provider.pk]),
        reverse("admin:ai_provider_delete", args=[canary_provider.pk]),
        reverse("admin:ai_modelalias_changelist"),
        reverse("admin:ai_modelalias_change", args=[route.alias.pk]),
        reverse("admin:ai_routingsettings_change", args=[1]),
        reverse("admin:autocomplete") + "?app_label=ai&model_name=modelroute&field_name=provider&term=can",
        reverse("admin:ai_provider_changelist") + "?q=canary",
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_no_key_material(response, secrets=(CANARY, raw_column(canary_provider.pk)))


# --- aliases and routes --------------------------------------------------------------------------


def _alias_post(name: str, routes: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "description": "",
        "enabled": "on",
        "strategy": "priority",
        "routes-TOTAL_FORMS": str(len(routes)),
        "routes-INITIAL_FORMS": str(initial),
        "routes-MIN_NUM_FORMS": "0",
        "routes-MAX_NUM_FORMS": "1000",
    }
    for i, route in enumerate(routes):
        for key, value in route.items():
            data[f"routes-{i}-{key}"] = value
    return data


def test_alias_is_created_with_its_routes_inline(admin_client):
    openrouter = ProviderRowFactory(openrouter=True, name="openrouter")
    openai = ProviderRowFactory(name="openai")
    routes = [
        {
            "provider": str(openai.pk),
            "model": "gpt-4o-mini",
            "priority": "20",
            "weight": "1",
            "enabled": "on",
        },
        {
            "provider": str(openrouter.pk),
            "model": "openai/gpt-4o-mini",
            "priority": "10",
            "weight": "1",
            "enabled": "on",
        },
    ]
    response = admin_client.post(reverse("admin:ai_modelalias_add"), _alias_post("fast", routes))
    assert response.status_code == 302
    alias = ModelAlias.objects.get(name="fast")
    assert [(r.provider.name, r.model) for r in alias.routes.all()] == [
        ("openrouter", "openai/gpt-4o-mini"),
        ("openai", "gpt-4o-mini"),
    ]
    page = admin_client.get(reverse("admin:ai_modelalias_change", args=[alias.pk])).content.decode()
    assert page.index('value="openai/gpt-4o-mini"') < page.index('value="gpt-4o-mini"')


@pytest.mark.parametrize("second_model", ["gpt-4o-mini", "   "], ids=["duplicate-route", "blank-model"])
def test_bad_routes_are_form_errors(admin_client, second_model):
    openai = ProviderRowFactory(name="openai")
    routes = [
        {"provider": str(openai.pk), "model": "gpt-4o-mini", "priority": "10", "weight": "1"},
        {"provider": str(openai.pk), "model": second_model, "priority": "20", "weight": "1"},
    ]
    response = admin_client.post(reverse("admin:ai_modelalias_add"), _alias_post("dup", routes))
    assert response.status_code == 200
    assert not ModelAlias.objects.filter(name="dup").exists()
    assert not ModelRoute.objects.exists()


def test_route_weight_must_be_positive(admin_client):
    openai = ProviderRowFactory(name="openai")
    routes = [{"provider": str(openai.pk), "model": "gpt-4o-mini", "priority": "10", "weight": "0"}]
    response = admin_client.post(reverse("admin:ai_modelalias_add"), _alias_post("w", routes))
    assert response.status_code == 200
    assert not ModelAlias.objects.filter(name="w").exists()


# --- routing settings ----------------------------------------------------------------------------


def test_routing_settings_list_goes_to_the_single_row(admin_client):
    response = admin_client.get(reverse("admin:ai_routingsettings_changelist"))
    assert response.status_code == 302
    assert response.url == reverse("admin:ai_routingsettings_change", args=[1])
    assert RoutingSettings.objects.count() == 1


def test_routing_settings_cannot_be_added_or_deleted(admin_client):
    RoutingSettings.load()
    assert admin_client.get(reverse("admin:ai_routingsettings_add")).status_code == 403
    assert admin_client.get(reverse("admin:ai_routingsettings_delete", args=[1])).status_code == 403
    page = admin_client.get(reverse("admin:ai_routingsettings_change", args=[1])).content.decode()
    assert "deletelink" not in page


def test_routing_settings_save_and_stay(admin_client):
    RoutingSettings.load()
    ModelAliasRowFactory(name="default")
    ModelAliasRowFactory(name="smart")
    data = {"mode": "openrouter", "default_alias": "smart", "failover_enabled": "on"}
    response = admin_client.post(reverse("admin:ai_routingsettings_change", args=[1]), data)
    assert response.status_code == 302
    assert response.url == reverse("admin:ai_routingsettings_change", args=[1])
    row = RoutingSettings.load()
    assert (row.mode, row.default_alias, row.failover_enabled, row.store_prompts) == (
        "openrouter",
        "smart",
        True,
        False,
    )


def test_routing_settings_refuses_an_unknown_default_alias(admin_client):
    ModelAliasRowFactory(name="default")
    RoutingSettings.load()
    data = {"mode": "auto", "default_alias": "nope", "failover_enabled": "on"}
    response = admin_client.post(reverse("admin:ai_routingsettings_change", args=[1]), data)
    assert response.status_code == 200
    assert "no model alias named" in response.content.decode()
    assert RoutingSettings.load().default_alias == "default"


def test_view_only_staff_see_routing_settings_read_only(viewer_client):
    RoutingSettings.load()
    response = viewer_client.get(reverse("admin:ai_routingsettings_changelist"), follow=True)
    assert response.status_code == 200
    assert 'name="mode"' not in response.content.decode()


# --- bad input is a form error or a redirect, never a 500 ---------------------------------------


@pytest.mark.parametrize("object_id", ["999999", "not-a-number", "1%27%20OR%201=1"])
def test_unknown_or_garbage_ids_redirect(admin_client, object_id):
    for name in ("provider", "modelalias", "routingsettings"):
        response = admin_client.get(f"/admin/ai/{name}/{object_id}/change/")
        assert response.status_code == 302, (name, object_id)


def test_list_editable_with_a_bad_value_shows_the_error(admin_client, canary_provider):
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(canary_provider.pk),
        "form-0-priority": "x",
        "form-0-weight": "0",
        "_save": "Save",
    }
    response = admin_client.post(reverse("admin:ai_provider_changelist"), data)
    assert response.status_code == 200
    assert_no_key_material(response)
    assert Provider.objects.get(pk=canary_provider.pk).priority == 20


def test_routing_settings_with_a_bad_mode_is_a_form_error(admin_client):
    RoutingSettings.load()
    response = admin_client.post(
        reverse("admin:ai_routingsettings_change", args=[1]),
        {"mode": "everything", "default_alias": "default"},
    )
    assert response.status_code == 200
    assert RoutingSettings.load().mode == "auto"


def test_route_with_an_unknown_provider_is_a_form_error(admin_client):
    routes = [{"provider": "424242", "model": "gpt-4o-mini", "priority": "10", "weight": "1"}]
    response = admin_client.post(reverse("admin:ai_modelalias_add"), _alias_post("ghost", routes))
    assert response.status_code == 200
    assert not ModelAlias.objects.filter(name="ghost").exists()


def test_view_only_list_has_no_editable_inputs(viewer_client, canary_provider):
    content = viewer_client.get(reverse("admin:ai_provider_changelist")).content.decode()
    assert 'name="form-0-priority"' not in content
