"""A key pasted into the base URL (query string or user:password) is refused and never shown back."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backend.integrations.ai.models import Provider
from backend.integrations.ai.validators import validate_base_url

from .test_admin import CANARY, provider_post

URLS_WITH_A_KEY = [
    f"https://res.openai.azure.com/openai/v1?api-key={CANARY}",
    f"https://generativelanguage.googleapis.com/v1beta/openai?key={CANARY}",
    f"https://api.example.com/v1?{CANARY}",
    f"https://api.example.com/v1#{CANARY}",
]


@pytest.mark.parametrize("url", URLS_WITH_A_KEY)
def test_a_base_url_with_a_query_string_is_refused_without_echoing_it(url):
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code == "query_in_url"
    assert CANARY not in " ".join(caught.value.messages)
    assert "API version" in caught.value.messages[0]


def test_an_azure_api_version_belongs_in_its_own_field():
    with pytest.raises(ValidationError):
        validate_base_url("https://res.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21")
    validate_base_url("https://res.openai.azure.com/openai/deployments/gpt4o")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [URLS_WITH_A_KEY[0], f"https://user:{CANARY}@api.openai.com/v1"], ids=["query", "userinfo"]
)
def test_the_admin_form_does_not_render_a_refused_base_url_back(admin_client, url):
    response = admin_client.post(reverse("admin:ai_provider_add"), provider_post(name="pasted", base_url=url))
    assert response.status_code == 200  # the form comes back with its error
    content = response.content.decode()
    assert "errorlist" in content
    assert CANARY not in content
    assert not Provider.objects.filter(name="pasted").exists()
