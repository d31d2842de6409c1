"""End to end against the loopback fake server: real sockets, real httpx pools from the factory.

All three providers and a generic OpenAI-compatible server complete, stream and call tools, sync
and async; every scripted fault arrives as its typed error; a stream yields the same text and
final usage as the non-streaming call; the key never shows up, even in httpx/httpcore DEBUG logs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from decimal import Decimal
from typing import Any

import pytest

from backend.integrations.ai.errors import (
    AuthenticationError,
    BadRequest,
    ContextLengthExceeded,
    InsufficientCredits,
    InvalidResponse,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from backend.integrations.ai.types import Message
from tests.fakes.server import Fault
from tests.fakes.wire import fake_cost

from .conftest import CANARY_KEY, WEATHER, chat, spec

FLAVOR = {
    "openai": "openai",
    "openai_compatible": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
}
KINDS = list(FLAVOR)
MODEL = {
    "openai": "gpt-4o-mini",
    "openai_compatible": "llama3.1:8b",
    "anthropic": "claude-sonnet-4-5",
    "openrouter": "openai/gpt-4o-mini",
}
TENANT = "e2e"
PROMPT = "Say hello to the Panel editors please"  # 7 words: the fake counts words as tokens
REPLY_TEXT = "Hello editors, the fake server greets you warmly today."


@pytest.fixture
def build(fake_server, providers):
    def make(kind: str, tenant: str = TENANT, **overrides: Any):
        values: dict[str, Any] = {
            "name": f"{kind}-e2e",
            "base_url": fake_server.base_url(FLAVOR[kind], tenant=tenant),
            "timeout_s": 5.0,
            "connect_timeout_s": 2.0,
        }
        values.update(overrides)
        return providers.get(spec(kind, **values))

    return make


def request(kind: str, **overrides: Any):
    return chat(PROMPT, model=MODEL[kind], **overrides)


async def acollect(provider, req) -> list:
    return [c async for c in provider.astream(req)]


def collect(provider, req, mode: str) -> list:
    if mode == "sync":
        return list(provider.stream(req))
    return asyncio.run(acollect(provider, req))


def call(provider, req, mode: str):
    return provider.complete(req) if mode == "sync" else asyncio.run(provider.acomplete(req))


# -- success paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_complete(fake_server, build, kind, mode):
    fake_server.set_reply(TENANT, text=REPLY_TEXT)
    fake_server.require_key(TENANT, "sk-test-abc123")
    completion = call(build(kind), request(kind, max_tokens=100), mode)

    assert completion.text == REPLY_TEXT
    assert completion.finish_reason == "stop"
    assert completion.model == MODEL[kind]
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 9, 16)
    assert completion.request_id
    sent = fake_server.requests(TENANT)[-1]
    assert sent.json["model"] == MODEL[kind]
    if kind == "openrouter":
        assert completion.upstream_provider == "FakeUpstream"
        assert completion.reported_cost == Decimal(str(fake_cost(7, 9)))
    if kind == "anthropic":
        assert sent.json["max_tokens"] == 100
        assert sent.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_stream_matches_complete(fake_server, build, kind, mode):
    fake_server.set_reply(TENANT, text=REPLY_TEXT, chunks=4)
    provider = build(kind)
    whole = provider.complete(request(kind))
    *texts, final = collect(provider, request(kind), mode)

    assert len(texts) == 4
    assert "".join(c.text for c in texts) == whole.text == REPLY_TEXT
    assert final.final
    assert final.usage == whole.usage
    assert final.finish_reason == whole.finish_reason == "stop"
    assert final.model == whole.model
    assert final.request_id
    assert final.reported_cost == whole.reported_cost
    assert final.upstream_provider == whole.upstream_provider


def test_all_providers_stream_the_same_text_and_usage(fake_server, build):
    fake_server.set_reply(TENANT, text=REPLY_TEXT, chunks=3)
    results = []
    for kind in KINDS:
        *texts, final = list(build(kind).stream(request(kind)))
        results.append(("".join(c.text for c in texts), final.usage, final.finish_reason))
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_tool_calls_complete_and_stream(fake_server, build, kind, mode):
    fake_server.set_reply(TENANT, tool_call={"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}})
    provider = build(kind)
    req = request(kind, tools=(WEATHER,), tool_choice="auto")

    completion = call(provider, req, mode)
    assert completion.finish_reason == "tool_calls"
    [tool_call] = completion.tool_calls
    assert tool_call.name == "get_weather"
    assert tool_call.id
    assert tool_call.parsed_arguments() == {"city": "Oslo", "days": 3}

    final = collect(provider, req, mode)[-1]
    assert final.finish_reason == "tool_calls"
    assert [(c.name, c.parsed_arguments()) for c in final.tool_calls] == [
        ("get_weather", {"city": "Oslo", "days": 3})
    ]
    assert final.usage == completion.usage


@pytest.mark.parametrize("kind", KINDS)
def test_tool_result_round_trip_is_accepted(fake_server, build, kind):
    fake_server.set_reply(TENANT, text="It is 3 degrees in Oslo.")
    first = build(kind)
    fake_server.set_reply(TENANT, tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    asked = first.complete(request(kind, tools=(WEATHER,)))
    fake_server.set_reply(TENANT, text="It is 3 degrees in Oslo.")
    messages = (
        Message(role="system", content="Be brief."),
        Message(role="user", content=PROMPT),
        Message(role="assistant", content=None, tool_calls=asked.tool_calls),
        Message(role="tool", content="3C", tool_call_id=asked.tool_calls[0].id),
    )
    answer = first.complete(request(kind, messages=messages))
    assert answer.text == "It is 3 degrees in Oslo."


def test_connections_are_pooled_and_reused(fake_server, build):
    provider = build("openai")
    provider.complete(request("openai"))
    before = fake_server.connections_opened
    for _ in range(5):
        provider.complete(request("openai"))
        list(provider.stream(request("openai")))
    assert fake_server.connections_opened == before


def test_async_calls_work_from_successive_event_loops(fake_server, build):
    provider = build("anthropic")
    for _ in range(3):
        assert asyncio.run(provider.acomplete(request("anthropic"))).text == "Hello from e2e."
    assert provider.clients.async_clients() <= 1


def test_models_and_check(fake_server, build):
    assert [m["id"] for m in build("openai").list_models()]
    assert build("openai").check()["ok"] is True
    assert build("anthropic").check()["ok"] is True
    assert build("anthropic").list_models()
    catalog = build("openrouter").list_models()
    priced = next(m for m in catalog if m["id"] == "fake/priced-model")
    assert set(priced["pricing"]) >= {"prompt", "completion"}
    facts = build("openrouter").check()
    assert facts["ok"] is True
    assert facts["limit_remaining"] == 74.5
    assert "label" not in facts
    assert fake_server.count(TENANT, "/key") == 1


# -- faults -----------------------------------------------------------------------------------------

ANY = ("openai", "openai_compatible", "anthropic", "openrouter")
# (kinds, fault, expected class, extra checks)
FAULTS = [
    (ANY, Fault(status=400), BadRequest, {"retryable": False}),
    (ANY, Fault(status=401), AuthenticationError, {"status": 401}),
    (("anthropic", "openrouter"), Fault(status=402), InsufficientCredits, {"retryable": False}),
    (ANY, Fault(status=403), PermissionDenied, {}),
    (ANY, Fault(status=404), ModelNotFound, {}),
    (ANY, Fault(status=408), ProviderUnavailable, {"retryable": True}),
    (ANY, Fault(status=429, headers={"retry-after": "2"}), RateLimited, {"retry_after": 2.0}),
    (("openai",), Fault(status=429, code="insufficient_quota"), InsufficientCredits, {"retryable": False}),
    (
        ("openai",),
        Fault(status=400, code="context_length_exceeded"),
        ContextLengthExceeded,
        {"failover": True},
    ),
    (ANY, Fault(status=500), ProviderUnavailable, {"retryable": True}),
    (ANY, Fault(status=502), ProviderUnavailable, {}),
    (ANY, Fault(status=503, headers={"retry-after-ms": "1500"}), ProviderUnavailable, {"retry_after": 1.5}),
    (ANY, Fault(status=504), ProviderUnavailable, {}),
    (("openrouter",), Fault(status=524), ProviderUnavailable, {}),
    (("anthropic", "openrouter"), Fault(status=529), ProviderUnavailable, {"status": 529}),
    (ANY, Fault(status=503, headers={"x-should-retry": "false"}), ProviderUnavailable, {"retryable": False}),
    (ANY, Fault(drop=True), ProviderUnavailable, {"retryable": True}),
    (ANY, Fault(html=True, status=502), ProviderUnavailable, {"message_has": "HTML page"}),
    (ANY, Fault(html=True, status=401), AuthenticationError, {"message_has": "HTML page"}),
    (ANY, Fault(malformed=True), InvalidResponse, {"retryable": True}),
    (ANY, Fault(status=302, headers={"location": "https://sso.example.net/login"}), InvalidResponse, {}),
]
FAULT_CASES = [
    pytest.param(kind, fault, expected, checks, id=f"{kind}-{i}")
    for i, (kinds, fault, expected, checks) in enumerate(FAULTS)
    for kind in kinds
]


def _check_error(error: ProviderError, kind: str, expected: type, checks: dict[str, Any]) -> None:
    assert type(error) is expected
    assert error.provider == f"{kind}-e2e"
    for name, value in checks.items():
        if name == "message_has":
            assert value in str(error)
        else:
            assert getattr(error, name) == value, name


@pytest.mark.parametrize(("kind", "fault", "expected", "checks"), FAULT_CASES)
def test_fault_arrives_as_typed_error(fake_server, build, kind, fault, expected, checks):
    fake_server.script(TENANT, fault)
    with pytest.raises(ProviderError) as caught:
        build(kind).complete(request(kind))
    _check_error(caught.value, kind, expected, checks)


@pytest.mark.parametrize(("kind", "fault", "expected", "checks"), FAULT_CASES[::3])
def test_fault_arrives_as_typed_error_async_and_streaming(fake_server, build, kind, fault, expected, checks):
    provider = build(kind)
    fake_server.script(TENANT, fault, fault)
    with pytest.raises(ProviderError) as caught:
        asyncio.run(provider.acomplete(request(kind)))
    _check_error(caught.value, kind, expected, checks)
    with pytest.raises(ProviderError) as caught:
        list(provider.stream(request(kind)))
    _check_error(caught.value, kind, expected, checks)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_key_is_authentication_error(fake_server, build, kind):
    fake_server.require_key(TENANT, "sk-test-the-right-one")
    with pytest.raises(AuthenticationError):
        build(kind).complete(request(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_slow_reply_is_provider_timeout(fake_server, build, kind):
    fake_server.script(TENANT, Fault(delay_s=1.0))
    with pytest.raises(ProviderTimeout):
        build(kind, timeout_s=0.2).complete(request(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_refused_connection_is_provider_unavailable(build, kind):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = {"openai": "/v1", "openai_compatible": "/v1", "anthropic": "", "openrouter": "/api/v1"}[kind]
    with pytest.raises(ProviderUnavailable, match="could not connect"):
        build(kind, base_url=f"http://127.0.0.1:{port}{base}").complete(request(kind))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_stream_cut_raises_invalid_response_after_the_chunks(fake_server, build, kind, mode):
    fake_server.set_reply(TENANT, text=REPLY_TEXT, chunks=5)
    fake_server.script(TENANT, Fault(stream_cut_after=2))
    provider = build(kind)
    seen: list[str] = []

    async def consume():
        async for chunk in provider.astream(request(kind)):
            seen.append(chunk.text)

    with pytest.raises(InvalidResponse, match="end marker"):
        if mode == "sync":
            for chunk in provider.stream(request(kind)):
                seen.append(chunk.text)
        else:
            asyncio.run(consume())
    assert len(seen) == 2
    assert REPLY_TEXT.startswith("".join(seen))


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("openai", None, ProviderUnavailable),
        ("openai_compatible", None, ProviderUnavailable),
        ("anthropic", None, ProviderUnavailable),
        ("openrouter", None, ProviderUnavailable),
        ("openai", 429, RateLimited),
        ("anthropic", 429, RateLimited),
        ("openrouter", 429, RateLimited),
        ("anthropic", 401, AuthenticationError),
        ("openrouter", 402, InsufficientCredits),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_in_band_stream_error_raises_mapped_error(fake_server, build, kind, status, expected, mode):
    fake_server.set_reply(TENANT, text=REPLY_TEXT, chunks=5)
    fake_server.script(TENANT, Fault(stream_error_after=3, status=status))
    provider = build(kind)
    with pytest.raises(expected) as caught:
        chunks = collect(provider, request(kind), mode)
        pytest.fail(f"no error, got {chunks}")
    if kind == "anthropic" and status is None:
        assert caught.value.status == 529


def test_the_same_fault_script_serves_sequential_calls(fake_server, build):
    fake_server.script(TENANT, Fault(status=503), Fault(status=429, headers={"retry-after": "1"}))
    provider = build("openai")
    with pytest.raises(ProviderUnavailable):
        provider.complete(request("openai"))
    with pytest.raises(RateLimited):
        provider.complete(request("openai"))
    assert provider.complete(request("openai")).text == "Hello from e2e."
    assert fake_server.count(TENANT, "/chat/completions") == 3


# -- no key anywhere, through the real stack --------------------------------------------------------


def test_canary_key_never_appears_in_errors_reprs_or_debug_logs(fake_server, build, caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.require_key(TENANT, "sk-test-something-else")
    seen = []
    for kind in KINDS:
        provider = build(kind, api_key=CANARY_KEY)
        for fault in (None, Fault(status=500), Fault(drop=True), Fault(stream_error_after=1, status=429)):
            if fault is not None:
                fake_server.script(TENANT, fault)
            with pytest.raises(ProviderError) as caught:
                list(provider.stream(request(kind)))
            seen.append(caught.value)
        assert CANARY_KEY not in repr(provider)
        assert CANARY_KEY not in repr(provider.spec)
    fake_server.require_key(TENANT, CANARY_KEY)
    for kind in KINDS:
        assert build(kind, api_key=CANARY_KEY).complete(request(kind)).text
    assert len(seen) == 16
    for error in seen:
        assert CANARY_KEY not in f"{error} {error!r} {error.message} {vars(error)}"
    assert any(r.name.startswith("httpcore") for r in caplog.records), (
        "httpcore DEBUG lines were not captured"
    )
    assert CANARY_KEY not in caplog.text
