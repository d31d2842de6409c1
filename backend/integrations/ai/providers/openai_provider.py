"""OpenAI Chat Completions, and every server that speaks it (reference §2 and §8).

One class serves OpenAI itself (`kind="openai"`) and any OpenAI-compatible base URL
(`kind="openai_compatible"`): Azure OpenAI (`api-key` header, `api-version` query), Groq,
Together, Ollama, vLLM and LM Studio. Reasoning models (o1, o3, o4, gpt-5 families) take
`max_completion_tokens`, no `temperature`/`top_p`, and a `developer` turn instead of `system`.
Plain models get `max_completion_tokens` from OpenAI but `max_tokens` from compatible servers,
which often do not know the newer name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from ..errors import ProviderError
from ..types import ChatRequest, Completion, Message, StreamChunk, Tool, ToolCall, Usage
from ._client import HTTPProvider
from ._http import (
    PARSE_ERRORS,
    as_int,
    error_from_event,
    header_value,
    json_text,
    openai_reset_delay,
)

_REASONING_MODEL = re.compile(r"(?:o\d+(?:-|$)|gpt-5)")
_FINISH: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}
# Azure's classic deployment URLs require an api-version; this is a GA version they all accept.
AZURE_DEFAULT_API_VERSION = "2024-10-21"


def is_reasoning_model(model: str) -> bool:
    """True for the o-series and gpt-5 families, with or without an `openai/` style prefix."""
    return _REASONING_MODEL.match(model.rpartition("/")[2].lower()) is not None


def normalize_finish(raw: str | None, has_tool_calls: bool) -> str:
    """OpenAI's finish_reason in the one vocabulary; a forced tool call ends in `stop`, read it as a call."""
    finish = _FINISH.get(raw, "other") if raw else "other"
    return "tool_calls" if has_tool_calls and finish in ("stop", "other") else finish


def parse_usage(raw: Mapping[str, Any] | None) -> Usage:
    """OpenAI usage (prompt includes cached tokens, completion includes reasoning tokens)."""
    if not raw:
        return Usage()
    prompt = as_int(raw.get("prompt_tokens"))
    completion = as_int(raw.get("completion_tokens"))
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=as_int(raw.get("total_tokens")) or prompt + completion,
        cached_tokens=as_int(prompt_details.get("cached_tokens")),
        cache_write_tokens=as_int(prompt_details.get("cache_write_tokens")),
        reasoning_tokens=as_int(completion_details.get("reasoning_tokens")),
    )


