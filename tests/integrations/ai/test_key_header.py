"""An OpenAI-compatible gateway can take its key in its own header (Api-Management style), with the
key still stored encrypted and never shown."""

from __future__ import annotations

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backend.integrations import ai
from backend.integrations.ai.models import Provider
from backend.integrations.ai.validators import validate_key_header_name

from .registry_helpers import CANARY_KEY, alias_with_routes, provider_row
from .test_admin import provider_post

pytestmark = pytest.mark.django_db

REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi!"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def test_the_key_goes_in_the_named_header_and_nowhere_else(respx_mock):
    route = respx_mock.post("https://gateway.example.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=REPLY)
    )
    gateway = provider_row(
        "gateway",
        "openai_compatible",
        "https://gateway.example.com/v1",
        api_key=CANARY_KEY,
        api_key_header="Ocp-Apim-Subscription-Key",
    )
    alias_with_routes("default", (gateway, "gpt-4o-mini"))
    assert ai.complete(prompt="hi").text == "Hi!"
    headers = route.calls.last.request.headers
    assert headers["ocp-apim-subscription-key"] == CANARY_KEY
    assert "authorization" not in headers
    assert "api-key" not in headers


def test_only_openai_compatible_providers_take_a_key_header():
    row = Provider(name="direct", kind="openai", api_key_header="X-Gateway-Key")
    with pytest.raises(ValidationError) as caught:
        row.full_clean()
    assert "api_key_header" in caught.value.message_dict


@pytest.mark.parametrize("name", ["not a header", "Content-Type", "Host", "x" * 65])
def test_a_key_header_must_be_a_plain_header_name(name):
    with pytest.raises(ValidationError):
        validate_key_header_name(name)


def test_the_admin_saves_the_key_header_and_keeps_the_key_write_only(admin_client):
    data = provider_post(
        name="gateway",
        kind="openai_compatible",
        base_url="https://gateway.example.com/v1",
        api_key_header="Ocp-Apim-Subscription-Key",
        new_api_key=CANARY_KEY,
    )
    response = admin_client.post(reverse("admin:ai_provider_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Provider.objects.get(name="gateway")
    assert row.api_key_header == "Ocp-Apim-Subscription-Key"
    page = admin_client.get(reverse("admin:ai_provider_change", args=[row.pk])).content.decode()
    assert "Ocp-Apim-Subscription-Key" in page
    assert CANARY_KEY not in page
