"""OpenAIProvider over respx: payloads, headers, replies, streams, tools, JSON mode, failures."""

from __future__ import annotations

import json

import httpx
import pytest

from backend.integrations.ai.errors import (
    AuthenticationError,
    InvalidResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from backend.integrations.ai.providers.openai_provider import is_reasoning_model
from backend.integrations.ai.types import Message, ToolCall

from .conftest import COMPAT_URL, OPENAI_URL, WEATHER, chat, sent_json, sse, stream_response

REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi!"}}],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 3,
        "total_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    },
}


def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


USAGE_CHUNK = {"id": "chatcmpl-s", "model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": REPLY["usage"]}


# -- payloads and headers ---------------------------------------------------------------------------


def test_complete_sends_openai_payload_and_bearer_key(make, respx_mock):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(
        json=REPLY, headers={"x-request-id": "req_9"}
    )
    request = chat(
        messages=(Message(role="system", content="Be terse."), Message(role="user", content="Hello")),
        max_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop=("END",),
        user="u-1",
    )
    completion = make("openai").complete(request)

    assert sent_json(route) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello"}],
        "max_completion_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "u-1",
    }
    headers = route.calls.last.request.headers
    assert headers["authorization"] == "Bearer sk-test-abc123"
    assert headers["content-type"] == "application/json"
    assert completion.text == "Hi!"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.finish_reason == "stop"
    assert completion.request_id == "req_9"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (19, 3, 22)
    assert (usage.cached_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (4, 2, 1)


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "openai/o3"])
def test_reasoning_models_get_developer_turn_and_no_sampling_knobs(make, respx_mock, model):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    request = chat(
        model=model,
        messages=(Message(role="system", content="Rules."), Message(role="user", content="Q")),
        max_tokens=100,
        temperature=0.2,
        top_p=0.5,
    )
    make("openai").complete(request)
    body = sent_json(route)
    assert body["messages"][0] == {"role": "developer", "content": "Rules."}
    assert body["max_completion_tokens"] == 100
    assert "max_tokens" not in body
    assert "temperature" not in body
    assert "top_p" not in body


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "omni-moderation", "llama3.1:8b"])
def test_is_reasoning_model_leaves_plain_models_alone(model):
    assert not is_reasoning_model(model)


def test_compatible_server_gets_plain_max_tokens_and_no_key_header_when_blank(make, respx_mock):
    route = respx_mock.post(f"{COMPAT_URL}/chat/completions").respond(json=REPLY)
    make("openai_compatible", api_key="").complete(chat(model="llama3.1", max_tokens=20))
    body = sent_json(route)
    assert body["max_tokens"] == 20
    assert "max_completion_tokens" not in body
    assert "authorization" not in route.calls.last.request.headers


def test_compatible_server_still_uses_new_name_for_reasoning_models(make, respx_mock):
    route = respx_mock.post(f"{COMPAT_URL}/chat/completions").respond(json=REPLY)
    make("openai_compatible").complete(chat(model="o3-mini", max_tokens=20))
    assert sent_json(route)["max_completion_tokens"] == 20


def test_azure_host_uses_api_key_header_and_api_version(make, respx_mock):
    base = "https://panel-res.openai.azure.com/openai/deployments/gpt4o"
    route = respx_mock.post(f"{base}/chat/completions", params={"api-version": "2024-06-01"}).respond(
        json=REPLY
    )
    provider = make("openai_compatible", base_url=base, options=(("api_version", "2024-06-01"),))
    provider.complete(chat())
    headers = route.calls.last.request.headers
    assert headers["api-key"] == "sk-test-abc123"
    assert "authorization" not in headers
    assert route.calls.last.request.url.params["api-version"] == "2024-06-01"


def test_azure_classic_deployment_without_version_gets_a_default(make, respx_mock):
    base = "https://panel-res.openai.azure.com/openai/deployments/gpt4o"
    route = respx_mock.post(f"{base}/chat/completions").respond(json=REPLY)
    make("openai_compatible", base_url=base).complete(chat())
    assert route.calls.last.request.url.params["api-version"]
    assert route.calls.last.request.headers["api-key"] == "sk-test-abc123"


def test_azure_classic_deployment_checks_its_key_on_the_resource_models_list(make, respx_mock):
    resource = "https://panel-res.openai.azure.com"
    route = respx_mock.get(f"{resource}/openai/models", params={"api-version": "2024-06-01"}).respond(
        json={"data": [{"id": "gpt-4o"}, {"id": "gpt-4o-mini"}], "object": "list"}
    )
    provider = make(
        "openai_compatible",
        base_url=f"{resource}/openai/deployments/gpt4o",
        options=(("api_version", "2024-06-01"),),
    )
    assert provider.check() == {"ok": True, "models": 2}
    assert route.calls.last.request.headers["api-key"] == "sk-test-abc123"


