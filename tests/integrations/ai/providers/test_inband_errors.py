"""In-band stream errors and echoed keys: statuses that are no HTTP status, choice-level stream
errors, and a key configured with surrounding whitespace."""

from __future__ import annotations

import httpx
import pytest
import respx

from backend.integrations.ai.errors import ProviderUnavailable, RateLimited
from backend.integrations.ai.providers._http import error_from_event, error_from_http, redact

from .conftest import OPENROUTER_URL, chat, sse, stream_response


@pytest.mark.parametrize("code", [-1, 1301, 40001, "1113", 0])
def test_an_inband_code_that_is_no_http_status_is_not_used_as_one(code):
    error = error_from_event(
        {"error": {"code": code, "message": "quota", "type": "server_error"}}, provider="p"
    )
    assert error.status == 500
    assert isinstance(error, ProviderUnavailable)


def test_an_inband_code_that_is_no_status_falls_back_to_its_type():
    error = error_from_event(
        {"error": {"code": 1302, "type": "rate_limit_error", "message": "slow down"}}, provider="p"
    )
    assert isinstance(error, RateLimited)
    assert error.status == 429


def test_an_inband_http_status_code_is_still_used():
    error = error_from_event({"error": {"code": 429, "message": "Rate limit exceeded"}}, provider="p")
    assert isinstance(error, RateLimited)
    assert error.status == 429


@respx.mock
def test_a_stream_whose_choice_ends_in_error_raises_instead_of_a_short_success(make):
    body = sse(
        {"id": "gen-1", "model": "openai/gpt-4o", "choices": [{"index": 0, "delta": {"content": "Par"}}]},
        {
            "id": "gen-1",
            "model": "openai/gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "error": {"code": 502, "message": "Upstream died"},
                }
            ],
        },
    )
    respx.post(f"{OPENROUTER_URL}/chat/completions").mock(return_value=stream_response(body))
    chunks = make("openrouter").stream(chat(model="openai/gpt-4o"))
    assert next(chunks).text == "Par"
    with pytest.raises(ProviderUnavailable, match="Upstream died") as caught:
        list(chunks)
    assert caught.value.status == 502


SECRET = "gsk_canaryQ81Zx0p5LmN3vB7aa"  # a Groq-style key: not caught by the key-shaped pattern


@pytest.mark.parametrize("configured", [f"{SECRET}\n", f"  {SECRET} "])
def test_a_key_configured_with_whitespace_is_still_redacted_when_echoed(configured):
    assert SECRET not in redact(f"Invalid API key: {SECRET}.", configured)
    error = error_from_http(
        provider="groq",
        status=401,
        headers=httpx.Headers({"content-type": "application/json"}),
        body=f'{{"error": {{"message": "Invalid API Key {SECRET}"}}}}'.encode(),
        secret=configured,
    )
    assert SECRET not in str(error)
