"""The shared HTTP helpers: SSE decoding, retry hints, error-body reading and the client pool."""

from __future__ import annotations

import asyncio
import email.utils
import threading

import httpx
import pytest

from backend.integrations.ai.providers._client import ASYNC_SHARD_SIZE, ClientPool
from backend.integrations.ai.providers._http import (
    SSEDecoder,
    anthropic_reset_delay,
    error_info,
    iter_sse,
    openai_reset_delay,
    parse_duration,
    parse_retry_after,
    parse_should_retry,
    parse_timestamp_delay,
    redact,
)

from .conftest import spec

# -- SSE --------------------------------------------------------------------------------------------


def test_sse_collects_data_until_blank_line_and_keeps_event_name():
    lines = ["event: message_start", 'data: {"a": 1}', "", "data: second", ""]
    assert list(iter_sse(lines)) == [("message_start", '{"a": 1}'), ("", "second")]


def test_sse_skips_comments_and_ignores_id_and_retry():
    lines = [": OPENROUTER PROCESSING", "", "id: 7", "retry: 1000", "data: x", ":keep-alive", "", ""]
    assert list(iter_sse(lines)) == [("", "x")]


def test_sse_joins_multi_line_data_with_newlines():
    assert list(iter_sse(["data: line one", "data: line two", ""])) == [("", "line one\nline two")]


def test_sse_strips_only_one_leading_space_and_tolerates_crlf():
    assert list(iter_sse(["data:  two spaces\r", "\r"])) == [("", " two spaces")]
    assert list(iter_sse(["data:no-space", ""])) == [("", "no-space")]


def test_sse_flushes_an_event_left_open_at_the_end():
    assert list(iter_sse(["event: message_stop", 'data: {"type": "message_stop"}'])) == [
        ("message_stop", '{"type": "message_stop"}')
    ]


def test_sse_event_without_data_is_not_dispatched_and_its_name_does_not_leak():
    decoder = SSEDecoder()
    assert decoder.feed("event: ping") is None
    assert decoder.feed("") is None
    decoder.feed("data: later")
    assert decoder.feed("") == ("", "later")


def test_sse_line_without_colon_is_a_field_with_empty_value():
    assert list(iter_sse(["data", ""])) == [("", "")]


# -- retry hints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(httpx.Headers(headers)) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    headers = httpx.Headers({"retry-after": email.utils.formatdate(now + 30, usegmt=True)})
    assert parse_retry_after(headers, now=now) == pytest.approx(30, abs=1)
    past = httpx.Headers({"retry-after": email.utils.formatdate(now - 30, usegmt=True)})
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        ("20", 20.0),
        ("x", None),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_timestamp_delay():
    now = 1_700_000_000.0
    assert parse_timestamp_delay("2023-11-14T22:13:40Z", now=now) == pytest.approx(20)
    assert parse_timestamp_delay("2023-11-14T22:13:40+00:00", now=now + 100) == 0.0
    assert parse_timestamp_delay("2023-11-14T22:13:40", now=now) is None  # no timezone
    assert parse_timestamp_delay("tomorrow", now=now) is None