def test_api_version_option_on_any_host_switches_to_azure_auth(make, respx_mock):
    route = respx_mock.post(f"{COMPAT_URL}/chat/completions").respond(json=REPLY)
    make("openai_compatible", options=(("api_version", "2025-01-01-preview"),)).complete(chat())
    request = route.calls.last.request
    assert request.url.params["api-version"] == "2025-01-01-preview"
    assert request.headers["api-key"] == "sk-test-abc123"


def test_extra_headers_and_extra_body_fields_pass_through(make, respx_mock):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    provider = make("openai", extra_headers=(("OpenAI-Organization", "org-1"),))
    provider.complete(chat(extra={"seed": 7, "logprobs": True}))
    assert route.calls.last.request.headers["openai-organization"] == "org-1"
    body = sent_json(route)
    assert (body["seed"], body["logprobs"]) == (7, True)


def test_redirects_are_not_followed(make, respx_mock):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(
        301, headers={"location": "https://elsewhere.example/v1/chat/completions"}
    )
    with pytest.raises(InvalidResponse) as caught:
        make("openai").complete(chat())
    assert "elsewhere.example" in str(caught.value)
    assert caught.value.retryable is False
    assert route.call_count == 1


# -- tools and JSON mode ----------------------------------------------------------------------------


def test_tools_and_tool_choice_payload_and_tool_call_reply(make, respx_mock):
    reply = {
        **REPLY,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
            }
        ],
    }
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=reply)
    completion = make("openai").complete(chat(tools=(WEATHER,), tool_choice="get_weather"))
    body = sent_json(route)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": dict(WEATHER.parameters),
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert completion.text == ""
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == (ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}'),)
    assert completion.tool_calls[0].parsed_arguments() == {"city": "Oslo"}


@pytest.mark.parametrize(("choice", "wire"), [("auto", "auto"), ("none", "none"), ("required", "required")])
def test_tool_choice_keywords(make, respx_mock, choice, wire):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    make("openai").complete(chat(tools=(WEATHER,), tool_choice=choice))
    assert sent_json(route)["tool_choice"] == wire


def test_tool_choice_without_tools_is_not_sent(make, respx_mock):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    make("openai").complete(chat(tool_choice="auto"))
    assert "tool_choice" not in sent_json(route)


def test_tool_round_trip_messages(make, respx_mock):
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}')
    messages = (
        Message(role="user", content="Weather?"),
        Message(role="assistant", content=None, tool_calls=(call,)),
        Message(role="tool", content='{"temp": 3}', tool_call_id="call_1"),
    )
    make("openai").complete(chat(messages=messages, tools=(WEATHER,)))
    sent = sent_json(route)["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "content": '{"temp": 3}', "tool_call_id": "call_1"}


def test_json_mode_passes_response_format(make, respx_mock):
    reply = {**REPLY, "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": '{"a": 1}'}}]}
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=reply)
    completion = make("openai").complete(chat(response_format={"type": "json_object"}))
    assert sent_json(route)["response_format"] == {"type": "json_object"}
    assert json.loads(completion.text) == {"a": 1}


def test_tool_arguments_given_as_an_object_are_encoded(make, respx_mock):
    # Some compatible servers (Ollama) send `arguments` as an object instead of a string.
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    reply = {**REPLY, "choices": [{"index": 0, "finish_reason": "stop", "message": {"tool_calls": [call]}}]}
    respx_mock.post(f"{COMPAT_URL}/chat/completions").respond(json=reply)
    completion = make("openai_compatible").complete(chat())
    assert completion.tool_calls[0].parsed_arguments() == {"city": "Oslo"}
    assert completion.finish_reason == "tool_calls"


# -- streams ----------------------------------------------------------------------------------------


def test_stream_yields_text_then_one_final_chunk(make, respx_mock):
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        USAGE_CHUNK,
    )
    route = respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(
        return_value=stream_response(body, **{"x-request-id": "req_s"})
    )
    chunks = list(make("openai").stream(chat()))
    assert sent_json(route)["stream"] is True
    assert sent_json(route)["stream_options"] == {"include_usage": True}
    assert [c.text for c in chunks[:-1]] == ["Hel", "lo"]
    final = chunks[-1]
    assert final.final and not any(c.final for c in chunks[:-1])
    assert final.finish_reason == "stop"
    assert final.usage.total_tokens == 22
    assert final.model == "gpt-4o-mini-2024-07-18"
    assert final.request_id == "req_s"


def test_stream_assembles_tool_call_fragments(make, respx_mock):
    body = sse(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_9", "function": {"name": "get_weather", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
        chunk({}, "tool_calls"),
    )
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    final = list(make("openai").stream(chat(tools=(WEATHER,))))[-1]
    assert final.tool_calls == (ToolCall(id="call_9", name="get_weather", arguments='{"city": "Oslo"}'),)
    assert final.finish_reason == "tool_calls"
    assert final.usage is None  # the server sent no usage chunk


