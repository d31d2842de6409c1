"""Tests of the loopback fake provider server itself, with plain httpx (sync and async)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import wire
from tests.fakes.server import FakeProviderServer, Fault

ROOT = Path(__file__).resolve().parents[2]
OPENAI_KEY = "sk-test-openai"
ANTHROPIC_KEY = "sk-ant-test"
OPENROUTER_KEY = "sk-or-v1-test"
TOOL = {"name": "get_weather", "arguments": {"city": "Oslo"}}


def auth_headers(flavor: str, key: str | None = None) -> dict[str, str]:
    if flavor == "anthropic":
        return {"x-api-key": key or ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    return {"Authorization": f"Bearer {key or (OPENAI_KEY if flavor == 'openai' else OPENROUTER_KEY)}"}


def chat_url(server: FakeProviderServer, flavor: str, tenant: str = "t") -> str:
    suffix = "/v1/messages" if flavor == "anthropic" else "/chat/completions"
    return server.base_url(flavor, tenant) + suffix


def chat_payload(flavor: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-20250514", "openrouter": "openai/gpt-4o"}
    payload: dict[str, Any] = {
        "model": model[flavor],
        "messages": [{"role": "user", "content": "What is the weather like today"}],
        **extra,
    }
    if flavor == "anthropic":
        payload.setdefault("max_tokens", 100)
    if stream:
        payload["stream"] = True
    return payload


def post_chat(
    client: httpx.Client, server: FakeProviderServer, flavor: str, tenant: str = "t", **kw: Any
) -> httpx.Response:
    headers = kw.pop("headers", None) or auth_headers(flavor)
    return client.post(chat_url(server, flavor, tenant), json=chat_payload(flavor, **kw), headers=headers)


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; comment-only blocks come back as ("comment", line)."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line))
            elif line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            events.append((name, "\n".join(data)))
    return events


def stream_data(text: str) -> list[Any]:
    return [json.loads(d) if d != "[DONE]" else d for name, d in sse_events(text) if name != "comment"]


def content_deltas(flavor: str, text: str) -> list[str]:
    """The text deltas of a (possibly partial) stream."""
    deltas = []
    for name, data in sse_events(text):
        if name == "comment" or data == "[DONE]":
            continue
        event = json.loads(data)
        if flavor == "anthropic":
            if event["type"] == "content_block_delta":
                deltas.append(event["delta"]["text"])
        elif event.get("choices") and event["choices"][0]["delta"].get("content"):
            deltas.append(event["choices"][0]["delta"]["content"])
    return deltas


@pytest.fixture
def client() -> httpx.Client:
    with httpx.Client(timeout=5) as c:
        yield c


# --- non-streamed replies ------------------------------------------------------------------------


def test_openai_reply_follows_the_chat_completion_shape(fake_server, client):
    fake_server.set_reply("t", text="The sky is clear and blue")
    response = post_chat(client, fake_server, "openai")
    body = response.json()
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "The sky is clear and blue",
        "refusal": None,
        "annotations": [],
    }
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 6  # "What is the weather like today"
    assert body["usage"]["completion_tokens"] == 6
    assert body["usage"]["total_tokens"] == 12


def test_anthropic_reply_follows_the_messages_shape_and_splits_cache_reads(fake_server, client):
    fake_server.set_reply("t", text="Sunny.", cached_tokens=2)
    response = post_chat(client, fake_server, "anthropic", system="Be very brief")
    body = response.json()
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Sunny."}]
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    usage = body["usage"]
    # 6 message words + 3 system words = 9 prompt tokens, 2 of them read from cache.
    assert usage["input_tokens"] == 7
    assert usage["cache_read_input_tokens"] == 2
    assert usage["cache_creation_input_tokens"] == 0
    assert usage["output_tokens"] == 1


def test_openrouter_reply_carries_provider_cost_and_generation_id(fake_server, client):
    response = post_chat(client, fake_server, "openrouter")
    body = response.json()
    assert response.status_code == 200
    assert body["id"].startswith("gen-")
    assert response.headers["x-generation-id"] == body["id"]
    assert body["provider"] == "FakeUpstream"
    assert body["model"] == "openai/gpt-4o"
    assert body["choices"][0]["native_finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == "Hello from t."
    usage = body["usage"]
    expected = Decimal(6) * wire.FAKE_PROMPT_PRICE + Decimal(3) * wire.FAKE_COMPLETION_PRICE
    assert Decimal(str(usage["cost"])) == expected


def test_reply_model_override_is_echoed(fake_server, client):
    fake_server.set_reply("t", model="gpt-4o-mini-2024-07-18")
    assert post_chat(client, fake_server, "openai").json()["model"] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(("flavor", "reason"), [("openai", "length"), ("anthropic", "max_tokens")])
def test_max_tokens_cuts_the_reply_to_that_many_words(fake_server, client, flavor, reason):
    fake_server.set_reply("t", text="one two three four five")
    body = post_chat(client, fake_server, flavor, max_tokens=2).json()
    if flavor == "anthropic":
        assert (body["content"][0]["text"], body["stop_reason"]) == ("one two", reason)
        assert body["usage"]["output_tokens"] == 2
    else:
        assert (body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]) == (
            "one two",
            reason,
        )


def test_openai_tool_call_arguments_are_a_json_string(fake_server, client):
    fake_server.set_reply("t", tool_call=TOOL)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    body = post_chat(client, fake_server, "openai", tools=tools).json()
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] is None
    call = message["tool_calls"][0]
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}


def test_anthropic_tool_use_input_is_an_object(fake_server, client):
    fake_server.set_reply("t", tool_call=TOOL)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    body = post_chat(client, fake_server, "anthropic", tools=tools).json()
    assert body["stop_reason"] == "tool_use"
    block = body["content"][0]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert block["input"] == {"city": "Oslo"}


def test_tool_call_needs_tools_in_the_request(fake_server, client):
    fake_server.set_reply("t", text="No tools here.", tool_call=TOOL)
    body = post_chat(client, fake_server, "openai").json()
    assert body["choices"][0]["message"]["content"] == "No tools here."
    assert "tool_calls" not in body["choices"][0]["message"]


# --- streams -------------------------------------------------------------------------------------


def test_openai_stream_with_include_usage_ends_with_usage_then_done(fake_server, client):
    fake_server.set_reply("t", text="Streaming works fine here", chunks=4)
    response = post_chat(client, fake_server, "openai", stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    chunks = stream_data(response.text)
    assert chunks[-1] == "[DONE]"
    usage_chunk, finish_chunk = chunks[-2], chunks[-3]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 4
    assert finish_chunk["choices"][0]["finish_reason"] == "stop"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"]["content"] for c in chunks[1:-3]]
    assert len(deltas) == 4
    assert "".join(deltas) == "Streaming works fine here"
    assert len({c["id"] for c in chunks[:-1]}) == 1
    assert all(c["usage"] is None for c in chunks[:-2])


def test_openai_stream_without_include_usage_has_no_usage(fake_server, client):
    chunks = stream_data(post_chat(client, fake_server, "openai", stream=True).text)
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])


def test_anthropic_stream_emits_events_in_order(fake_server, client):
    fake_server.set_reply("t", text="Hello there!", chunks=3)
    response = post_chat(client, fake_server, "anthropic", stream=True)
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(d) for _, d in events]
    assert all(d["type"] == name for (name, _), d in zip(events, data, strict=True))
    assert "".join(d["delta"]["text"] for d in data[3:6]) == "Hello there!"
    assert data[0]["message"]["usage"]["input_tokens"] == 6
    assert data[7]["delta"]["stop_reason"] == "end_turn"
    assert data[7]["usage"]["output_tokens"] == 2
    assert "[DONE]" not in response.text


def test_openrouter_stream_starts_with_processing_comment_and_reports_cost(fake_server, client):
    response = post_chat(client, fake_server, "openrouter", stream=True)
    assert response.text.startswith(": OPENROUTER PROCESSING\n\n")
    chunks = stream_data(response.text)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["usage"]["cost"] == wire.fake_cost(6, 3)
    assert all(c["provider"] == "FakeUpstream" for c in chunks[:-1])
    assert chunks[-3]["choices"][0]["native_finish_reason"] == "stop"


def test_streamed_tool_call_arrives_as_argument_fragments(fake_server, client):
    fake_server.set_reply(
        "t", tool_call={"name": "lookup", "arguments": {"query": "fjords of norway"}}, chunks=4
    )
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = stream_data(post_chat(client, fake_server, "openai", stream=True, tools=tools).text)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert (first["function"]["name"], first["function"]["arguments"]) == ("lookup", "")
    fragments = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-2]]
    assert len(fragments) == 4
    assert json.loads("".join(fragments)) == {"query": "fjords of norway"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_anthropic_streamed_tool_use_is_input_json_deltas(fake_server, client):
    fake_server.set_reply("t", tool_call=TOOL, chunks=3)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    data = [
        json.loads(d)
        for _, d in sse_events(post_chat(client, fake_server, "anthropic", stream=True, tools=tools).text)
    ]
    assert data[1]["content_block"] == {
        "type": "tool_use",
        "id": data[1]["content_block"]["id"],
        "name": "get_weather",
        "input": {},
    }
    partial = "".join(d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta")
    assert json.loads(partial) == {"city": "Oslo"}
    assert data[-2]["delta"]["stop_reason"] == "tool_use"


def test_stream_with_chunk_delay_still_delivers_everything(fake_server, client):
    fake_server.set_reply("t", text="slow but complete", chunks=3, chunk_delay_s=0.001)
    chunks = stream_data(post_chat(client, fake_server, "openai", stream=True).text)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "slow but complete"


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", wire.FLAVORS)
def test_missing_key_is_401_with_the_flavors_error_body(fake_server, client, flavor):
    headers = {"anthropic-version": "2023-06-01"} if flavor == "anthropic" else {"x-other": "1"}
    response = post_chat(client, fake_server, flavor, headers=headers)
    assert response.status_code == 401
    body = response.json()
    if flavor == "anthropic":
        assert body["error"]["type"] == "authentication_error"
    elif flavor == "openrouter":
        assert body["error"]["code"] == 401
    else:
        assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("flavor", wire.FLAVORS)
def test_required_key_rejects_another_key_and_accepts_its_own(fake_server, client, flavor):
    fake_server.require_key("t", "sk-right")
    wrong = post_chat(client, fake_server, flavor, headers=auth_headers(flavor, "sk-wrong"))
    right = post_chat(client, fake_server, flavor, headers=auth_headers(flavor, "sk-right"))
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "sk-wrong" not in wrong.text
    if flavor == "openai":
        assert wrong.json()["error"]["code"] == "invalid_api_key"


def test_anthropic_without_version_header_is_400(fake_server, client):
    response = post_chat(client, fake_server, "anthropic", headers={"x-api-key": ANTHROPIC_KEY})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


def test_anthropic_rejects_a_bearer_key(fake_server, client):
    headers = {"Authorization": f"Bearer {ANTHROPIC_KEY}", "anthropic-version": "2023-06-01"}
    assert post_chat(client, fake_server, "anthropic", headers=headers).status_code == 401


def test_openai_flavor_accepts_the_azure_api_key_header(fake_server, client):
    fake_server.require_key("t", "azure-key")
    assert post_chat(client, fake_server, "openai", headers={"api-key": "azure-key"}).status_code == 200


def test_openrouter_models_need_no_key_but_key_endpoint_does(fake_server, client):
    base = fake_server.base_url("openrouter", "t")
    models = client.get(base + "/models")
    assert models.status_code == 200
    assert client.get(base + "/key").status_code == 401
    key = client.get(base + "/key", headers=auth_headers("openrouter"))
    assert key.json()["data"]["limit_remaining"] == 74.5
    assert OPENROUTER_KEY not in key.text


# --- other endpoints and validation --------------------------------------------------------------


def test_models_lists_follow_each_flavors_shape(fake_server, client):
    openai = client.get(
        fake_server.base_url("openai", "t") + "/models", headers=auth_headers("openai")
    ).json()
    assert openai["object"] == "list"
    assert {"gpt-4o", "gpt-4o-mini"} <= {m["id"] for m in openai["data"]}
    anthropic = client.get(
        fake_server.base_url("anthropic", "t") + "/v1/models", headers=auth_headers("anthropic")
    ).json()
    assert anthropic["has_more"] is False
    assert anthropic["first_id"] == anthropic["data"][0]["id"]
    router = client.get(fake_server.base_url("openrouter", "t") + "/models").json()
    priced = {m["id"]: m["pricing"] for m in router["data"]}
    assert priced["fake/priced-model"]["prompt"] == str(wire.FAKE_PROMPT_PRICE)
    assert priced["meta-llama/llama-3.3-70b-instruct:free"]["completion"] == "0"
    assert all(isinstance(p["prompt"], str) for p in priced.values())


@pytest.mark.parametrize(
    ("flavor", "payload", "message"),
    [
        ("anthropic", {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        (
            "anthropic",
            {"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            'Unexpected role "system"',
        ),
        ("openai", {"model": "gpt-4o", "messages": []}, "too short"),
        ("openai", {"messages": [{"role": "user", "content": "hi"}]}, "model parameter"),
    ],
)
def test_invalid_requests_are_400(fake_server, client, flavor, payload, message):
    response = client.post(chat_url(fake_server, flavor), json=payload, headers=auth_headers(flavor))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_unknown_paths_are_404(fake_server, client):
    assert client.get(fake_server.url + "/nowhere").status_code == 404
    response = client.post(
        fake_server.base_url("openai", "t") + "/embeddings", json={}, headers=auth_headers("openai")
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /t/openai/v1/embeddings)"


def test_healthz_answers_ok(fake_server, client):
    response = client.get(fake_server.url + "/healthz")
    assert (response.status_code, response.text) == (200, "ok")


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "fault", "status", "expected"),
    [
        ("openai", Fault(status=429), 429, {"code": "rate_limit_exceeded"}),
        (
            "openai",
            Fault(status=429, code="insufficient_quota"),
            429,
            {"type": "insufficient_quota", "code": "insufficient_quota"},
        ),
        (
            "openai",
            Fault(status=400, code="context_length_exceeded"),
            400,
            {"code": "context_length_exceeded", "param": "messages"},
        ),
        ("openai", Fault(status=404), 404, {"code": "model_not_found"}),
        ("openai", Fault(status=500), 500, {"type": "server_error"}),
        ("anthropic", Fault(status=529), 529, {"type": "overloaded_error", "message": "Overloaded"}),
        ("anthropic", Fault(status=429), 429, {"type": "rate_limit_error"}),
        ("anthropic", Fault(status=402), 402, {"type": "billing_error"}),
        ("anthropic", Fault(status=404), 404, {"type": "not_found_error"}),
        ("anthropic", Fault(status=500, code="api_error"), 500, {"type": "api_error"}),
        ("openrouter", Fault(status=402), 402, {"code": 402}),
        ("openrouter", Fault(status=429), 429, {"code": 429}),
        ("openrouter", Fault(status=503), 503, {"code": 503}),
    ],
)
def test_status_faults_send_the_flavors_real_error_body(fake_server, client, flavor, fault, status, expected):
    fake_server.script("t", fault)
    response = post_chat(client, fake_server, flavor)
    assert response.status_code == status
    body = response.json()
    assert expected.items() <= body["error"].items()
    if flavor == "anthropic":
        assert body["type"] == "error"
        assert body["request_id"].startswith("req_")
    if flavor == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
    assert post_chat(client, fake_server, flavor).status_code == 200  # consumed


def test_openrouter_402_carries_metadata(fake_server, client):
    fake_server.script("t", Fault(status=402))
    error = post_chat(client, fake_server, "openrouter").json()["error"]
    assert error["metadata"]["error_type"] == "insufficient_credits"
    assert "credits" in error["message"]


def test_fault_code_sets_openrouter_error_type(fake_server, client):
    fake_server.script("t", Fault(status=429, code="upstream_rate_limited"))
    assert post_chat(client, fake_server, "openrouter").json()["error"]["metadata"]["error_type"] == (
        "upstream_rate_limited"
    )


def test_fault_headers_reach_the_client(fake_server, client):
    fake_server.script(
        "t", Fault(status=429, headers={"retry-after": "2"}), Fault(headers={"x-extra": "yes"})
    )
    first = post_chat(client, fake_server, "openai")
    second = post_chat(client, fake_server, "openai")
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert (second.status_code, second.headers["x-extra"]) == (200, "yes")


def test_faults_are_consumed_in_order_with_times_and_always(fake_server, client):
    fake_server.script("t", Fault(status=503, times=2), Fault(status=500), Fault(status=429, always=True))
    assert fake_server.pending_faults("t") == 4
    statuses = [post_chat(client, fake_server, "openai").status_code for _ in range(6)]
    assert statuses == [503, 503, 500, 429, 429, 429]
    assert fake_server.pending_faults("t") == 1


def test_fault_with_path_suffix_lets_other_paths_pass(fake_server, client):
    fake_server.script("t", Fault(status=500, path_suffix="/chat/completions"))
    models = client.get(fake_server.base_url("openai", "t") + "/models", headers=auth_headers("openai"))
    assert models.status_code == 200
    assert post_chat(client, fake_server, "openai").status_code == 500


def test_drop_closes_the_connection_without_a_response(fake_server, client):
    fake_server.script("t", Fault(drop=True))
    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(client, fake_server, "openai")
    assert post_chat(client, fake_server, "openai").status_code == 200
    assert fake_server.count("t") == 2


def test_delay_fault_then_normal_reply(fake_server, client):
    fake_server.script("t", Fault(delay_s=0.01))
    assert (
        post_chat(client, fake_server, "openai").json()["choices"][0]["message"]["content"] == "Hello from t."
    )


def test_delay_longer_than_the_client_timeout_times_out(fake_server):
    fake_server.script("t", Fault(delay_s=2))
    with httpx.Client(timeout=0.05) as short, pytest.raises(httpx.ReadTimeout):
        post_chat(short, fake_server, "openai")


def test_html_fault_sends_an_html_page(fake_server, client):
    fake_server.script("t", Fault(status=502, html=True))
    response = post_chat(client, fake_server, "anthropic")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")


def test_malformed_fault_sends_a_200_that_is_not_json(fake_server, client):
    fake_server.script("t", Fault(malformed=True))
    response = post_chat(client, fake_server, "openai")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_body_fault_replaces_the_body(fake_server, client):
    fake_server.script("t", Fault(status=418, body={"surprise": True}), Fault(body="plain"))
    first = post_chat(client, fake_server, "openai")
    assert (first.status_code, first.json()) == (418, {"surprise": True})
    second = post_chat(client, fake_server, "openai")
    assert (second.status_code, second.text) == (200, "plain")


@pytest.mark.parametrize("flavor", wire.FLAVORS)
def test_stream_cut_closes_after_n_chunks_without_terminator(fake_server, client, flavor):
    fake_server.set_reply("t", text="a b c d e f", chunks=6)
    fake_server.script("t", Fault(stream_cut_after=2))
    received = []
    request = client.build_request(
        "POST",
        chat_url(fake_server, flavor),
        json=chat_payload(flavor, stream=True),
        headers=auth_headers(flavor),
    )
    response = client.send(request, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        received.extend(response.iter_lines())
    response.close()
    text = "\n".join(received)
    assert content_deltas(flavor, text) == ["a ", "b "]
    assert "[DONE]" not in text
    assert "message_stop" not in text


def test_stream_cut_on_a_plain_request_truncates_the_body(fake_server, client):
    fake_server.script("t", Fault(stream_cut_after=0))
    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(client, fake_server, "openai")


@pytest.mark.parametrize("flavor", wire.FLAVORS)
def test_stream_error_after_sends_the_in_band_error(fake_server, client, flavor):
    fake_server.set_reply("t", text="a b c d", chunks=4)
    fake_server.script("t", Fault(stream_error_after=1, status=429))
    response = post_chat(client, fake_server, flavor, stream=True)
    assert response.status_code == 200
    events = sse_events(response.text)
    name, data = events[-1]
    error = json.loads(data)
    if flavor == "anthropic":
        assert name == "error"
        assert error == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": error["error"]["message"]},
        }
    elif flavor == "openai":
        assert error["error"]["code"] == "rate_limit_exceeded"
        assert "choices" not in error
    else:
        assert error["error"]["code"] == 429
        assert error["choices"][0]["finish_reason"] == "error"
    assert "[DONE]" not in response.text
    assert content_deltas(flavor, response.text) == ["a "]


def test_stream_error_on_a_plain_request_is_an_http_error(fake_server, client):
    fake_server.script("t", Fault(stream_error_after=1))
    response = post_chat(client, fake_server, "anthropic")
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"


def test_fault_rejects_zero_times():
    with pytest.raises(ValueError, match="always=True"):
        Fault(status=500, times=0)


# --- connections, counters, tenants --------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(fake_server):
    before = fake_server.connections_opened
    with httpx.Client(timeout=5) as client:
        for _ in range(5):
            assert post_chat(client, fake_server, "openai").status_code == 200
            assert post_chat(client, fake_server, "anthropic", stream=True).status_code == 200
    assert fake_server.connections_opened - before == 1


def test_connection_close_is_honoured(fake_server):
    before = fake_server.connections_opened
    with httpx.Client(timeout=5, headers={"Connection": "close"}) as client:
        responses = [post_chat(client, fake_server, "openai") for _ in range(3)]
    assert [r.headers["connection"] for r in responses] == ["close"] * 3
    assert fake_server.connections_opened - before == 3


def test_counters_and_recorded_requests(fake_server, client):
    post_chat(client, fake_server, "openai")
    post_chat(client, fake_server, "openai")
    client.get(fake_server.base_url("openai", "t") + "/models?limit=5", headers=auth_headers("openai"))
    assert fake_server.count("t") == 3
    assert fake_server.count("t", "/chat/completions") == 2
    assert fake_server.count("t", "/models") == 1
    recorded = fake_server.requests("t")
    assert [(r.method, r.endpoint) for r in recorded] == [
        ("POST", "chat/completions"),
        ("POST", "chat/completions"),
        ("GET", "models"),
    ]
    assert recorded[0].json["model"] == "gpt-4o-mini"
    assert recorded[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert recorded[2].query == "limit=5"
    assert OPENAI_KEY not in repr(recorded[0])


def test_tenants_are_isolated(fake_server, client):
    fake_server.script("a", Fault(status=500, always=True))
    fake_server.require_key("a", "only-a")
    fake_server.set_reply("b", text="I am b.")
    assert post_chat(client, fake_server, "openai", tenant="a").status_code == 500
    assert (
        post_chat(client, fake_server, "openai", tenant="b").json()["choices"][0]["message"]["content"]
        == "I am b."
    )
    assert (
        post_chat(client, fake_server, "openai", tenant="c").json()["choices"][0]["message"]["content"]
        == "Hello from c."
    )
    assert (fake_server.count("a"), fake_server.count("b"), fake_server.count("c")) == (1, 1, 1)


def test_reset_forgets_everything(fake_server, client):
    fake_server.script("t", Fault(status=500, always=True))
    fake_server.require_key("t", "only")
    fake_server.set_reply("t", text="custom")
    post_chat(client, fake_server, "openai")
    fake_server.reset()
    assert fake_server.count("t") == 0
    assert fake_server.requests("t") == []
    assert (
        post_chat(client, fake_server, "openai").json()["choices"][0]["message"]["content"] == "Hello from t."
    )


def test_base_urls_follow_the_sdk_conventions(fake_server):
    assert fake_server.base_url("openai", "x") == f"{fake_server.url}/x/openai/v1"
    assert fake_server.base_url("anthropic", "x") == f"{fake_server.url}/x/anthropic"
    assert fake_server.base_url("openrouter", "x") == f"{fake_server.url}/x/openrouter/api/v1"
    with pytest.raises(ValueError, match="flavor"):
        fake_server.base_url("gemini", "x")
    with pytest.raises(ValueError, match="path segment"):
        fake_server.base_url("openai", "a/b")


async def test_async_client_gets_the_same_replies(fake_server):
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            chat_url(fake_server, "openrouter"),
            json=chat_payload("openrouter"),
            headers=auth_headers("openrouter"),
        )
        async with client.stream(
            "POST",
            chat_url(fake_server, "anthropic"),
            json=chat_payload("anthropic", stream=True),
            headers=auth_headers("anthropic"),
        ) as stream:
            lines = [line async for line in stream.aiter_lines()]
    assert response.json()["choices"][0]["message"]["content"] == "Hello from t."
    assert "event: message_stop" in lines


async def test_200_concurrent_delayed_requests_complete(fake_server):
    # Four clients of 50 connections: httpcore's pool does per-request work quadratic in its
    # connection count, so one 200-connection pool would make this test slow for the client's sake.
    fake_server.set_reply("t", delay_s=0.02)
    url, payload, headers = chat_url(fake_server, "openai"), chat_payload("openai"), auth_headers("openai")
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    clients = [httpx.AsyncClient(timeout=10, limits=limits) for _ in range(4)]
    try:
        responses = await asyncio.gather(
            *(clients[i % 4].post(url, json=payload, headers=headers) for i in range(200))
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert [r.status_code for r in responses] == [200] * 200
    assert len({r.json()["id"] for r in responses}) == 200
    assert fake_server.count("t") == 200


def test_a_stopped_server_refuses_connections():
    server = FakeProviderServer().start()
    with httpx.Client(timeout=5) as client:
        assert post_chat(client, server, "openai").status_code == 200
        server.stop()
        with pytest.raises(httpx.ConnectError):
            post_chat(client, server, "openai")


def test_stop_closes_a_request_still_waiting():
    server = FakeProviderServer(delay_s=30).start()
    with httpx.Client(timeout=5) as client:
        errors: list[Exception] = []

        def call() -> None:
            try:
                post_chat(client, server, "openai")
            except httpx.HTTPError as exc:
                errors.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        while server.count("t") == 0:
            thread.join(0.005)
        server.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1


def test_standalone_server_runs_without_django_and_prints_base_urls():
    code = (
        "import sys;"
        "from tests.fakes import server;"
        "assert 'django' not in sys.modules, 'the fake server imported Django';"
        "server.main(['--port', '0', '--delay-ms', '1', '--chunks', '2'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        urls = dict(line.split() for line in lines[1:])
        with httpx.Client(timeout=5) as client:
            response = client.post(
                urls["openai"] + "/chat/completions",
                json=chat_payload("openai"),
                headers=auth_headers("openai"),
            )
    finally:
        proc.terminate()
        proc.wait(5)
    assert lines[0].startswith("fake provider server listening on http://127.0.0.1:")
    assert urls["anthropic"].endswith("/default/anthropic")
    assert response.json()["choices"][0]["message"]["content"] == "Hello from default."


def test_azure_deployment_urls_answer_in_openai_format(fake_server, client):
    fake_server.require_key("t", "azure-key")
    base = fake_server.base_url("azure", "t") + "/openai/deployments/my-gpt4o"
    payload = {"messages": [{"role": "user", "content": "hello"}]}
    missing_version = client.post(base + "/chat/completions", json=payload, headers={"api-key": "azure-key"})
    response = client.post(
        base + "/chat/completions?api-version=2024-10-21", json=payload, headers={"api-key": "azure-key"}
    )
    assert missing_version.status_code == 404
    assert response.status_code == 200
    assert response.json()["model"] == "my-gpt4o"
    assert response.json()["object"] == "chat.completion"
    recorded = fake_server.requests("t")[-1]
    assert (recorded.flavor, recorded.deployment, recorded.endpoint) == (
        "azure",
        "my-gpt4o",
        "chat/completions",
    )
    assert "model" not in recorded.json


def test_azure_v1_api_needs_no_api_version(fake_server, client):
    base = fake_server.base_url("azure", "t") + "/openai/v1"
    response = client.post(base + "/chat/completions", json=chat_payload("openai"), headers={"api-key": "k"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from t."
