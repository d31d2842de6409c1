"""Base URL and extra-header validation: what is refused, when, and that messages say the fix."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from backend.integrations.ai.validators import (
    validate_base_url,
    validate_env_var_name,
    validate_extra_headers,
)

PUBLIC = [
    "",
    "https://api.openai.com/v1",
    "https://api.anthropic.com",
    "https://openrouter.ai/api/v1",
    "https://my-resource.openai.azure.com/openai/deployments/gpt-4o",
    "http://8.8.8.8:8080/v1",
    "https://[2606:4700::1111]/v1",
]
ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/v1",
    "http://[fd00:ec2::254]/latest",
    "http://[fe80::1]/v1",
    "http://[::ffff:169.254.169.254]/",
    "http://100.100.100.200/latest",
    "http://metadata.google.internal/computeMetadata/v1",
]
PRIVATE = [
    "http://localhost:11434/v1",
    "http://LOCALHOST:11434/v1",
    "http://ollama.localhost/v1",
    "http://127.0.0.1:8000/v1",
    "http://127.1:8000/v1",
    "http://2130706433/v1",
    "http://0.0.0.0:8000/v1",
    "http://[::1]:8000/v1",
    "http://10.1.2.3/v1",
    "http://172.16.0.5/v1",
    "http://192.168.1.20:1234/v1",
    "http://[fc00::5]/v1",
    "http://100.64.1.2/v1",
]


@pytest.mark.parametrize("url", PUBLIC)
@pytest.mark.parametrize("allow_private", [False, True])
def test_public_urls_are_accepted(url, allow_private, settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = allow_private
    validate_base_url(url)


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_link_local_and_metadata_are_always_refused(url, allow_private, settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = allow_private
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code == "metadata_address"
    assert "never allowed" in caught.value.messages[0]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_are_refused_by_default_with_the_fix(url, settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = False
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code == "private_address"
    assert "AI_ALLOW_PRIVATE_BASE_URLS=true" in caught.value.messages[0]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_are_allowed_when_the_setting_is_on(url, settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = True
    validate_base_url(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/v1", "invalid_scheme"),
        ("file:///etc/passwd", "invalid_scheme"),
        ("javascript:alert(1)", "invalid_scheme"),
        ("api.openai.com/v1", "invalid_scheme"),
        ("https://", "invalid_scheme"),
        ("https://api.openai.com:99999/v1", "invalid"),
        ("https://user:sk-test-secret@api.openai.com/v1", "credentials_in_url"),
    ],
)
def test_malformed_urls_are_refused(url, code):
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code == code
    assert "sk-test-secret" not in caught.value.messages[0]


def test_hostnames_are_never_resolved(monkeypatch, settings):
    settings.AI_ALLOW_PRIVATE_BASE_URLS = False

    def no_dns(*args, **kwargs):
        raise AssertionError("validation must not resolve hostnames")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    validate_base_url("https://llm.internal.example.com/v1")


@pytest.mark.parametrize(
    "headers",
    [None, {}, {"HTTP-Referer": "https://example.com", "X-Title": "Panel"}, {"OpenAI-Organization": "org-1"}],
)
def test_extra_headers_accepted(headers):
    validate_extra_headers(headers)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (["X-Title", "Panel"], "not_object"),
        ("X-Title: Panel", "not_object"),
        ({"X-Count": 3}, "bad_header_value"),
        ({"X-List": ["a"]}, "bad_header_value"),
        ({"X-Split": "a\r\nInjected: yes"}, "bad_header_value"),
        ({"Bad Header": "x"}, "bad_header_name"),
        ({"Authorization": "Bearer sk-test-x"}, "auth_header"),
        ({"authorization": "Bearer sk-test-x"}, "auth_header"),
        ({"x-api-key": "sk-test-x"}, "auth_header"),
        ({"API-Key": "sk-test-x"}, "auth_header"),
    ],
)
def test_extra_headers_refused(headers, code):
    with pytest.raises(ValidationError) as caught:
        validate_extra_headers(headers)
    assert caught.value.code == code
    assert "sk-test-x" not in caught.value.messages[0]


def test_auth_header_message_points_at_the_key_field():
    with pytest.raises(ValidationError, match="API key field"):
        validate_extra_headers({"Authorization": "Bearer sk-test-x"})


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "_X", "my_key_2", ""])
def test_env_var_names_accepted(name):
    validate_env_var_name(name)


@pytest.mark.parametrize("name", ["sk-test-abc", "OPENAI API KEY", "1KEY", "$OPENAI_API_KEY"])
def test_env_var_names_refused(name):
    with pytest.raises(ValidationError, match="name of an environment variable"):
        validate_env_var_name(name)