def test_stream_without_done_raises_after_the_text(make, respx_mock):
    body = sse(chunk({"content": "partial"}), done=False)
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(InvalidResponse, match="end marker"):
        for piece in make("openai").stream(chat()):
            seen.append(piece.text)
    assert seen == ["partial"]


def test_stream_in_band_error_raises_mapped_error(make, respx_mock):
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    body = sse(chunk({"content": "a"}), error, done=False)
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(RateLimited) as caught:
        seen.extend(c.text for c in make("openai").stream(chat()))
    assert seen == ["a"]
    assert caught.value.provider == "openai-main"
    assert caught.value.retryable


def test_stream_error_status_before_first_chunk(make, respx_mock):
    respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(
        401,
        json={"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}},
    )
    with pytest.raises(AuthenticationError):
        list(make("openai").stream(chat()))


def test_stream_with_malformed_event_raises_invalid_response(make, respx_mock):
    body = sse(chunk({"content": "ok"}), "data: {not json\n\n")
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    with pytest.raises(InvalidResponse, match="malformed stream event"):
        list(make("openai").stream(chat()))


def test_stream_answered_with_plain_json_still_yields_text_and_final(make, respx_mock):
    respx_mock.post(f"{COMPAT_URL}/chat/completions").respond(json=REPLY)
    chunks = list(make("openai_compatible").stream(chat()))
    assert [c.text for c in chunks if not c.final] == ["Hi!"]
    assert chunks[-1].final and chunks[-1].usage.total_tokens == 22


def test_stream_unparseable_tool_json_is_kept_raw(make, respx_mock):
    body = sse(
        chunk(
            {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a": nope'}}]}
        ),
        chunk({}, "tool_calls"),
    )
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    final = list(make("openai").stream(chat()))[-1]
    assert final.tool_calls[0].arguments == '{"a": nope'
    with pytest.raises(ValueError):
        final.tool_calls[0].parsed_arguments()


async def test_acomplete_and_astream_match_sync(make, respx_mock):
    provider = make("openai")
    respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    assert (await provider.acomplete(chat())).text == "Hi!"
    body = sse(chunk({"content": "Hi"}), chunk({"content": "!"}, "stop"), USAGE_CHUNK)
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    chunks = [c async for c in provider.astream(chat())]
    assert "".join(c.text for c in chunks) == "Hi!"
    assert chunks[-1].final and chunks[-1].usage.prompt_tokens == 19


async def test_astream_without_done_raises(make, respx_mock):
    body = sse(chunk({"content": "x"}), done=False)
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(return_value=stream_response(body))
    seen = []
    with pytest.raises(InvalidResponse):
        async for piece in make("openai").astream(chat()):
            seen.append(piece.text)
    assert seen == ["x"]


# -- malformed replies, timeouts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json at all", "non-JSON"),
        (b"<html><title>Gateway</title></html>", "HTML page"),
        (b"[1, 2]", "not an object"),
        (b'{"id": "x", "choices": []}', "without any choice"),
        (b'{"id": "x"}', "without any choice"),
        (b'{"choices": [{"message": "oops"}]}', "missing required fields"),
        (b"", "empty body"),
    ],
)
def test_malformed_success_bodies_raise_invalid_response(make, respx_mock, body, match):
    respx_mock.post(f"{OPENAI_URL}/chat/completions").respond(200, content=body)
    with pytest.raises(InvalidResponse, match=match) as caught:
        make("openai").complete(chat())
    assert caught.value.provider == "openai-main"


def test_read_timeout_is_provider_timeout(make, respx_mock):
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout) as caught:
        make("openai", timeout_s=7.0).complete(chat())
    assert "7.0s" in str(caught.value)
    assert caught.value.retryable


def test_dropped_connection_is_provider_unavailable(make, respx_mock):
    respx_mock.post(f"{OPENAI_URL}/chat/completions").mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected without sending a response.")
    )
    with pytest.raises(ProviderUnavailable, match="closed the connection"):
        make("openai").complete(chat())


# -- models and check -------------------------------------------------------------------------------


def test_list_models_and_check(make, respx_mock):
    models = {
        "object": "list",
        "data": [{"id": "gpt-4o", "object": "model"}, {"id": "o3", "object": "model"}],
    }
    route = respx_mock.get(f"{OPENAI_URL}/models").respond(json=models)
    provider = make("openai")
    assert [m["id"] for m in provider.list_models()] == ["gpt-4o", "o3"]
    assert provider.check() == {"ok": True, "models": 2}
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test-abc123"


def test_check_with_bad_key_raises_authentication_error(make, respx_mock):
    respx_mock.get(f"{OPENAI_URL}/models").respond(
        401, json={"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}
    )
    with pytest.raises(AuthenticationError, match="API key"):
        make("openai").check()


def test_models_body_without_data_is_invalid(make, respx_mock):
    respx_mock.get(f"{OPENAI_URL}/models").respond(json={"models": []})
    with pytest.raises(InvalidResponse):
        make("openai").list_models()
