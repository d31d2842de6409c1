"""Reply, stream and error bodies of the three wire formats the fake provider server speaks.

Pure functions of the request payload and a `Reply`, so every reply is deterministic: the same
request to the same tenant gets the same text, token counts and cost. Shapes follow the offline
reference (shared/reference/provider-apis.md §2.2/2.3 OpenAI, §3.2/3.3 Anthropic, §4.3-4.6
OpenRouter, §5.1/5.2 errors). Only the standard library is used, so the server runs without
Django (`python -m tests.fakes.server`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

FLAVORS = ("openai", "anthropic", "openrouter")

# The fixed fake OpenRouter price (USD per token) behind `usage.cost`; the catalog's
# `fake/priced-model` row carries the same strings.
FAKE_PROMPT_PRICE = Decimal("0.000001")
FAKE_COMPLETION_PRICE = Decimal("0.000002")
UPSTREAM_NAME = "FakeUpstream"

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(obj: Any) -> bytes:
    """Compact JSON, as the real APIs send it."""
    return _DUMPS(obj).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a successful reply of one tenant says (set by `FakeProviderServer.set_reply`)."""

    text: str
    chunks: int = 5
    chunk_delay_s: float = 0.0
    delay_s: float = 0.0
    tool_call: dict[str, Any] | None = field(default=None, hash=False)
    model: str | None = None
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Ids:
    """The ids of one response, derived from the server's request sequence number."""

    seq: int
    created: int

    @property
    def openai(self) -> str:
        return f"chatcmpl-fake{self.seq:010d}"

    @property
    def anthropic(self) -> str:
        return f"msg_fake{self.seq:016d}"

    @property
    def openrouter(self) -> str:
        return f"gen-{self.created}-fake{self.seq:010d}"

    @property
    def request_id(self) -> str:
        return f"req_fake{self.seq:016d}"

    @property
    def tool_call(self) -> str:
        return f"call_fake{self.seq:016d}"

    @property
    def tool_use(self) -> str:
        return f"toolu_fake{self.seq:016d}"

    def response_id(self, flavor: str) -> str:
        return getattr(self, flavor)


# --- usage -------------------------------------------------------------------------------------


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(_words(part) for part in content)
    if isinstance(content, dict):
        return _words(content.get("text")) + _words(content.get("content"))
    return 0


def prompt_tokens(payload: dict[str, Any]) -> int:
    """The fake prompt token count: whitespace-separated words of every message and the system
    prompt (at least 1)."""
    messages = payload.get("messages")
    total = _words(payload.get("system"))
    if isinstance(messages, list):
        total += sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
    return max(total, 1)


def completion_tokens(text: str) -> int:
    """The fake completion token count: the reply's word count."""
    return len(text.split())


def fake_cost(prompt: int, completion: int) -> float:
    """OpenRouter's `usage.cost` for these token counts at the fixed fake price."""
    return float(prompt * FAKE_PROMPT_PRICE + completion * FAKE_COMPLETION_PRICE)


# --- the answer a request gets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """The content of one successful reply, before it is put into a flavor's shape."""

    model: str
    text: str
    tool_name: str | None
    tool_args: str  # JSON text of the tool call's arguments ("" without a tool call)
    truncated: bool
    prompt: int
    completion: int
    cached: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def _wants_tools(payload: dict[str, Any]) -> bool:
    choice = payload.get("tool_choice")
    if choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none"):
        return False
    return bool(payload.get("tools"))


def _max_tokens(payload: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def make_answer(flavor: str, reply: Reply, payload: dict[str, Any]) -> Answer:
    """Decide what this request is answered: text (cut to `max_tokens` words) or a tool call."""
    model = reply.model or payload.get("model") or _DEFAULT_MODEL[flavor]
    prompt = prompt_tokens(payload)
    cached = min(max(reply.cached_tokens, 0), prompt)
    if reply.tool_call is not None and _wants_tools(payload):
        args = dumps(reply.tool_call.get("arguments", {})).decode()
        name = str(reply.tool_call["name"])
        return Answer(str(model), "", name, args, False, prompt, max(len(args.split()), 1), cached)
    text, truncated = reply.text, False
    limit = _max_tokens(payload)
    if limit is not None and completion_tokens(text) > limit:
        text, truncated = " ".join(text.split()[:limit]), True
    return Answer(str(model), text, None, "", truncated, prompt, completion_tokens(text), cached)


_DEFAULT_MODEL = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-20250514",
    "openrouter": "openrouter/auto",
}


