"""Tampered admin POSTs (selected ids, autocomplete values) are messages and form errors, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider
from backend.pages.models import Page
from backend.panel.admin_input import valid_keys
from tests.integrations.ai.factories import ProviderRowFactory

GARBAGE_IDS = ["abc", "", "1.5", "99999999999999999999999", "{0}", "ü"]

CHANGELISTS = [
    "admin:pages_page_changelist",
    "admin:prompts_prompttemplate_changelist",
    "admin:ai_provider_changelist",
    "admin:ai_modelalias_changelist",
    "admin:ai_catalogmodel_changelist",
    "admin:ai_calllog_changelist",
]

pytestmark = pytest.mark.django_db


def test_valid_keys_keeps_only_what_the_column_can_hold() -> None:
    pk = Page._meta.pk
    assert valid_keys(pk, ["7", "abc", "", None, "99999999999999999999999", "-3", 12]) == ["7", "-3", "12"]


@pytest.mark.parametrize("changelist", CHANGELISTS)
@pytest.mark.parametrize("garbage", GARBAGE_IDS)
def test_an_action_on_garbage_ids_says_nothing_was_selected(admin_client, changelist: str, garbage: str):
    url = reverse(changelist)
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [garbage], "index": "0"}

    response = admin_client.post(url, data, follow=True)

    assert response.status_code == 200
    assert "Items must be selected" in response.content.decode()


def test_an_intermediate_action_page_lists_only_the_valid_ids(admin_client):
    page = Page.objects.create(title="Real page", slug="real", body="<p>x</p>")
    data = {"action": "translate", ACTION_CHECKBOX_NAME: [str(page.pk), "abc", "99999999999999999999999"]}

    response = admin_client.post(reverse("admin:pages_page_changelist"), data)

    assert response.status_code == 200
    assert list(response.context["pages"]) == [page]
    assert f'value="{page.pk}"' in response.content.decode()


@pytest.mark.parametrize("provider", ["abc", "99999999999999999999999", "1.5"])
def test_a_route_with_a_tampered_provider_id_is_a_form_error(admin_client, provider: str):
    ProviderRowFactory(name="openai")
    data = {
        "name": "tampered",
        "description": "",
        "enabled": "on",
        "strategy": "priority",
        "routes-TOTAL_FORMS": "1",
        "routes-INITIAL_FORMS": "0",
        "routes-MIN_NUM_FORMS": "0",
        "routes-MAX_NUM_FORMS": "1000",
        "routes-0-provider": provider,
        "routes-0-model": "gpt-4o-mini",
        "routes-0-priority": "10",
        "routes-0-weight": "1",
    }

    response = admin_client.post(reverse("admin:ai_modelalias_add"), data)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ModelAlias.objects.filter(name="tampered").exists()
    assert not ModelRoute.objects.exists()


def test_a_route_form_shows_the_chosen_provider_again_after_an_error(admin_client):
    openai = ProviderRowFactory(name="openai-direct")
    data = {
        "name": "shown",
        "strategy": "priority",
        "routes-TOTAL_FORMS": "1",
        "routes-INITIAL_FORMS": "0",
        "routes-MIN_NUM_FORMS": "0",
        "routes-MAX_NUM_FORMS": "1000",
        "routes-0-provider": str(openai.pk),
        "routes-0-model": "gpt-4o-mini",
        "routes-0-priority": "10",
        "routes-0-weight": "0",  # invalid: the form comes back
    }

    response = admin_client.post(reverse("admin:ai_modelalias_add"), data)

    assert response.status_code == 200
    assert Provider.objects.count() == 1
    assert f'<option value="{openai.pk}" selected>openai-direct' in response.content.decode()
