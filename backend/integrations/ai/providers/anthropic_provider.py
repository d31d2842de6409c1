"""Anthropic's Messages API (reference §3).

System turns become the top-level `system` field, `max_tokens` is always sent (the API requires
it), temperature is clamped to Anthropic's 0–1, tools travel as `input_schema`/`tool_use`/
`tool_result` blocks, and JSON mode is a forced tool whose `input` is the answer. Streams are
typed events ending in `message_stop`; `message_delta` usage is cumulative and replaces what
`message_start` said key by key, and an in-band `event: error` raises the error its type usually
comes with (`overloaded_error` is a 529 `ProviderUnavailable`, not a 200).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ProviderError
from ..types import ChatRequest, Completion, Message, StreamChunk, ToolCall, Usage
from ._client import HTTPProvider
from ._http import (
    PARSE_ERRORS,
    anthropic_reset_delay,
    as_int,
    error_from_event,
    header_value,
    json_text,
)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL_NAME = "json_response"
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "other",
}
_TOOL_CHOICES: dict[str, dict[str, str]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "any": {"type": "any"},
    "none": {"type": "none"},
}


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """Anthropic usage: prompt = input + cache writes + cache reads (input_tokens excludes both)."""
    written = as_int(raw.get("cache_creation_input_tokens"))
    read = as_int(raw.get("cache_read_input_tokens"))
    prompt = as_int(raw.get("input_tokens")) + written + read
    output = as_int(raw.get("output_tokens"))
    details = raw.get("output_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=prompt + output,
        cached_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=as_int(details.get("thinking_tokens")),
    )


def normalize_finish(stop_reason: str | None, json_answer: bool = False) -> str:
    finish = _FINISH.get(stop_reason, "other") if stop_reason else "other"
    # In JSON mode the forced tool call *is* the answer: it ended normally.
    return "stop" if json_answer and finish == "tool_calls" else finish


def refusal_text(stop_reason: str | None, details: Any) -> str | None:
    if stop_reason != "refusal":
        return None
    explanation = details.get("explanation") if isinstance(details, Mapping) else None
    return explanation or "The model declined to answer (stop_reason refusal)."


def json_tool(request: ChatRequest) -> tuple[str, dict[str, Any]] | None:
    """The forced tool standing in for `response_format` (Anthropic has none): name and schema."""
    fmt = request.response_format
    if not fmt or fmt.get("type") not in ("json_object", "json_schema"):
        return None
    spec = fmt.get("json_schema") or {}
    name = spec.get("name") if isinstance(spec.get("name"), str) else ""
    schema = spec.get("schema") if isinstance(spec.get("schema"), Mapping) else None
    return (
        name if _TOOL_NAME.fullmatch(name or "") else JSON_TOOL_NAME,
        dict(schema) if schema else {"type": "object", "additionalProperties": True},
    )


def _tool_input(arguments: str) -> Any:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_tool_results(message: Mapping[str, Any]) -> bool:
    content = message["content"]
    return message["role"] == "user" and isinstance(content, list) and content[0].get("type") == "tool_result"


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments)}
        for c in message.tool_calls
    )
    return blocks


def split_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """System text for the top-level field, and the turns as Anthropic blocks."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.role
        if role == "system":
            if message.content:
                system.append(message.content)
        elif role == "tool":
            # Every result for one assistant turn goes back in a single user turn.
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or "",
            }
            if turns and _is_tool_results(turns[-1]):
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        elif role == "assistant" and message.tool_calls:
            turns.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            turns.append({"role": role, "content": message.content or ""})
    return "\n\n".join(system), turns


