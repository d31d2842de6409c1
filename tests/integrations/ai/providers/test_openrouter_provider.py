"""OpenRouterProvider over respx: what differs from OpenAI (headers, extras, cost, errors, /key)."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from backend.integrations.ai.errors import (
    AuthenticationError,
    InsufficientCredits,
    ModelNotFound,
    ProviderUnavailable,
    RateLimited,
)
from backend.integrations.ai.providers.openrouter_provider import openrouter_reset_delay, reported_cost
from backend.integrations.ai.types import Message

from .conftest import OPENROUTER_URL, chat, sent_json, sse, stream_response

CHAT_URL = f"{OPENROUTER_URL}/chat/completions"
REPLY = {
    "id": "gen-1756333451-cPp53ItAkOxplxIj0aHz",
    "provider": "OpenAI",
    "model": "openai/gpt-4o-mini",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "message": {"role": "assistant", "content": "Paris.", "refusal": None, "reasoning": None},
        }
    ],
    "usage": {
        "prompt_tokens": 14,
        "completion_tokens": 2,
        "total_tokens": 16,
        "cost": 0.0000033,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}


def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
    return {
        "id": "gen-1",
        "provider": "Anthropic",
        "model": "anthropic/claude-3.5-sonnet",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def test_attribution_headers_and_bearer_key(make, respx_mock):
    route = respx_mock.post(CHAT_URL).respond(json=REPLY)
    options = (("http_referer", "https://panel.example"), ("app_name", "Panel CMS"))
    make("openrouter", options=options).complete(chat(model="openai/gpt-4o-mini"))
    headers = route.calls.last.request.headers
    assert headers["authorization"] == "Bearer sk-test-abc123"
    assert headers["http-referer"] == "https://panel.example"
    assert headers["x-openrouter-title"] == "Panel CMS"
    assert headers["x-title"] == "Panel CMS"


def test_no_attribution_headers_when_options_are_blank(make, respx_mock):
    route = respx_mock.post(CHAT_URL).respond(json=REPLY)
    make("openrouter").complete(chat())
    headers = route.calls.last.request.headers
    assert "http-referer" not in headers
    assert "x-title" not in headers


def test_non_ascii_app_name_is_sent_as_utf8(make, respx_mock):
    route = respx_mock.post(CHAT_URL).respond(json=REPLY)
    make("openrouter", options=(("app_name", "Pånel"),)).complete(chat())
    assert dict(route.calls.last.request.headers.raw)[b"X-OpenRouter-Title"] == "Pånel".encode()


def test_payload_uses_max_tokens_system_role_and_passes_routing_extras(make, respx_mock):
    route = respx_mock.post(CHAT_URL).respond(json=REPLY)
    extra = {
        "models": ["anthropic/claude-3.5-sonnet", "openai/gpt-4o"],
        "provider": {"order": ["anthropic", "amazon-bedrock"], "allow_fallbacks": False},
    }
    request = chat(
        model="openai/o3-mini",
        messages=(Message(role="system", content="S"), Message(role="user", content="U")),
        max_tokens=64,
        extra=extra,
    )
    make("openrouter").complete(request)
    body = sent_json(route)
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body
    assert body["messages"][0]["role"] == "system"
    assert body["models"] == extra["models"]
    assert body["provider"] == extra["provider"]


def test_reply_extras_upstream_cost_and_generation_id(make, respx_mock):
    respx_mock.post(CHAT_URL).respond(json=REPLY, headers={"X-Generation-Id": "gen-hdr"})
    completion = make("openrouter").complete(chat())
    assert completion.text == "Paris."
    assert completion.upstream_provider == "OpenAI"
    assert completion.reported_cost == Decimal("0.0000033")
    assert completion.model == "openai/gpt-4o-mini"
    assert completion.request_id == "gen-hdr"


def test_request_id_falls_back_to_the_body_id(make, respx_mock):
    respx_mock.post(CHAT_URL).respond(json=REPLY)
    assert make("openrouter").complete(chat()).request_id == REPLY["id"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.000045, Decimal("0.000045")),
        (0, Decimal(0)),
        (None, None),
        (True, None),
        ("x", None),
        (1.5, Decimal("1.5")),
    ],
)
def test_reported_cost_parsing(value, expected):
    assert reported_cost({"cost": value}) == expected


def test_stream_skips_processing_comments_and_carries_cost(make, respx_mock):
    body = sse(
        ": OPENROUTER PROCESSING\n\n",
        chunk({"role": "assistant", "content": "Hi"}),
        ": OPENROUTER PROCESSING\n\n",
        chunk({"content": " you"}),
        chunk({"content": ""}, "stop", native_finish_reason="end_turn"),
        {
            "id": "gen-1",
            "provider": "Anthropic",
            "model": "anthropic/claude-3.5-sonnet",
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.000045},
        },
    )
    route = respx_mock.post(CHAT_URL).mock(return_value=stream_response(body, **{"X-Generation-Id": "gen-1"}))
    chunks = list(make("openrouter").stream(chat()))
    assert sent_json(route)["stream_options"] == {"include_usage": True}
    assert [c.text for c in chunks[:-1]] == ["Hi", " you"]
    final = chunks[-1]
    assert final.final and final.finish_reason == "stop"
    assert final.upstream_provider == "Anthropic"
    assert final.reported_cost == Decimal("0.000045")
    assert final.usage.total_tokens == 12
    assert final.request_id == "gen-1"


def test_mid_stream_error_chunk_raises_mapped_error_after_text(make, respx_mock):
    error_chunk = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "model": "openai/gpt-4o",
        "provider": "OpenAI",
        "error": {
            "code": 429,
            "message": "Rate limit exceeded",
            "metadata": {"error_type": "rate_limit_exceeded"},
        },
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    body = sse(chunk({"content": "Par"}), error_chunk, done=False)
    respx_mock.post(CHAT_URL).mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(RateLimited) as caught:
        seen.extend(c.text for c in make("openrouter").stream(chat()))
    assert seen == ["Par"]
    assert caught.value.status == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.provider == "router"


def test_mid_stream_upstream_failure_is_unavailable(make, respx_mock):
    error_chunk = {"error": {"code": 502, "message": "Provider returned error"}, "choices": []}
    respx_mock.post(CHAT_URL).mock(return_value=stream_response(sse(chunk({"content": "x"}), error_chunk)))
    with pytest.raises(ProviderUnavailable):
        list(make("openrouter").stream(chat()))


def test_choice_level_error_in_a_complete_reply_raises(make, respx_mock):
    choice = {
        "index": 0,
        "finish_reason": "error",
        "message": {"content": "partial"},
        "error": {"code": 503, "message": "upstream overloaded"},
    }
    respx_mock.post(CHAT_URL).respond(json={**REPLY, "choices": [choice]})
    with pytest.raises(ProviderUnavailable, match="upstream overloaded"):
        make("openrouter").complete(chat())


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthenticationError), (402, InsufficientCredits), (404, ModelNotFound), (429, RateLimited)],
)
def test_openrouter_error_bodies(make, respx_mock, status, expected):
    respx_mock.post(CHAT_URL).respond(status, json={"error": {"code": status, "message": "nope"}})
    with pytest.raises(expected):
        make("openrouter").complete(chat())


def test_availability_retry_after_in_body(make, respx_mock):
    body = {
        "error": {
            "code": 503,
            "message": "No capacity",
            "availability": {"retryable": True, "retry_after": 7},
        }
    }
    respx_mock.post(CHAT_URL).respond(503, json=body)
    with pytest.raises(ProviderUnavailable) as caught:
        make("openrouter").complete(chat())
    assert caught.value.retry_after == 7.0


def test_rate_limit_reset_header_in_epoch_milliseconds(make, respx_mock):
    reset_ms = int((time.time() + 30) * 1000)
    respx_mock.post(CHAT_URL).respond(
        429,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)},
        json={"error": {"code": 429, "message": "Rate limit exceeded"}},
    )
    with pytest.raises(RateLimited) as caught:
        make("openrouter").complete(chat())
    assert 20 < caught.value.retry_after <= 30


def test_openrouter_reset_delay_ignores_garbage():
    assert openrouter_reset_delay(httpx.Headers({"x-ratelimit-reset": "soon"})) is None
    assert openrouter_reset_delay(httpx.Headers({})) is None


def test_check_uses_key_endpoint_and_drops_label(make, respx_mock):
    key_data = {
        "label": "sk-or-v1-au7...890",
        "limit": 100,
        "limit_remaining": 74.5,
        "usage": 25.5,
        "is_free_tier": False,
        "rate_limit": {"requests": 1000, "interval": "1h"},
    }
    route = respx_mock.get(f"{OPENROUTER_URL}/key").respond(json={"data": key_data})
    facts = make("openrouter").check()
    assert facts["ok"] is True
    assert facts["limit_remaining"] == 74.5
    assert "label" not in facts
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test-abc123"


def test_check_with_bad_key_raises_even_though_models_would_answer(make, respx_mock):
    respx_mock.get(f"{OPENROUTER_URL}/key").respond(401, json={"error": {"code": 401, "message": "No auth"}})
    with pytest.raises(AuthenticationError):
        make("openrouter").check()


def test_list_models_returns_raw_catalog_entries(make, respx_mock):
    entry = {
        "id": "anthropic/claude-3.5-sonnet",
        "canonical_slug": "anthropic/claude-3.5-sonnet",
        "context_length": 200000,
        "pricing": {"prompt": "0.000003", "completion": "0.000015"},
    }
    respx_mock.get(f"{OPENROUTER_URL}/models").respond(json={"data": [entry]})
    assert make("openrouter").list_models() == [entry]
