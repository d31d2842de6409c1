"""Helpers shared by the provider tests: specs, a closing provider builder, SSE bodies, requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.integrations.ai.providers.base import AIProvider, ProviderSpec
from backend.integrations.ai.providers.factory import ProviderFactory
from backend.integrations.ai.types import ChatRequest, Message, Tool

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "recorded"
CANARY_KEY = "sk-canary-Zx81Qq0p5LmN3vB7"

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
COMPAT_URL = "http://127.0.0.1:11434/v1"

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def spec(kind: str, **overrides: Any) -> ProviderSpec:
    defaults: dict[str, Any] = {
        "openai": {"name": "openai-main", "base_url": ""},
        "openai_compatible": {"name": "ollama", "base_url": COMPAT_URL},
        "anthropic": {"name": "claude", "base_url": ""},
        "openrouter": {"name": "router", "base_url": ""},
    }[kind]
    values = {"kind": kind, "api_key": "sk-test-abc123", **defaults, **overrides}
    return ProviderSpec(**values)


def chat(text: str = "Hello", **overrides: Any) -> ChatRequest:
    values: dict[str, Any] = {"model": "gpt-4o-mini", "messages": (Message(role="user", content=text),)}
    values.update(overrides)
    return ChatRequest(**values)


def sse(*events: Any, done: bool = True) -> bytes:
    """An OpenAI-style SSE body: each event a dict (JSON) or a raw string line block."""
    out = []
    for event in events:
        out.append(event if isinstance(event, str) else f"data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def anthropic_sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def stream_response(body: bytes, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/event-stream", **headers})


def sent_json(route: Any) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content)


@pytest.fixture
def providers() -> Iterator[ProviderFactory]:
    """A private factory whose providers (and pools) are closed after the test."""
    made = ProviderFactory()
    yield made
    made.close_all()


@pytest.fixture
def make(providers: ProviderFactory):
    def build(kind: str, **overrides: Any) -> AIProvider:
        return providers.get(spec(kind, **overrides))

    return build