def _tools(request: ChatRequest, forced_json: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tools = []
    for tool in request.tools:
        entry: dict[str, Any] = {"name": tool.name, "input_schema": dict(tool.parameters)}
        if tool.description:
            entry["description"] = tool.description
        tools.append(entry)
    choice = request.tool_choice
    if tools and choice:
        out["tool_choice"] = _TOOL_CHOICES.get(choice) or {"type": "tool", "name": choice}
    if forced_json is not None:
        name, schema = forced_json
        tools.append(
            {
                "name": name,
                "description": "Give the answer as JSON matching this schema.",
                "input_schema": schema,
            }
        )
        if not request.tools:
            out["tool_choice"] = {"type": "tool", "name": name}
    if tools:
        out["tools"] = tools
    return out


class AnthropicProvider(HTTPProvider):
    """Anthropic Messages over `/v1/messages` (the base URL has no `/v1`, as in the official SDK)."""

    chat_path = "/v1/messages"
    models_path = "/v1/models"
    end_marker = "message_stop"
    reset_delay = staticmethod(anthropic_reset_delay)

    def _configure(self) -> None:
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[:-3]

    def _build_headers(self) -> dict[str, str | bytes]:
        headers: dict[str, str | bytes] = {"anthropic-version": ANTHROPIC_VERSION}
        key = self.spec.api_key.strip()
        if key:
            headers["x-api-key"] = key
        beta = self.spec.option("anthropic_beta")
        if beta:
            headers["anthropic-beta"] = beta
        for name, value in self.spec.extra_headers:
            headers[name] = header_value(value)
        return headers

    def _build_payload(self, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
        system, turns = split_messages(request.messages)
        payload: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            payload["system"] = system
        if request.temperature is not None:
            payload["temperature"] = min(1.0, max(0.0, float(request.temperature)))
        if request.top_p is not None:
            payload["top_p"] = request.top_p
        if request.stop:
            payload["stop_sequences"] = list(request.stop)
        if request.user:
            payload["metadata"] = {"user_id": request.user}
        if request.tools or request.response_format:
            payload.update(_tools(request, json_tool(request)))
        if stream:
            payload["stream"] = True
        if request.extra:
            payload.update(request.extra)
        return payload

    def _event_error(self, data: Mapping[str, Any], request_id: str | None) -> ProviderError:
        spec = self.spec
        return error_from_event(data, provider=spec.name, secret=spec.api_key, request_id=request_id)

    def _parse_completion(
        self, data: Mapping[str, Any], headers: Mapping[str, str], request: ChatRequest
    ) -> Completion:
        request_id = headers.get("request-id") or data.get("id")
        if data.get("type") == "error":
            raise self._event_error(data, request_id)
        forced = json_tool(request)
        texts: list[str] = []
        calls: list[ToolCall] = []
        answer: str | None = None
        for block in data["content"]:
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "tool_use":
                arguments = json_text(block.get("input") or {})
                if forced is not None and block.get("name") == forced[0]:
                    answer = arguments
                else:
                    calls.append(
                        ToolCall(id=block.get("id") or "", name=block.get("name") or "", arguments=arguments)
                    )
        stop = data.get("stop_reason")
        return Completion(
            text=answer if answer is not None else "".join(texts),
            model=data.get("model") or request.model,
            usage=parse_usage(data.get("usage") or {}),
            finish_reason=normalize_finish(stop, answer is not None),
            tool_calls=tuple(calls),
            refusal=refusal_text(stop, data.get("stop_details")),
            request_id=request_id,
        )

    def _stream_state(self, request: ChatRequest, headers: Mapping[str, str]) -> AnthropicStream:
        return AnthropicStream(self, request, headers)

    def list_models(self) -> list[dict[str, Any]]:
        """Every model, following `has_more`/`last_id` pages (at most 50 pages of 1000)."""
        models: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1000}
        for _ in range(50):
            data = self._get_json(self._url(self.models_path, params))
            page = self._models_from(data)
            models.extend(page)
            if not data.get("has_more") or not page or not data.get("last_id"):
                break
            params = {"limit": 1000, "after_id": data["last_id"]}
        return models

    def check(self) -> dict[str, Any]:
        models = self._models_from(self._get_json(self._url(self.models_path, {"limit": 1})))
        return {"ok": True, "latest_model": models[0].get("id") if models else None}


class AnthropicStream:
    """Accumulates one Messages stream: blocks by index, usage merged key by key, stop reason last."""

    __slots__ = (
        "_blocks",
        "_id",
        "_json_name",
        "_model",
        "_provider",
        "_request",
        "_request_id",
        "_stop",
        "_stop_details",
        "_usage",
        "done",
    )

    def __init__(self, provider: AnthropicProvider, request: ChatRequest, headers: Mapping[str, str]) -> None:
        self._provider = provider
        self._request = request
        forced = json_tool(request) if request.response_format else None
        self._json_name = forced[0] if forced else None
        self._request_id: str | None = headers.get("request-id")
        self._id: str | None = None
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None
        self._stop_details: Any = None
        # Tool-use blocks, index -> [id, name, argument parts]; a dict, since indexes can arrive
        # out of order or with gaps. Text blocks need no state: their deltas go straight out.
        self._blocks: dict[int, list[Any]] = {}
        self.done = False

    def feed(self, event: str, data: str) -> str | None:
        try:
            payload = json.loads(data)
            if not isinstance(payload, dict):
                raise TypeError("a stream event that is not a JSON object")
            return self._take(payload.get("type") or event, payload)
        except PARSE_ERRORS as exc:
            raise self._provider._invalid(
                f"sent a malformed stream event ({type(exc).__name__}: {str(exc)[:120]})"
            ) from exc

    def _take(self, kind: str, payload: dict[str, Any]) -> str | None:
        if kind == "content_block_delta":
            return self._delta(payload["index"], payload.get("delta") or {})
        if kind == "content_block_start":
            return self._start_block(payload["index"], payload.get("content_block") or {})
        if kind == "message_start":
            message = payload.get("message") or {}
            self._id = message.get("id")
            self._model = message.get("model") or ""
            self._merge_usage(message.get("usage"))
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            self._stop = delta.get("stop_reason") or self._stop
            self._stop_details = delta.get("stop_details") or self._stop_details
            self._merge_usage(payload.get("usage"))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise self._provider._event_error(payload, self._request_id or self._id)
        # ping, content_block_stop and event types added after this code was written are ignored.
        return None

    def _merge_usage(self, usage: Mapping[str, Any] | None) -> None:
        # Cumulative: each key present replaces the earlier value; absent keys keep theirs.
        if usage:
            self._usage.update((k, v) for k, v in usage.items() if v is not None)

    def _start_block(self, index: int, block: Mapping[str, Any]) -> str | None:
        kind = block.get("type")
        if kind == "text":
            return block.get("text") or None
        if kind == "tool_use":
            start = block.get("input")
            parts = [json.dumps(start, ensure_ascii=False)] if start else []
            self._blocks[index] = [block.get("id") or "", block.get("name") or "", parts]
        return None

    def _delta(self, index: int, delta: Mapping[str, Any]) -> str | None:
        kind = delta.get("type")
        if kind == "text_delta":
            return delta.get("text") or None
        if kind == "input_json_delta":
            partial = delta.get("partial_json") or ""
            block = self._blocks.setdefault(index, ["", "", []])
            block[2].append(partial)
            # In JSON mode the forced tool's input is the answer, so it streams as text.
            if partial and self._json_name is not None and block[1] == self._json_name:
                return partial
        return None

    def finish(self) -> StreamChunk:
        if not self.done:
            raise self._provider._invalid(
                "the stream ended before its end marker (message_stop); the reply is cut"
            )
        calls: list[ToolCall] = []
        answer = False
        for _, (call_id, name, parts) in sorted(self._blocks.items()):
            if self._json_name is not None and name == self._json_name:
                answer = True
                continue
            # A cut or invalid argument text stays as the model wrote it; parsing is the caller's call.
            calls.append(ToolCall(id=call_id, name=name, arguments="".join(parts) or "{}"))
        return StreamChunk(
            final=True,
            usage=parse_usage(self._usage) if self._usage else None,
            finish_reason=normalize_finish(self._stop, answer),
            model=self._model or self._request.model,
            request_id=self._request_id or self._id,
            tool_calls=tuple(calls),
            refusal=refusal_text(self._stop, self._stop_details),
        )
