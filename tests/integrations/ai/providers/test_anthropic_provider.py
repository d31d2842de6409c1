"""AnthropicProvider over respx: payloads, headers, replies, every stream event, tools, JSON mode."""

from __future__ import annotations

import json

import httpx
import pytest

from backend.integrations.ai.errors import (
    AuthenticationError,
    BadRequest,
    InsufficientCredits,
    InvalidResponse,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from backend.integrations.ai.providers.anthropic_provider import DEFAULT_MAX_TOKENS, JSON_TOOL_NAME
from backend.integrations.ai.types import Message, ToolCall

from .conftest import ANTHROPIC_URL, WEATHER, anthropic_sse, chat, sent_json, stream_response

MESSAGES_URL = f"{ANTHROPIC_URL}/v1/messages"
REPLY = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 6,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 5,
    },
}


def tool_reply(name: str, payload: dict, stop: str = "tool_use") -> dict:
    block = {"type": "tool_use", "id": "toolu_1", "name": name, "input": payload}
    return {**REPLY, "content": [block], "stop_reason": stop}


def start(usage: dict | None = None) -> dict:
    message = {"id": "msg_s", "type": "message", "role": "assistant", "content": [], "model": "claude-x"}
    if usage is not None:
        message["usage"] = usage
    return {"type": "message_start", "message": message}


def text_block(index: int = 0) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}


def text_delta(text: str, index: int = 0) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def stop_block(index: int = 0) -> dict:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop: str = "end_turn", **usage) -> dict:
    return {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}


MESSAGE_STOP = {"type": "message_stop"}
PING = {"type": "ping"}


# -- payloads and headers ---------------------------------------------------------------------------


def test_complete_sends_messages_payload_and_headers(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(json=REPLY, headers={"request-id": "req_011"})
    request = chat(
        model="claude-sonnet-4-5",
        messages=(
            Message(role="system", content="Be terse."),
            Message(role="system", content="Answer in English."),
            Message(role="user", content="Hello"),
        ),
        temperature=1.7,
        top_p=0.8,
        stop=("END",),
        user="user-42",
    )
    completion = make("anthropic").complete(request)

    assert sent_json(route) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
        "system": "Be terse.\n\nAnswer in English.",
        "temperature": 1.0,
        "top_p": 0.8,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }
    headers = route.calls.last.request.headers
    assert headers["x-api-key"] == "sk-test-abc123"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert completion.text == "Hi there"
    assert completion.finish_reason == "stop"
    assert completion.request_id == "req_011"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 6, 26)
    assert (usage.cached_tokens, usage.cache_write_tokens) == (5, 3)


def test_negative_temperature_is_clamped_to_zero_and_max_tokens_kept(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(json=REPLY)
    make("anthropic").complete(chat(temperature=-0.5, max_tokens=77))
    body = sent_json(route)
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 77


def test_base_url_with_v1_suffix_is_tolerated_and_beta_header_sent(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(json=REPLY)
    make(
        "anthropic", base_url=f"{ANTHROPIC_URL}/v1", options=(("anthropic_beta", "flag-a,flag-b"),)
    ).complete(chat())
    assert route.calls.last.request.headers["anthropic-beta"] == "flag-a,flag-b"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
        ("something_new", "other"),
    ],
)
def test_stop_reasons_map_to_one_vocabulary(make, respx_mock, stop_reason, finish):
    respx_mock.post(MESSAGES_URL).respond(json={**REPLY, "stop_reason": stop_reason})
    completion = make("anthropic").complete(chat())
    assert completion.finish_reason == finish
    assert (completion.refusal is not None) == (stop_reason == "refusal")


# -- tools and JSON mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tools_and_tool_choice_mapping(make, respx_mock, choice, wire):
    route = respx_mock.post(MESSAGES_URL).respond(json=tool_reply("get_weather", {"city": "Oslo"}))
    completion = make("anthropic").complete(chat(tools=(WEATHER,), tool_choice=choice))
    body = sent_json(route)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": dict(WEATHER.parameters),
        }
    ]
    assert body["tool_choice"] == wire
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls[0].id == "toolu_1"
    assert completion.tool_calls[0].parsed_arguments() == {"city": "Oslo"}


def test_tool_round_trip_becomes_tool_use_and_tool_result_blocks(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(json=REPLY)
    calls = (
        ToolCall(id="toolu_a", name="get_weather", arguments='{"city": "Oslo"}'),
        ToolCall(id="toolu_b", name="get_weather", arguments='{"city": "Rome"}'),
    )
    messages = (
        Message(role="user", content="Weather in Oslo and Rome?"),
        Message(role="assistant", content="Checking.", tool_calls=calls),
        Message(role="tool", content="3C", tool_call_id="toolu_a"),
        Message(role="tool", content="18C", tool_call_id="toolu_b"),
    )
    make("anthropic").complete(chat(messages=messages, tools=(WEATHER,)))
    sent = sent_json(route)["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    assert sent[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "3C"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "18C"},
        ],
    }
    assert len(sent) == 3