def split_text(text: str, parts: int) -> list[str]:
    """`text` cut into `parts` near-equal non-empty pieces (fewer if the text is shorter)."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def _openai_finish(answer: Answer) -> str:
    if answer.tool_name:
        return "tool_calls"
    return "length" if answer.truncated else "stop"


def _anthropic_stop(answer: Answer) -> str:
    if answer.tool_name:
        return "tool_use"
    return "max_tokens" if answer.truncated else "end_turn"


# --- non-streamed replies ----------------------------------------------------------------------


def _openai_usage(answer: Answer, flavor: str) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": answer.prompt,
        "completion_tokens": answer.completion,
        "total_tokens": answer.total,
    }
    if flavor == "openrouter":
        usage["cost"] = fake_cost(answer.prompt, answer.completion)
        usage["is_byok"] = False
        usage["prompt_tokens_details"] = {"cached_tokens": answer.cached}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0}
        usage["cost_details"] = {"upstream_inference_cost": None}
    else:
        usage["prompt_tokens_details"] = {"cached_tokens": answer.cached, "audio_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0}
    return usage


def _openai_message(answer: Answer, ids: Ids, flavor: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or None, "refusal": None}
    if answer.tool_name:
        message["tool_calls"] = [
            {
                "id": ids.tool_call,
                "type": "function",
                "function": {"name": answer.tool_name, "arguments": answer.tool_args},
            }
        ]
    if flavor == "openrouter":
        message["reasoning"] = None
    else:
        message["annotations"] = []
    return message


def completion_body(flavor: str, answer: Answer, ids: Ids) -> dict[str, Any]:
    """The JSON body of a non-streamed successful reply."""
    if flavor == "anthropic":
        return _anthropic_body(answer, ids)
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": _openai_finish(answer)}
    body: dict[str, Any] = {"id": ids.response_id(flavor)}
    if flavor == "openrouter":
        body["provider"] = UPSTREAM_NAME
        choice["native_finish_reason"] = _openai_finish(answer)
    choice["message"] = _openai_message(answer, ids, flavor)
    body.update(object="chat.completion", created=ids.created, model=answer.model, choices=[choice])
    body["usage"] = _openai_usage(answer, flavor)
    if flavor == "openai":
        body["service_tier"] = "default"
        body["system_fingerprint"] = "fp_fake"
    return body


def _anthropic_usage(answer: Answer, output: int) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt - answer.cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": answer.cached,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _anthropic_body(answer: Answer, ids: Ids) -> dict[str, Any]:
    if answer.tool_name:
        block = {
            "type": "tool_use",
            "id": ids.tool_use,
            "name": answer.tool_name,
            "input": json.loads(answer.tool_args),
        }
    else:
        block = {"type": "text", "text": answer.text}
    return {
        "id": ids.anthropic,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [block],
        "stop_reason": _anthropic_stop(answer),
        "stop_sequence": None,
        "usage": _anthropic_usage(answer, answer.completion),
    }


# --- streams -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamParts:
    """A stream as three runs of encoded SSE events: before the content, one event per content
    delta (text or tool-argument fragment), and after it (finish, usage, terminator)."""

    head: list[bytes]
    deltas: list[bytes]
    tail: list[bytes]


_MARK = "\x00"  # never in JSON output unescaped: encoded as \u0000
_MARK_JSON = dumps(_MARK)


def _repeat(encoded: bytes, pieces: list[str]) -> list[bytes]:
    """One encoded event per piece, from an event encoded once with `_MARK` where the piece goes
    (a long stream then costs one small string encoding per delta, not a whole event each)."""
    prefix, _, suffix = encoded.partition(_MARK_JSON)
    return [prefix + dumps(piece) + suffix for piece in pieces]


def _data(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def _event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def stream_parts(flavor: str, answer: Answer, ids: Ids, payload: dict[str, Any], chunks: int) -> StreamParts:
    """The SSE events of a streamed successful reply, split into `chunks` content deltas."""
    if flavor == "anthropic":
        return _anthropic_stream(answer, ids, chunks)
    return _openai_stream(flavor, answer, ids, payload, chunks)


def _openai_stream(
    flavor: str, answer: Answer, ids: Ids, payload: dict[str, Any], chunks: int
) -> StreamParts:
    router = flavor == "openrouter"
    options = payload.get("stream_options")
    with_usage = router or (isinstance(options, dict) and bool(options.get("include_usage")))
    base: dict[str, Any] = {"id": ids.response_id(flavor)}
    if router:
        base["provider"] = UPSTREAM_NAME
    base.update(object="chat.completion.chunk", created=ids.created, model=answer.model)

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if router:
            choice["native_finish_reason"] = finish
        obj = {**base, "choices": [choice]}
        if with_usage and not router:
            obj["usage"] = None
        return _data(obj)

    head = [b": OPENROUTER PROCESSING\n\n"] if router else []
    if answer.tool_name:
        call = {
            "index": 0,
            "id": ids.tool_call,
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": ""},
        }
        head.append(chunk({"role": "assistant", "content": None, "tool_calls": [call]}, None))
        template = chunk({"tool_calls": [{"index": 0, "function": {"arguments": _MARK}}]}, None)
        deltas = _repeat(template, split_text(answer.tool_args, chunks))
    else:
        head.append(chunk({"role": "assistant", "content": "", "refusal": None}, None))
        deltas = _repeat(chunk({"content": _MARK}, None), split_text(answer.text, chunks))
    tail = [chunk({}, _openai_finish(answer))]
    if with_usage:
        tail.append(_data({**base, "choices": [], "usage": _openai_usage(answer, flavor)}))
    tail.append(b"data: [DONE]\n\n")
    return StreamParts(head, deltas, tail)


def _anthropic_stream(answer: Answer, ids: Ids, chunks: int) -> StreamParts:
    message = {
        "id": ids.anthropic,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": answer.model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(answer, 1),
    }
    if answer.tool_name:
        block = {"type": "tool_use", "id": ids.tool_use, "name": answer.tool_name, "input": {}}
        kind, key, pieces = "input_json_delta", "partial_json", split_text(answer.tool_args, chunks)
    else:
        block = {"type": "text", "text": ""}
        kind, key, pieces = "text_delta", "text", split_text(answer.text, chunks)
    head = [
        _event("message_start", {"type": "message_start", "message": message}),
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        _event("ping", {"type": "ping"}),
    ]
    template = {"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: _MARK}}
    deltas = _repeat(_event("content_block_delta", template), pieces)
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _anthropic_stop(answer), "stop_sequence": None},
        "usage": {"output_tokens": answer.completion},
    }
    tail = [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", delta),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return StreamParts(head, deltas, tail)


# --- errors ------------------------------------------------------------------------------------

_OPENAI_RATE_LIMIT = (
    "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, "
    "Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits "
    "to learn more."
)
# code -> (type, message, param)
_OPENAI_CODES: dict[str, tuple[str, str, str | None]] = {
    "rate_limit_exceeded": ("requests", _OPENAI_RATE_LIMIT, None),
    "insufficient_quota": (
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        None,
    ),
    "context_length_exceeded": (
        "invalid_request_error",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "131072 tokens. Please reduce the length of the messages.",
        "messages",
    ),
    "invalid_api_key": (
        "invalid_request_error",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        None,
    ),
    "model_not_found": (
        "invalid_request_error",
        "The model `{model}` does not exist or you do not have access to it.",
        None,
    ),
    "unsupported_parameter": (
        "invalid_request_error",
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
        "'max_completion_tokens' instead.",
        "max_tokens",
    ),
    "unsupported_country_region_territory": (
        "request_forbidden",
        "Country, region, or territory not supported",
        None,
    ),
}
# status -> (type, code, message)
_OPENAI_STATUS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (scripted by the fake server)."),
    401: ("invalid_request_error", "invalid_api_key", _OPENAI_CODES["invalid_api_key"][1]),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: ("invalid_request_error", "model_not_found", _OPENAI_CODES["model_not_found"][1]),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", None, "The request conflicted with another request; please retry."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", _OPENAI_RATE_LIMIT),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}

_ANTHROPIC_MESSAGES = {
    "invalid_request_error": "Invalid request (scripted by the fake server).",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
    "Billing to upgrade or purchase credits.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "model: {model}",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit "
    "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. "
    "Please reduce the prompt length or the maximum tokens requested, or try again later.",
    "api_error": "Internal server error",
    "timeout_error": "Request timeout",
    "overloaded_error": "Overloaded",
}
_ANTHROPIC_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# status -> (message, metadata)
_OPENROUTER_STATUS: dict[int, tuple[str, dict[str, Any] | None]] = {
    400: ("{model} is not a valid model ID", None),
    401: ("User not found.", None),
    402: (
        "This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, "
        "but can only afford 1000. To increase, visit https://openrouter.ai/settings/credits and add "
        "more credits",
        {"error_type": "insufficient_credits"},
    ),
    403: (
        '{model} requires moderation on FakeUpstream. Your input was flagged for "fake-category".',
        {"reasons": ["fake-category"], "flagged_input": "...", "provider_name": UPSTREAM_NAME},
    ),
    404: ("No endpoints found for {model}.", None),
    408: ("Request timed out", None),
    429: ("Rate limit exceeded: free-models-per-min.", {"error_type": "rate_limit_exceeded"}),
    500: ("Internal Server Error", None),
    502: ("Provider returned error", {"provider_name": UPSTREAM_NAME, "raw": "upstream error"}),
    503: (
        "No allowed providers are available for the selected model.",
        {"error_type": "no_available_providers"},
    ),
    504: ("Upstream timed out", None),
    524: ("Edge timed out", None),
    529: ("Provider returned error", {"provider_name": UPSTREAM_NAME, "raw": "Overloaded"}),
}


def _generic(status: int) -> str:
    return "Client error (scripted by the fake server)." if status < 500 else "Server error."


def error_body(
    flavor: str,
    status: int,
    *,
    code: str | None = None,
    model: str = "",
    message: str | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    """The flavor's real error body for `status`; `code` overrides the error code (OpenAI),
    `error.type` (Anthropic) or `metadata.error_type` (OpenRouter)."""
    if flavor == "anthropic":
        kind = (
            code
            or _ANTHROPIC_STATUS.get(status)
            or ("invalid_request_error" if status < 500 else "api_error")
        )
        text = message or _ANTHROPIC_MESSAGES.get(kind, _generic(status)).format(model=model)
        return {"type": "error", "error": {"type": kind, "message": text}, "request_id": request_id}
    if flavor == "openrouter":
        text, metadata = _OPENROUTER_STATUS.get(status, (_generic(status), None))
        error: dict[str, Any] = {"code": status, "message": message or text.format(model=model)}
        if code:
            metadata = {**(metadata or {}), "error_type": code}
        if metadata is not None:
            error["metadata"] = {**metadata, "model_slug": model} if status == 403 else metadata
        return {"error": error}
    kind, default_code, text = _OPENAI_STATUS.get(
        status, ("invalid_request_error" if status < 500 else "server_error", None, _generic(status))
    )
    param = None
    if code is not None:
        kind, text, param = _OPENAI_CODES.get(code, (kind, text, None))
    text = message or text.format(model=model)
    return {"error": {"message": text, "type": kind, "param": param, "code": code or default_code}}


def stream_error_event(flavor: str, status: int, code: str | None, model: str, ids: Ids) -> bytes:
    """The in-band error event a stream carries when it fails after the 200 (§5.2)."""
    body = error_body(flavor, status, code=code, model=model)
    if flavor == "anthropic":
        return _event("error", {"type": "error", "error": body["error"]})
    if flavor == "openai":
        return _data(body)
    return _data(
        {
            "id": ids.openrouter,
            "object": "chat.completion.chunk",
            "created": ids.created,
            "model": model,
            "provider": UPSTREAM_NAME,
            "error": body["error"],
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                }
            ],
        }
    )


DEFAULT_IN_BAND_STATUS = {"openai": 500, "anthropic": 529, "openrouter": 502}


# --- catalogs and the key endpoint -------------------------------------------------------------


def _priced(slug: str, name: str, prompt: str, completion: str, context: int) -> dict[str, Any]:
    return {
        "id": slug,
        "canonical_slug": slug,
        "name": name,
        "created": 1729555200,
        "description": f"{name} (fake catalog row).",
        "context_length": context,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
        "top_provider": {"context_length": context, "max_completion_tokens": 8192, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "tools", "stop"],
    }


def models_body(flavor: str) -> dict[str, Any]:
    """A small models list in the flavor's shape (§2.4, §3.4, §4.5)."""
    if flavor == "openai":
        ids = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small")
        return {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 1715367049, "owned_by": "system"} for i in ids],
        }
    if flavor == "anthropic":
        rows = [
            ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z"),
            ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
            ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
        ]
        data = [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in rows]
        return {"data": data, "has_more": False, "first_id": rows[0][0], "last_id": rows[-1][0]}
    fake_prompt, fake_completion = str(FAKE_PROMPT_PRICE), str(FAKE_COMPLETION_PRICE)
    data = [
        _priced("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", "0.00000015", "0.0000006", 128000),
        _priced(
            "anthropic/claude-3.5-sonnet", "Anthropic: Claude 3.5 Sonnet", "0.000003", "0.000015", 200000
        ),
        _priced("anthropic/claude-sonnet-4", "Anthropic: Claude Sonnet 4", "0.000003", "0.000015", 200000),
        _priced("meta-llama/llama-3.3-70b-instruct:free", "Meta: Llama 3.3 70B (free)", "0", "0", 131072),
        _priced("fake/priced-model", "Fake: Priced Model", fake_prompt, fake_completion, 32000),
    ]
    return {"data": data, "total_count": len(data), "links": {"next": None}}


def key_body() -> dict[str, Any]:
    """OpenRouter's `GET /key` body (§4.6); the label is a masked fake, never the real key."""
    return {
        "data": {
            "label": "sk-or-v1-fak...key",
            "limit": 100,
            "limit_remaining": 74.5,
            "limit_reset": "monthly",
            "include_byok_in_limit": False,
            "usage": 25.5,
            "usage_daily": 25.5,
            "usage_weekly": 25.5,
            "usage_monthly": 25.5,
            "byok_usage": 0,
            "is_free_tier": False,
            "is_management_key": False,
            "expires_at": None,
            "rate_limit": {"requests": 1000, "interval": "1h", "note": "deprecated"},
        }
    }
