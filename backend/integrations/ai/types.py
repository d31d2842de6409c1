"""Value objects that cross the registry's layers.

Every class here is a frozen, slotted dataclass: safe to share between threads and asyncio tasks,
hashable where its fields are, and derived with `dataclasses.replace()`. Providers turn a
`ChatRequest` into wire JSON and wire replies into `Completion` or `StreamChunk`; the router and
the facade add routing facts (provider row name, attempts, latency, cost) on the way out.

Finish reasons use one vocabulary across providers (`FINISH_REASONS`): `stop`, `length`,
`tool_calls`, `content_filter`, `error`, `other`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

FINISH_REASONS: Final = frozenset({"stop", "length", "tool_calls", "content_filter", "error", "other"})
ROLES: Final = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A function call the model asked for. `arguments` is the raw JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str = ""

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON; raises `ValueError` when the model wrote invalid JSON."""
        import json

        return json.loads(self.arguments or "{}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One chat turn. `tool_calls` on an assistant turn, `tool_call_id` on a tool result."""

    role: str
    content: str | None = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Unknown message role {self.role!r}: use one of {sorted(ROLES)}.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build from the OpenAI-style dict the facade accepts (`{"role": ..., "content": ...}`)."""
        calls = tuple(
            ToolCall(
                id=c["id"],
                name=c.get("function", c).get("name", ""),
                arguments=c.get("function", c).get("arguments", ""),
            )
            for c in data.get("tool_calls") or ()
        )
        return cls(
            role=data["role"],
            content=data.get("content"),
            name=data.get("name"),
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    """A function the model may call; `parameters` is a JSON schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A provider-neutral chat request.

    `response_format` follows OpenAI's shape: `{"type": "json_object"}` or
    `{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`. `tool_choice` is
    `"auto"`, `"none"`, `"required"` or a tool name. `extra` holds provider-specific body fields
    passed through untouched (OpenRouter's `models` and `provider`, for instance).
    """

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    response_format: Mapping[str, Any] | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts. `prompt_tokens` includes cached tokens; `completion_tokens` includes reasoning."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """A finished reply.

    A provider fills the wire facts (`text`, `model` as served, `usage`, `finish_reason`,
    `tool_calls`, `request_id`, `reported_cost`); the router adds `provider` (the Provider row's
    name), `cost`, `cost_source`, `latency_ms` and `attempts`. `upstream_provider` names the
    upstream that served an OpenRouter call; `alternatives` holds the texts of the choices after
    the first when a request asked for several (`n` > 1).
    """

    text: str
    model: str = ""
    provider: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    request_id: str | None = None
    reported_cost: Decimal | None = None
    cost: Decimal | None = None
    cost_source: str = "unknown"
    latency_ms: float = 0.0
    attempts: int = 1
    upstream_provider: str | None = None
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamChunk:
    """A piece of a streamed reply. Only the last chunk (`final=True`) carries the closing facts.

    The final chunk's `tool_calls`, `refusal`, `upstream_provider` and `alternatives` mean what the
    same fields of `Completion` mean.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    final: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    provider: str = ""
    model: str = ""
    request_id: str | None = None
    reported_cost: Decimal | None = None
    cost: Decimal | None = None
    latency_ms: float = 0.0
    attempts: int = 1
    refusal: str | None = None
    upstream_provider: str | None = None
    alternatives: tuple[str, ...] = ()
