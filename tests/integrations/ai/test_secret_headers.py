"""Extra headers never hold a credential: secret-looking names or key-shaped values are refused,
and the refused value is not rendered back into the admin form."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backend.integrations.ai.models import Provider
from backend.integrations.ai.validators import validate_extra_headers

from .test_admin import CANARY, provider_post

SECRET_HEADERS = [
    {"Ocp-Apim-Subscription-Key": CANARY},
    {"X-Auth-Token": CANARY},
    {"X-Client-Secret": CANARY},
    {"X-Custom": f"Bearer {CANARY}"},
    {"X-Custom": "sk-proj-0123456789abcdefABCDEF"},
    {"X-Custom": "basic dXNlcjpwYXNz"},
]


@pytest.mark.parametrize("headers", SECRET_HEADERS, ids=lambda h: next(iter(h)))
def test_credentials_are_refused_in_extra_headers(headers):
    with pytest.raises(ValidationError) as caught:
        validate_extra_headers(headers)
    assert caught.value.code == "auth_header"
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP-Referer": "https://panel.example.com"},
        {"X-OpenRouter-Title": "Panel", "X-OpenRouter-Categories": "cms,general-chat"},
        {"anthropic-beta": "prompt-caching-2024-07-31"},
        {"OpenAI-Organization": "org-abc", "OpenAI-Project": "proj_abc"},
        {"X-Title": "a skeptical sk-short value"},
    ],
)
def test_ordinary_headers_are_accepted(headers):
    validate_extra_headers(headers)


@pytest.mark.django_db
@pytest.mark.parametrize("headers", SECRET_HEADERS[:4], ids=lambda h: next(iter(h)))
def test_the_admin_form_does_not_render_a_refused_secret_header_back(admin_client, headers):
    data = provider_post(name="pasted", extra_headers=json.dumps(headers))
    response = admin_client.post(reverse("admin:ai_provider_add"), data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "errorlist" in content
    assert CANARY not in content
    assert not Provider.objects.filter(name="pasted").exists()