def test_json_schema_mode_forces_a_tool_and_returns_its_input_as_text(make, respx_mock):
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "seo", "schema": schema}}
    route = respx_mock.post(MESSAGES_URL).respond(json=tool_reply("seo", {"title": "Home"}))
    completion = make("anthropic").complete(chat(response_format=fmt))
    body = sent_json(route)
    assert body["tool_choice"] == {"type": "tool", "name": "seo"}
    assert body["tools"][0]["name"] == "seo"
    assert body["tools"][0]["input_schema"] == schema
    assert "response_format" not in body
    assert json.loads(completion.text) == {"title": "Home"}
    assert completion.finish_reason == "stop"
    assert completion.tool_calls == ()


def test_json_object_mode_uses_the_default_tool(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(json=tool_reply(JSON_TOOL_NAME, {"a": 1}))
    completion = make("anthropic").complete(chat(response_format={"type": "json_object"}))
    assert sent_json(route)["tool_choice"] == {"type": "tool", "name": JSON_TOOL_NAME}
    assert json.loads(completion.text) == {"a": 1}


def test_json_mode_streams_the_tool_input_as_text(make, respx_mock):
    body = anthropic_sse(
        start({"input_tokens": 5, "output_tokens": 1}),
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL_NAME, "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ": 1}"},
        },
        stop_block(),
        message_delta("tool_use", output_tokens=9),
        MESSAGE_STOP,
    )
    respx_mock.post(MESSAGES_URL).mock(return_value=stream_response(body))
    chunks = list(make("anthropic").stream(chat(response_format={"type": "json_object"})))
    assert json.loads("".join(c.text for c in chunks)) == {"a": 1}
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].tool_calls == ()


# -- streams ----------------------------------------------------------------------------------------


def test_stream_handles_every_event_type_and_merges_usage(make, respx_mock):
    body = anthropic_sse(
        start({"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1}),
        text_block(),
        PING,
        text_delta("Hel"),
        {"type": "brand_new_event", "whatever": True},
        text_delta("lo"),
        stop_block(),
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_x", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city"'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ':"Oslo"}'},
        },
        stop_block(1),
        message_delta("tool_use", output_tokens=10),
        message_delta("tool_use", output_tokens=15),
        MESSAGE_STOP,
    )
    route = respx_mock.post(MESSAGES_URL).mock(return_value=stream_response(body, **{"request-id": "req_st"}))
    chunks = list(make("anthropic").stream(chat(tools=(WEATHER,))))
    assert sent_json(route)["stream"] is True
    assert [c.text for c in chunks[:-1]] == ["Hel", "lo"]
    final = chunks[-1]
    assert final.final
    assert final.finish_reason == "tool_calls"
    assert final.tool_calls == (ToolCall(id="toolu_x", name="get_weather", arguments='{"city":"Oslo"}'),)
    assert final.usage.completion_tokens == 15  # cumulative: the last value, not the sum
    assert final.usage.prompt_tokens == 30
    assert final.usage.total_tokens == 45
    assert final.model == "claude-x"
    assert final.request_id == "req_st"


@pytest.mark.parametrize(
    ("error_type", "expected", "status"),
    [
        ("overloaded_error", ProviderUnavailable, 529),
        ("api_error", ProviderUnavailable, 500),
        ("rate_limit_error", RateLimited, 429),
        ("authentication_error", AuthenticationError, 401),
        ("permission_error", PermissionDenied, 403),
        ("billing_error", InsufficientCredits, 402),
        ("not_found_error", ModelNotFound, 404),
        ("invalid_request_error", BadRequest, 400),
        ("request_too_large", BadRequest, 413),
        ("timeout_error", ProviderUnavailable, 504),
        ("mystery_error", ProviderUnavailable, 500),
    ],
)
def test_in_band_error_event_maps_by_type(make, respx_mock, error_type, expected, status):
    body = anthropic_sse(
        start({"input_tokens": 3, "output_tokens": 1}),
        text_block(),
        text_delta("par"),
        {"type": "error", "error": {"type": error_type, "message": "Something went wrong"}},
    )
    respx_mock.post(MESSAGES_URL).mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(expected) as caught:
        seen.extend(c.text for c in make("anthropic").stream(chat()))
    assert seen == ["par"]
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.provider == "claude"


