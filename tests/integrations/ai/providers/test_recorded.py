"""Replay every recorded provider body (tests/fixtures/recorded/) through the matching parser.

Each body is served byte for byte by respx and read through the provider's public methods; the
assertions are the facts tests/fixtures/recorded/README.md lists for that file. The malformed
captures must not crash: they end in the documented graceful result.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from backend.integrations.ai.types import ToolCall

from .conftest import ANTHROPIC_URL, OPENAI_URL, RECORDED, chat

SF = '{"city":"San Francisco","temperature":%s,"units":"f"}'


@dataclass(frozen=True)
class Facts:
    text: str = ""
    finish: str = "stop"
    usage: tuple[int, int, int] = (0, 0, 0)  # prompt, completion, total
    model: str | None = None
    deltas: list[str] | None = None  # the exact text chunks, when the README lists them
    delta_count: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_args: tuple[Any, ...] = ()  # parsed arguments per call (None: must not parse)
    refusal: str | None = None
    alternatives: tuple[str, ...] = ()
    request_id: str | None = None
    extra_usage: dict[str, int] = field(default_factory=dict)


OPENAI: dict[str, Facts] = {
    "chat_text.json": Facts(
        text=(
            "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, "
            "I recommend checking a reliable weather website or app like the Weather Channel or a local news "
            "station."
        ),
        usage=(14, 37, 51),
        model="gpt-4o-2024-08-06",
        request_id="chatcmpl-ABfvaueLEMLNYbT8YzpJxsmiQ6HSY",
        extra_usage={"reasoning_tokens": 0},
    ),
    "chat_n3_choices.json": Facts(text=SF % 64, usage=(79, 44, 123), alternatives=(SF % 65, SF % "63.0")),
    "chat_parallel_tool_calls.json": Facts(
        finish="tool_calls",
        usage=(149, 60, 209),
        tool_calls=(
            ToolCall(
                id="call_fdNz3vOBKYgOIpMdWotB9MjY",
                name="GetWeatherArgs",
                arguments='{"city": "Edinburgh", "country": "GB", "units": "c"}',
            ),
            ToolCall(
                id="call_h1DWI1POMJLb0KwIyQHWXD4p",
                name="get_stock_price",
                arguments='{"ticker": "AAPL", "exchange": "NASDAQ"}',
            ),
        ),
    ),
    "chat_refusal.json": Facts(refusal="I'm very sorry, but I can't assist with that.", usage=(79, 12, 91)),
    "chat_finish_length.json": Facts(text='{"', finish="length", usage=(79, 1, 80)),
    "chat_stream_text_with_usage.sse": Facts(
        text=(
            "I'm unable to provide real-time updates, including current weather information. For the latest "
            "weather in San Francisco, I recommend checking a reliable weather website or app such as the "
            "Weather Channel, BBC Weather, or a local San Francisco news station."
        ),
        delta_count=47,
        usage=(14, 47, 61),
    ),
    "chat_stream_tool_call.sse": Facts(
        finish="tool_calls",
        usage=(44, 16, 60),
        tool_calls=(ToolCall(id="call_5uxEBMFySqqQGu02I5QHA8k6", name="get_weather", arguments=""),),
        tool_args=({"city": "New York City"},),
        delta_count=0,
    ),
    "chat_stream_parallel_tool_calls.sse": Facts(
        finish="tool_calls",
        usage=(149, 60, 209),
        model="gpt-4o-so",
        tool_calls=(
            ToolCall(id="call_g4Q1vRbE0CaHGOs5if8mHsBq", name="GetWeatherArgs", arguments=""),
            ToolCall(id="call_gWj3HQxZEHnFvyJLEHIiJKBV", name="get_stock_price", arguments=""),
        ),
        tool_args=(
            {"city": "Edinburgh", "country": "UK", "units": "c"},
            {"ticker": "AAPL", "exchange": "NASDAQ"},
        ),
    ),
    "chat_stream_refusal.sse": Facts(
        text="", refusal="I'm sorry, but I can't assist with that request.", usage=(17, 12, 29), delta_count=0
    ),
    "chat_stream_logprobs.sse": Facts(text="Foo.", usage=(9, 2, 11), deltas=["Foo", "."]),
    "chat_stream_finish_length.sse": Facts(text='{"', finish="length", usage=(17, 1, 18)),
    "chat_stream_n3_interleaved.sse": Facts(
        text=SF % 60,
        usage=(79, 42, 121),
        alternatives=(SF % 64, SF % 68),
        extra_usage={"reasoning_tokens": 0},
    ),
}

WEATHER_TEXT = "I'll check the current weather in Paris for you."
TAX_TEXT = (
    "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called "
    "taxes.txt. Let me do that for you now."
)
PARIS = ToolCall(id="toolu_01NRLabsLyVHZPKxbKvkfSMn", name="get_weather", arguments="")

ANTHROPIC: dict[str, Facts] = {
    "text_basic.sse": Facts(
        text="Hello there!", deltas=["Hello", " there", "!"], usage=(11, 6, 17), model="claude-3-opus-latest"
    ),
    "tool_use_streamed.sse": Facts(
        text=WEATHER_TEXT,
        finish="tool_calls",
        usage=(377, 65, 442),
        model="claude-sonnet-4-20250514",
        tool_calls=(PARIS,),
        tool_args=({"location": "Paris"},),
        extra_usage={"cached_tokens": 0, "cache_write_tokens": 0},
    ),
    "tool_use_invalid_json.sse": Facts(
        text=WEATHER_TEXT,
        finish="tool_calls",
        usage=(377, 65, 442),
        tool_calls=(PARIS,),
        tool_args=(None,),
    ),
    "max_tokens_truncated_tool_json.sse": Facts(
        text=TAX_TEXT,
        finish="length",
        usage=(450, 124, 574),
        model="claude-3-7-sonnet-20250219",
        tool_calls=(ToolCall(id="toolu_01EKqbqmZrGRXy18eN7m9kvY", name="make_file", arguments=""),),
        tool_args=(None,),
    ),
    "refusal_stop_details.sse": Facts(
        text="",
        finish="content_filter",
        usage=(20, 120, 140),
        model="claude-opus-4-7",
        refusal="This request was refused due to policy.",
        delta_count=0,
        extra_usage={"reasoning_tokens": 67},
    ),
    "usage_only_in_message_delta.sse": Facts(
        text="hi", usage=(19, 1, 20), extra_usage={"cached_tokens": 5, "cache_write_tokens": 3}
    ),
    "cache_usage_in_message_start.sse": Facts(
        text="Hello there!",
        deltas=["Hello there!"],
        usage=(40, 8, 48),
        model="claude-sonnet-4-5",
        extra_usage={"cached_tokens": 5, "cache_write_tokens": 10},
    ),
    "unknown_extra_fields.sse": Facts(text="Hello!", deltas=["Hello", "!"], usage=(11, 3, 14)),
    # Malformed: no index 0, no content_block_stop, no message_delta: an empty result, reason unknown.
    "out_of_order_block_index.sse": Facts(text="", finish="other", usage=(11, 1, 12), delta_count=0),
}

SOURCES = {
    **{f"openai/{name}": ("openai", facts) for name, facts in OPENAI.items()},
    **{f"anthropic/{name}": ("anthropic", facts) for name, facts in ANTHROPIC.items()},
}


def test_every_recorded_file_has_facts():
    files = {
        p.relative_to(RECORDED).as_posix()
        for p in RECORDED.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert files == set(SOURCES)


def _serve(respx_mock, kind: str, body: bytes, *, stream: bool) -> None:
    url = f"{OPENAI_URL}/chat/completions" if kind == "openai" else f"{ANTHROPIC_URL}/v1/messages"
    content_type = "text/event-stream" if stream else "application/json"
    respx_mock.post(url).mock(
        return_value=httpx.Response(200, content=body, headers={"content-type": content_type})
    )


def _check_tool_calls(calls: tuple[ToolCall, ...], facts: Facts) -> None:
    assert [(c.id, c.name) for c in calls] == [(c.id, c.name) for c in facts.tool_calls]
    for call, expected, parsed in zip(
        calls, facts.tool_calls, facts.tool_args or [None] * len(calls), strict=True
    ):
        if expected.arguments:
            assert call.arguments == expected.arguments
        if parsed is None and facts.tool_args:
            with pytest.raises(ValueError):
                call.parsed_arguments()
            assert call.arguments  # the raw text is kept
        elif parsed is not None:
            assert call.parsed_arguments() == parsed


def _check(result: Any, facts: Facts) -> None:
    assert result.finish_reason == facts.finish
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == facts.usage
    for name, value in facts.extra_usage.items():
        assert getattr(usage, name) == value
    if facts.model is not None:
        assert result.model == facts.model
    assert result.refusal == facts.refusal
    assert result.alternatives == facts.alternatives
    _check_tool_calls(result.tool_calls, facts)


@pytest.mark.parametrize("path", sorted(p for p in SOURCES if p.endswith(".json")))
def test_recorded_reply(make, respx_mock, path):
    kind, facts = SOURCES[path]
    _serve(respx_mock, kind, (RECORDED / path).read_bytes(), stream=False)
    completion = make(kind).complete(chat())
    assert completion.text == facts.text
    _check(completion, facts)
    if facts.request_id:
        assert completion.request_id == facts.request_id


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("path", sorted(p for p in SOURCES if p.endswith(".sse")))
def test_recorded_stream(make, respx_mock, path, mode):
    kind, facts = SOURCES[path]
    _serve(respx_mock, kind, (RECORDED / path).read_bytes(), stream=True)
    provider = make(kind)
    if mode == "sync":
        chunks = list(provider.stream(chat()))
    else:

        async def collect():
            return [c async for c in provider.astream(chat())]

        chunks = asyncio.run(collect())
    *texts, final = chunks
    assert final.final
    assert not any(c.final for c in texts)
    assert all(c.text for c in texts)
    assert "".join(c.text for c in texts) == facts.text
    if facts.deltas is not None:
        assert [c.text for c in texts] == facts.deltas
    if facts.delta_count is not None:
        assert len(texts) == facts.delta_count
    _check(final, facts)


def test_truncated_tool_json_keeps_the_raw_prefix(make, respx_mock):
    path = "anthropic/max_tokens_truncated_tool_json.sse"
    _serve(respx_mock, "anthropic", (RECORDED / path).read_bytes(), stream=True)
    call = list(make("anthropic").stream(chat()))[-1].tool_calls[0]
    assert call.arguments.startswith(
        '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE'
    )
    assert call.arguments.endswith('\n"Filing taxes')


def test_invalid_tool_json_is_kept_verbatim(make, respx_mock):
    path = "anthropic/tool_use_invalid_json.sse"
    _serve(respx_mock, "anthropic", (RECORDED / path).read_bytes(), stream=True)
    call = list(make("anthropic").stream(chat()))[-1].tool_calls[0]
    assert call.arguments == '{"location": "Paris", "unit": celsius}'


def test_recorded_json_bodies_are_valid_json():
    for path in SOURCES:
        if path.endswith(".json"):
            assert isinstance(json.loads((RECORDED / path).read_bytes()), dict)
