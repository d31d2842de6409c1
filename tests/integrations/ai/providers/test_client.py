"""The shared HTTP provider skeleton: unsendable headers and retiring an instance whose spec changed."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import httpx
import pytest
import respx

from backend.integrations.ai.errors import AuthenticationError, ProviderError
from backend.integrations.ai.providers.factory import ProviderFactory

from .conftest import CANARY_KEY, OPENAI_URL, chat, spec

REPLY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def _frames_leak(exc: BaseException, secret: str) -> list[str]:
    """Where `secret` shows in what Django's debug page and error e-mails render for `exc`: the
    exception chain's messages and reprs, and the local variables of every frame past the test's."""
    leaks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if secret in str(current) or secret in repr(current):
            leaks.append(f"{type(current).__name__} message")
        tb = current.__traceback__
        while tb is not None:
            if "/tests/" in tb.tb_frame.f_code.co_filename:
                tb = tb.tb_next
                continue
            for name, value in list(tb.tb_frame.f_locals.items()):
                try:
                    shown = repr(value)
                except Exception:  # a repr that fails shows nothing
                    continue
                if secret in shown:
                    leaks.append(f"{tb.tb_frame.f_code.co_name}:{name}")
            tb = tb.tb_next
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return leaks


def _call(provider: Any, mode: str) -> Any:
    if mode == "complete":
        return provider.complete(chat())
    if mode == "stream":
        return list(provider.stream(chat()))
    if mode == "acomplete":
        return asyncio.run(provider.acomplete(chat()))

    async def collect() -> list[Any]:
        return [c async for c in provider.astream(chat())]

    return asyncio.run(collect())


# -- a key or header value that cannot be sent ------------------------------------------------------

PASTED_KEYS = [
    pytest.param(f"{CANARY_KEY[:9]}\u200b{CANARY_KEY[9:]}", id="zero-width-space"),
    pytest.param(f"{CANARY_KEY[:9]}\u2019{CANARY_KEY[9:]}", id="smart-quote"),
    pytest.param(f"{CANARY_KEY[:9]}\x00{CANARY_KEY[9:]}", id="nul"),
    pytest.param(f"{CANARY_KEY[:9]}\n{CANARY_KEY[9:]}", id="inner-newline"),
]


@respx.mock
@pytest.mark.parametrize("mode", ["complete", "stream", "acomplete", "astream"])
@pytest.mark.parametrize("kind", ["openai", "anthropic", "openrouter"])
@pytest.mark.parametrize("key", PASTED_KEYS)
def test_a_key_that_cannot_be_sent_is_an_authentication_error_without_the_key(make, kind, mode, key):
    route = respx.route().mock(return_value=httpx.Response(200, json=REPLY))
    provider = make(kind, api_key=key)
    with pytest.raises(AuthenticationError, match="re-enter the key") as caught:
        _call(provider, mode)
    assert caught.value.provider == provider.spec.name
    assert caught.value.retryable is False
    assert not route.called
    assert _frames_leak(caught.value, CANARY_KEY[9:]) == []
    assert CANARY_KEY[9:] not in "".join(traceback.format_exception(caught.value))


@respx.mock
def test_azure_api_key_header_is_checked_too(make):
    route = respx.route().mock(return_value=httpx.Response(200, json=REPLY))
    provider = make(
        "openai_compatible",
        base_url="https://res.openai.azure.com/openai/v1",
        api_key=f"\u200b{CANARY_KEY}",
    )
    with pytest.raises(AuthenticationError) as caught:
        provider.complete(chat())
    assert not route.called
    assert _frames_leak(caught.value, CANARY_KEY) == []


@respx.mock
def test_an_unsendable_extra_header_names_the_header_not_its_value(make):
    route = respx.route().mock(return_value=httpx.Response(200, json=REPLY))
    provider = make("openai", extra_headers=(("X-Tenant", "acme\x00secret-value"),))
    with pytest.raises(ProviderError, match="X-Tenant") as caught:
        provider.complete(chat())
    assert caught.value.retryable is False
    assert "secret-value" not in str(caught.value)
    assert not route.called


@respx.mock
def test_non_ascii_extra_header_values_still_go_out_as_utf8(make):
    route = respx.post(f"{OPENAI_URL}/chat/completions").mock(return_value=httpx.Response(200, json=REPLY))
    make("openai", extra_headers=(("X-Title", "Panel — Redaktion"),)).complete(chat())
    assert (b"X-Title", "Panel — Redaktion".encode()) in route.calls.last.request.headers.raw


# -- retiring an instance whose spec changed ---------------------------------------------------------


@pytest.fixture
def e2e(fake_server):
    made = ProviderFactory()

    def get(**overrides: Any) -> Any:
        values = {"name": "main", "base_url": fake_server.base_url("openai", tenant="retire"), **overrides}
        return made.get(spec("openai", timeout_s=5.0, connect_timeout_s=2.0, **values))

    yield get
    made.close_all()


def test_a_stream_in_progress_survives_a_spec_change_and_the_old_pool_closes_after_it(fake_server, e2e):
    fake_server.set_reply("retire", text="one two three four five six", chunks=6)
    old = e2e()
    chunks = old.stream(chat())
    first = next(chunks)
    client = old.clients.sync()

    new = e2e(api_key="sk-test-rotated")

    assert new is not old
    assert not client.is_closed  # the stream on the old instance is still being read
    rest = list(chunks)
    text = first.text + "".join(c.text for c in rest)
    assert text == "one two three four five six"
    assert rest[-1].final
    assert client.is_closed


def test_an_async_stream_in_progress_survives_a_spec_change(fake_server, e2e):
    fake_server.set_reply("retire", text="alpha beta gamma delta", chunks=4)

    async def run() -> str:
        old = e2e()
        chunks = old.astream(chat())
        parts = [(await chunks.__anext__()).text]
        e2e(api_key="sk-test-rotated")
        parts += [c.text async for c in chunks]
        return "".join(parts)

    assert asyncio.run(run()) == "alpha beta gamma delta"


def test_a_call_reaching_a_retired_instance_is_served_and_leaves_no_open_pool(fake_server, e2e):
    old = e2e()
    e2e(api_key="sk-test-rotated")  # old is retired (no call in progress: closed at once)
    assert old.complete(chat()).text  # a thread that fetched `old` just before still gets its answer
    assert old.clients._sync is None or old.clients._sync.is_closed


def test_a_caller_closing_a_stream_early_releases_the_retired_instance(fake_server, e2e):
    fake_server.set_reply("retire", text="a b c d e f", chunks=6)
    old = e2e()
    chunks = old.stream(chat())
    next(chunks)
    client = old.clients.sync()
    e2e(api_key="sk-test-rotated")
    assert not client.is_closed
    chunks.close()
    assert client.is_closed