def content_text(content: Any) -> str:
    """Message content as text: a string, None, or a list of parts (some compatible servers)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping))
    return ""


def parse_tool_calls(raw: Sequence[Mapping[str, Any]] | None) -> tuple[ToolCall, ...]:
    if not raw:
        return ()
    calls = []
    for call in raw:
        function = call.get("function") or {}
        calls.append(
            ToolCall(
                id=call.get("id") or "",
                name=function.get("name") or "",
                arguments=json_text(function.get("arguments") or ""),
            )
        )
    return tuple(calls)


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": choice}}


def _message(message: Message, system_role: str) -> dict[str, Any]:
    role = message.role
    if role == "system":
        return {"role": system_role, "content": message.content or ""}
    content = message.content if message.tool_calls else message.content or ""
    out: dict[str, Any] = {"role": role, "content": content}
    if message.name:
        out["name"] = message.name
    if role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in message.tool_calls
        ]
    return out


class OpenAIProvider(HTTPProvider):
    """OpenAI and OpenAI-compatible servers over `/chat/completions`."""

    reset_delay = staticmethod(openai_reset_delay)
    # Whether reasoning models get a `developer` turn; OpenRouter keeps `system` (it translates).
    developer_role: ClassVar[bool] = True

    def _configure(self) -> None:
        version = self.spec.option("api_version")
        self.azure = bool(version) or self.host.endswith(".openai.azure.com")
        if not version and self.azure and "/openai/deployments/" in self.base_url:
            version = AZURE_DEFAULT_API_VERSION
        self.query: dict[str, str] = {"api-version": version} if version else {}

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.URL:
        merged = {**self.query, **params} if params else self.query
        return httpx.URL(self.base_url + path, params=merged or None)

    def _build_headers(self) -> dict[str, str | bytes]:
        headers: dict[str, str | bytes] = {}
        key = self.spec.api_key.strip()
        custom = self.spec.option("api_key_header").strip().lower()
        if key:
            # Azure takes its key in `api-key`; a Bearer header there is read as an Entra ID token.
            # A gateway may name its own header (Azure API Management: Ocp-Apim-Subscription-Key).
            if custom:
                headers[custom] = key
            elif self.azure:
                headers["api-key"] = key
            else:
                headers["authorization"] = f"Bearer {key}"
        for name, value in self.spec.extra_headers:
            headers[name] = header_value(value)
        return headers

    def _max_tokens_key(self, reasoning: bool) -> str:
        return "max_completion_tokens" if reasoning or self.spec.kind == "openai" else "max_tokens"

    # -- payload -----------------------------------------------------------------------------------

    def _build_payload(self, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
        reasoning = is_reasoning_model(request.model)
        system_role = "developer" if reasoning and self.developer_role else "system"
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m, system_role) for m in request.messages],
        }
        if request.max_tokens is not None:
            payload[self._max_tokens_key(reasoning)] = request.max_tokens
        if not reasoning:
            if request.temperature is not None:
                payload["temperature"] = request.temperature
            if request.top_p is not None:
                payload["top_p"] = request.top_p
        self._add_options(payload, request)
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        if request.extra:
            payload.update(request.extra)
        return payload

    @staticmethod
    def _add_options(payload: dict[str, Any], request: ChatRequest) -> None:
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.user:
            payload["user"] = request.user
        if request.response_format is not None:
            payload["response_format"] = dict(request.response_format)
        if request.tools:
            payload["tools"] = [_tool(t) for t in request.tools]
            if request.tool_choice:
                payload["tool_choice"] = _tool_choice(request.tool_choice)

    # -- replies -----------------------------------------------------------------------------------

    def _reply_extras(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Completion fields beyond OpenAI's own; OpenRouter adds its upstream and cost."""
        return {}

    def _event_error(self, data: Mapping[str, Any], request_id: str | None) -> ProviderError:
        spec = self.spec
        return error_from_event(data, provider=spec.name, secret=spec.api_key, request_id=request_id)

    def _parse_completion(
        self, data: Mapping[str, Any], headers: Mapping[str, str], request: ChatRequest
    ) -> Completion:
        request_id = headers.get("x-request-id") or headers.get("x-generation-id") or data.get("id")
        choices = data.get("choices")
        if data.get("error") and not choices:
            raise self._event_error(data, request_id)
        if not choices:
            raise self._invalid("answered without any choice", headers=headers)
        if len(choices) > 1:
            choices = sorted(choices, key=lambda c: c.get("index", 0))
        first = choices[0]
        message = first.get("message") or {}
        tool_calls = parse_tool_calls(message.get("tool_calls"))
        finish = normalize_finish(first.get("finish_reason") or "stop", bool(tool_calls))
        if finish == "error":
            raise self._event_error({"error": first.get("error") or data.get("error") or {}}, request_id)
        return Completion(
            text=content_text(message.get("content")),
            model=data.get("model") or request.model,
            usage=parse_usage(data.get("usage")),
            finish_reason=finish,
            tool_calls=tool_calls,
            refusal=message.get("refusal") or None,
            request_id=request_id,
            alternatives=tuple(content_text((c.get("message") or {}).get("content")) for c in choices[1:]),
            **self._reply_extras(data),
        )

    def _stream_state(self, request: ChatRequest, headers: Mapping[str, str]) -> OpenAIStream:
        return OpenAIStream(self, request, headers)

    # -- models and check --------------------------------------------------------------------------

    def _models_url(self) -> httpx.URL:
        # A classic Azure base URL names one deployment, which has no models list of its own:
        # the resource lists them at /openai/models (same api-version).
        resource, marker, _ = self.base_url.partition("/openai/deployments/")
        if self.azure and marker:
            return httpx.URL(f"{resource}/openai/models", params=self.query or None)
        return self._url(self.models_path)

    def list_models(self) -> list[dict[str, Any]]:
        return self._models_from(self._get_json(self._models_url()))

    def check(self) -> dict[str, Any]:
        return {"ok": True, "models": len(self.list_models())}