def test_openai_reset_prefers_the_exhausted_limit():
    headers = httpx.Headers(
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-remaining-tokens": "5000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    assert openai_reset_delay(headers) == pytest.approx(0.012)


def test_openai_reset_takes_the_longest_when_none_is_known_exhausted():
    headers = httpx.Headers({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"})
    assert openai_reset_delay(headers) == 360.0
    assert openai_reset_delay(httpx.Headers({})) is None


def test_anthropic_reset_reads_rfc3339():
    headers = httpx.Headers(
        {
            "anthropic-ratelimit-tokens-remaining": "0",
            "anthropic-ratelimit-tokens-reset": "2999-01-01T00:00:00Z",
            "anthropic-ratelimit-requests-remaining": "10",
            "anthropic-ratelimit-requests-reset": "2000-01-01T00:00:00Z",
        }
    )
    assert anthropic_reset_delay(headers) > 1e9


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("FALSE", False), ("maybe", None), (None, None)]
)
def test_parse_should_retry(value, expected):
    headers = httpx.Headers({"x-should-retry": value} if value else {})
    assert parse_should_retry(headers) is expected


# -- error bodies, redaction ------------------------------------------------------------------------


def test_error_info_reads_all_three_shapes():
    openai = error_info(
        {"error": {"message": "m", "type": "invalid_request_error", "code": "model_not_found"}}
    )
    assert (openai.message, openai.code, openai.type) == ("m", "model_not_found", "invalid_request_error")
    anthropic = error_info(
        {"type": "error", "error": {"type": "overloaded_error", "message": "o"}, "request_id": "r"}
    )
    assert (anthropic.message, anthropic.type, anthropic.request_id) == ("o", "overloaded_error", "r")
    openrouter = error_info(
        {"error": {"code": 429, "message": "x", "metadata": {"error_type": "rate_limit_exceeded"}}}
    )
    assert openrouter.code == "rate_limit_exceeded"
    assert error_info({"error": "model 'x' not found"}).message == "model 'x' not found"
    assert error_info({"detail": "Not Found"}).message == "Not Found"


def test_redact_removes_the_secret_and_key_shaped_tokens():
    text = "Incorrect API key provided: sk-proj-abcdefgh1234. Also my-secret-value here."
    cleaned = redact(text, "my-secret-value")
    assert "abcdefgh1234" not in cleaned
    assert "my-secret-value" not in cleaned
    assert "Incorrect API key provided" in cleaned


# -- client pool ------------------------------------------------------------------------------------


def test_client_pool_builds_one_sync_client_with_spec_limits_and_no_redirects():
    pool = ClientPool(spec("openai", pool_size=7, timeout_s=12.0, connect_timeout_s=2.0), {"x-a": "1"})
    try:
        client = pool.sync()
        assert pool.sync() is client
        assert client.follow_redirects is False
        assert client.timeout == httpx.Timeout(12.0, connect=2.0)
        assert client.headers["x-a"] == "1"
        assert client._transport._pool._max_connections == 7
        assert client._transport._pool._max_keepalive_connections == 7
    finally:
        pool.close()
    assert client.is_closed


def test_client_pool_sync_client_is_shared_across_threads():
    pool = ClientPool(spec("openai"), {})
    seen: list[httpx.Client] = []
    threads = [threading.Thread(target=lambda: seen.append(pool.sync())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1
    pool.close()


def test_client_pool_gives_each_event_loop_its_own_async_client():
    pool = ClientPool(spec("openai", pool_size=ASYNC_SHARD_SIZE), {})  # one shard per loop

    async def grab() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        return pool.for_running_loop(), pool.for_running_loop()

    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first_a, first_b = first_loop.run_until_complete(grab())
        first_loop.close()
        second_a, _ = second_loop.run_until_complete(grab())
        assert first_a is first_b
        assert second_a is not first_a
        assert first_a.follow_redirects is False
        # The first loop is closed: its client was dropped when the second loop asked.
        assert pool.async_clients() == 1
    finally:
        second_loop.run_until_complete(second_a.aclose())
        second_loop.close()
        pool.close()


async def test_client_pool_aclose_closes_the_running_loops_client():
    pool = ClientPool(spec("openai", pool_size=ASYNC_SHARD_SIZE), {})
    client = pool.for_running_loop()
    sync_client = pool.sync()
    await pool.aclose()
    assert client.is_closed
    assert sync_client.is_closed
    assert pool.async_clients() == 0
    assert pool.for_running_loop() is not client


async def test_client_pool_sync_close_inside_a_loop_schedules_the_async_close():
    pool = ClientPool(spec("openai"), {})
    client = pool.for_running_loop()
    pool.close()
    for _ in range(5):
        await asyncio.sleep(0)
    assert client.is_closed
