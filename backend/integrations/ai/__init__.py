"""Panel's AI provider registry: the one door CMS code goes through to call a language model.

    from backend.integrations import ai

    c = ai.complete(prompt="Summarize: ...", model="fast", caller="pages.summary", max_tokens=200)
    c.text, c.provider, c.model, c.usage.total_tokens, c.cost, c.latency_ms, c.attempts

    for chunk in ai.stream(messages=[{"role": "user", "content": "..."}], model="smart"):
        print(chunk.text, end="")          # the last chunk (final=True) carries usage, provider, model

`model` is an alias (`default`, `fast`, `smart`, ...), a model name (`gpt-4o`,
`claude-3-5-sonnet-20241022`, `anthropic/claude-3.5-sonnet`), or None for the default alias.
Which provider serves is decided per call from the admin's rows (Admin › AI), with environment
variables as the fallback; see docs/architecture.md. Parameters: `max_tokens`, `temperature`,
`top_p`, `stop`, `user`, `response_format`, `tools`, `tool_choice`, and `extra` (provider-specific
body fields, e.g. OpenRouter's `models` and `provider`).

Every function raises `errors.AIError` subclasses only: `ConfigurationError` when nothing can
serve the call, `BadRequest` when the request would fail anywhere, `AllProvidersFailed` (with every
attempt) when all candidates failed, `StreamInterrupted` (with the partial text) when a stream
breaks after text reached the caller. Each call, successful or not, writes one `CallLog` row.

All of this is safe to use from many threads and asyncio tasks at once. The registry's modules
are imported on first use, so importing this package costs almost nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import (
    AIError,
    AllProvidersFailed,
    ConfigurationError,
    ProviderError,
    StreamInterrupted,
)
from .types import ChatRequest, Completion, Message, StreamChunk, Usage

if TYPE_CHECKING:
    from .router import Explanation

__all__ = [
    "AIError",
    "AllProvidersFailed",
    "ChatRequest",
    "Completion",
    "ConfigurationError",
    "Message",
    "ProviderError",
    "StreamChunk",
    "StreamInterrupted",
    "Usage",
    "acomplete",
    "astream",
    "chat_completion",
    "check_provider",
    "complete",
    "explain",
    "generate_text",
    "stream",
]

Messages = Sequence[Mapping[str, Any] | Message] | None


def complete(
    messages: Messages = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    caller: str = "",
    **params: Any,
) -> Completion:
    """Send one chat call through the registry and return the whole reply."""
    from . import calls

    return calls.complete(model, calls.build_request(messages, prompt, params), caller=caller)


async def acomplete(
    messages: Messages = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    caller: str = "",
    **params: Any,
) -> Completion:
    """The async twin of `complete()`."""
    from . import calls

    return await calls.acomplete(model, calls.build_request(messages, prompt, params), caller=caller)


def stream(
    messages: Messages = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    caller: str = "",
    **params: Any,
) -> Iterator[StreamChunk]:
    """Send one chat call and yield the reply as it arrives; the last chunk has `final=True`."""
    from . import calls

    return calls.stream(model, calls.build_request(messages, prompt, params), caller=caller)


def astream(
    messages: Messages = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    caller: str = "",
    **params: Any,
) -> AsyncIterator[StreamChunk]:
    """The async twin of `stream()`: `async for chunk in ai.astream(...)`."""
    from . import calls

    return calls.astream(model, calls.build_request(messages, prompt, params), caller=caller)


def explain(model: str | None = None) -> Explanation:
    """Where the next call for `model` (alias or model name) would go, in order, and why."""
    from . import router

    return router.explain(model)


def check_provider(name: str) -> dict[str, Any]:
    """Run the named provider's authenticated `check()` with its real key (see diagnostics.py)."""
    from .diagnostics import check_provider as run_check

    return run_check(name)


# --- the call style of the old `integrations/ai.py` ----------------------------------------------


def generate_text(
    prompt: str,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    *,
    system: str | None = None,
    caller: str = "legacy.generate_text",
    **params: Any,
) -> str:
    """Legacy helper: one prompt in, the reply's text out.

    Direct model names the old code used (`gpt-3.5-turbo`, `gpt-4`, `claude-3-sonnet-20240229`)
    are routed through the model mapper to whichever provider the admin put first.
    """
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return complete(
        messages, model=model, caller=caller, max_tokens=max_tokens, temperature=temperature, **params
    ).text


def chat_completion(
    messages: Sequence[Mapping[str, Any]],
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    *,
    caller: str = "legacy.chat_completion",
    **params: Any,
) -> str:
    """Legacy helper: a message list in, the reply's text out."""
    return complete(
        messages, model=model, caller=caller, max_tokens=max_tokens, temperature=temperature, **params
    ).text