class OpenAIStream:
    """Accumulates one Chat Completions stream: text per delta, tool calls by index, usage last."""

    __slots__ = (
        "_finish",
        "_id",
        "_model",
        "_others",
        "_provider",
        "_refusal",
        "_request",
        "_request_id",
        "_tools",
        "_upstream",
        "_usage",
        "done",
    )

    def __init__(self, provider: OpenAIProvider, request: ChatRequest, headers: Mapping[str, str]) -> None:
        self._provider = provider
        self._request = request
        self._request_id: str | None = headers.get("x-request-id") or headers.get("x-generation-id")
        self._id: str | None = None
        self._model = ""
        self._finish: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._tools: dict[int, list[Any]] = {}
        self._refusal: list[str] = []
        self._others: dict[int, list[str]] = {}
        self._upstream: str | None = None
        self.done = False

    def feed(self, event: str, data: str) -> str | None:
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                raise TypeError("a stream event that is not a JSON object")
            return self._take(chunk)
        except PARSE_ERRORS as exc:
            raise self._provider._invalid(
                f"sent a malformed stream event ({type(exc).__name__}: {str(exc)[:120]})"
            ) from exc

    def _take(self, chunk: dict[str, Any]) -> str | None:
        if chunk.get("error"):
            raise self._provider._event_error(chunk, self._request_id or chunk.get("id"))
        if self._id is None:
            self._id = chunk.get("id")
        if not self._model:
            self._model = chunk.get("model") or ""
        # OpenRouter names the upstream on every chunk; plain OpenAI chunks have no `provider`.
        if chunk.get("provider"):
            self._upstream = chunk["provider"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        text = None
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            index = choice.get("index", 0)
            if index == 0:
                text = self._take_first(choice, delta)
            elif delta.get("content"):
                self._others.setdefault(index, []).append(delta["content"])
        return text

    def _take_first(self, choice: Mapping[str, Any], delta: Mapping[str, Any]) -> str | None:
        if delta.get("refusal"):
            self._refusal.append(delta["refusal"])
        calls = delta.get("tool_calls")
        if calls:
            self._take_tool_calls(calls)
        reason = choice.get("finish_reason")
        if reason == "error":
            # OpenRouter may end a stream with only the choice marked (no top-level `error`): the
            # reply failed, it must not pass for a short success.
            raise self._provider._event_error(
                {"error": choice.get("error") or {}}, self._request_id or self._id
            )
        if reason:
            self._finish = reason
        content = delta.get("content")
        return content if content else None

    def _take_tool_calls(self, calls: Sequence[Mapping[str, Any]]) -> None:
        for position, call in enumerate(calls):
            index = call.get("index", position)
            function = call.get("function") or {}
            slot = self._tools.get(index)
            if slot is None:
                slot = self._tools[index] = [call.get("id") or "", function.get("name") or "", []]
            elif call.get("id") and not slot[0]:
                slot[0] = call["id"]
            if function.get("name") and not slot[1]:
                slot[1] = function["name"]
            arguments = function.get("arguments")
            if arguments:
                slot[2].append(json_text(arguments))

    def finish(self) -> StreamChunk:
        if not self.done:
            raise self._provider._invalid("the stream ended before its end marker ([DONE]); the reply is cut")
        tool_calls = tuple(
            ToolCall(id=slot[0] or f"call_{index}", name=slot[1], arguments="".join(slot[2]))
            for index, slot in sorted(self._tools.items())
        )
        extras = self._provider._reply_extras({"provider": self._upstream, "usage": self._usage})
        return StreamChunk(
            final=True,
            usage=parse_usage(self._usage) if self._usage else None,
            finish_reason=normalize_finish(self._finish, bool(tool_calls)),
            model=self._model or self._request.model,
            request_id=self._request_id or self._id,
            tool_calls=tool_calls,
            refusal="".join(self._refusal) or None,
            alternatives=tuple("".join(parts) for _, parts in sorted(self._others.items())),
            **extras,
        )