def test_stream_without_message_stop_raises_after_the_text(make, respx_mock):
    body = anthropic_sse(start({"input_tokens": 3, "output_tokens": 1}), text_block(), text_delta("cut"))
    respx_mock.post(MESSAGES_URL).mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(InvalidResponse, match="message_stop"):
        seen.extend(c.text for c in make("anthropic").stream(chat()))
    assert seen == ["cut"]


def test_stream_error_status_before_first_event(make, respx_mock):
    respx_mock.post(MESSAGES_URL).respond(
        529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with pytest.raises(ProviderUnavailable) as caught:
        list(make("anthropic").stream(chat()))
    assert caught.value.status == 529


async def test_async_twins(make, respx_mock):
    provider = make("anthropic")
    respx_mock.post(MESSAGES_URL).respond(json=REPLY)
    assert (await provider.acomplete(chat())).text == "Hi there"
    body = anthropic_sse(
        start({"input_tokens": 4, "output_tokens": 1}),
        text_block(),
        text_delta("A"),
        text_delta("B"),
        message_delta(output_tokens=2),
        MESSAGE_STOP,
    )
    respx_mock.post(MESSAGES_URL).mock(return_value=stream_response(body))
    chunks = [c async for c in provider.astream(chat())]
    assert "".join(c.text for c in chunks) == "AB"
    assert chunks[-1].usage.total_tokens == 6


# -- errors, malformed replies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "invalid_request_error", BadRequest),
        (401, "authentication_error", AuthenticationError),
        (402, "billing_error", InsufficientCredits),
        (403, "permission_error", PermissionDenied),
        (404, "not_found_error", ModelNotFound),
        (413, "request_too_large", BadRequest),
        (429, "rate_limit_error", RateLimited),
        (500, "api_error", ProviderUnavailable),
        (504, "timeout_error", ProviderUnavailable),
        (529, "overloaded_error", ProviderUnavailable),
    ],
)
def test_http_errors_map_by_status(make, respx_mock, status, error_type, expected):
    body = {"type": "error", "error": {"type": error_type, "message": "nope"}, "request_id": "req_e"}
    respx_mock.post(MESSAGES_URL).respond(status, json=body)
    with pytest.raises(expected) as caught:
        make("anthropic").complete(chat())
    assert type(caught.value) is expected
    assert caught.value.request_id == "req_e"
    assert caught.value.code == error_type


def test_rate_limit_reads_anthropic_reset_headers(make, respx_mock):
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2999-01-01T00:00:00Z",
    }
    respx_mock.post(MESSAGES_URL).respond(
        429, headers=headers, json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    )
    with pytest.raises(RateLimited) as caught:
        make("anthropic").complete(chat())
    assert caught.value.retry_after > 1e9


def test_body_without_content_is_invalid(make, respx_mock):
    respx_mock.post(MESSAGES_URL).respond(json={"id": "msg", "type": "message"})
    with pytest.raises(InvalidResponse, match="missing required fields"):
        make("anthropic").complete(chat())


def test_timeouts_and_connect_errors(make, respx_mock):
    route = respx_mock.post(MESSAGES_URL)
    provider = make("anthropic")
    route.mock(side_effect=httpx.ConnectTimeout("connect"))
    with pytest.raises(ProviderTimeout):
        provider.complete(chat())
    route.mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ProviderUnavailable, match="Connection refused"):
        provider.complete(chat())


def test_list_models_follows_pages_and_check_asks_for_one(make, respx_mock):
    pages = [
        {"data": [{"id": "claude-a"}, {"id": "claude-b"}], "has_more": True, "last_id": "claude-b"},
        {"data": [{"id": "claude-c"}], "has_more": False, "last_id": "claude-c"},
    ]
    route = respx_mock.get(f"{ANTHROPIC_URL}/v1/models").mock(
        side_effect=[httpx.Response(200, json=pages[0]), httpx.Response(200, json=pages[1])]
    )
    provider = make("anthropic")
    assert [m["id"] for m in provider.list_models()] == ["claude-a", "claude-b", "claude-c"]
    assert route.calls[1].request.url.params["after_id"] == "claude-b"
    route.mock(side_effect=None, return_value=httpx.Response(200, json={"data": [{"id": "claude-new"}]}))
    assert provider.check() == {"ok": True, "latest_model": "claude-new"}
    assert route.calls.last.request.url.params["limit"] == "1"
    assert route.calls.last.request.headers["x-api-key"] == "sk-test-abc123"


def test_every_failure_is_a_provider_error_naming_the_row(make, respx_mock):
    respx_mock.post(MESSAGES_URL).respond(502, text="<html><title>502 Bad Gateway</title></html>")
    with pytest.raises(ProviderError) as caught:
        make("anthropic", name="claude-backup").complete(chat())
    assert caught.value.provider == "claude-backup"
    assert "502 Bad Gateway" in str(caught.value)
