"""The admin playground's request form and its reply as a stream of newline-delimited JSON events.

One event per line, each a JSON object with a `type`:

    {"type": "text", "text": "Hel"}                  a piece of the reply, as it arrived
    {"type": "done", "provider": "...", "model": "...", "usage": {...}, "cost": "0.0012" | null,
     "latency_ms": 812.4, "attempts": 1, "finish_reason": "stop"}
    {"type": "error", "message": "...", "error": "AllProvidersFailed", "partial": false}

A stream ends with exactly one `done` or `error` event. The call goes through the facade
(`ai.astream` under ASGI, `ai.stream` under WSGI) like any CMS call, so it is routed, retried,
failed over and written to the call log the same way, with caller `admin.playground`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Final

from django import forms

from .errors import AIError, StreamInterrupted
from .models import ModelAlias
from .types import StreamChunk

logger = logging.getLogger(__name__)

CALLER: Final = "admin.playground"
CONTENT_TYPE: Final = "application/x-ndjson; charset=utf-8"
MAX_TOKENS_LIMIT: Final = 32_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaygroundRun:
    """One validated playground request: what to call and with which messages."""

    model: str | None
    messages: tuple[dict[str, str], ...]
    max_tokens: int
    temperature: float | None

    def params(self) -> dict[str, Any]:
        return {
            "messages": list(self.messages),
            "model": self.model,
            "caller": CALLER,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }


class PlaygroundForm(forms.Form):
    alias = forms.ChoiceField(required=False, label="Alias")
    model = forms.CharField(
        required=False,
        max_length=200,
        label="or a model name",
        help_text="A model name wins over the alias; with neither, the default alias answers.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. gpt-4o-mini", "size": 30}),
    )
    system = forms.CharField(
        required=False, max_length=20_000, label="System message", widget=forms.Textarea(attrs={"rows": 3})
    )
    prompt = forms.CharField(
        max_length=50_000, label="User message", widget=forms.Textarea(attrs={"rows": 6})
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=MAX_TOKENS_LIMIT, initial=256, label="Max tokens")
    temperature = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=2.0,
        label="Temperature",
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = ModelAlias.objects.filter(enabled=True).order_by("name").values_list("name", flat=True)
        self.fields["alias"].choices = [("", "— default alias —"), *((n, n) for n in names)]

    def run(self) -> PlaygroundRun:
        """The validated request (call after `is_valid()`)."""
        data = self.cleaned_data
        messages = [{"role": "system", "content": data["system"]}] if data["system"].strip() else []
        messages.append({"role": "user", "content": data["prompt"]})
        return PlaygroundRun(
            model=data["model"].strip() or data["alias"] or None,
            messages=tuple(messages),
            max_tokens=data["max_tokens"],
            temperature=data["temperature"],
        )

    def error_text(self) -> str:
        return " ".join(
            f"{self.fields[name].label if name in self.fields else 'Form'}: {message}"
            for name, messages in self.errors.items()
            for message in messages
        )


def line(event: dict[str, Any]) -> str:
    """One event as a line of JSON."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"


def done_event(chunk: StreamChunk) -> dict[str, Any]:
    usage = chunk.usage
    return {
        "type": "done",
        "provider": chunk.provider,
        "model": chunk.model,
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
        },
        "cost": None if chunk.cost is None else f"{chunk.cost:f}",
        "latency_ms": round(chunk.latency_ms, 1),
        "attempts": chunk.attempts,
        "finish_reason": chunk.finish_reason,
    }


def error_event(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, AIError):
        message = str(exc)
    else:
        logger.exception("The admin playground's call failed unexpectedly.")
        message = "The call failed unexpectedly; the server log has the details."
    return {
        "type": "error",
        "message": message,
        "error": type(exc).__name__,
        "partial": isinstance(exc, StreamInterrupted) and bool(exc.partial_text),
    }


def _events_of(chunk: StreamChunk) -> Iterator[str]:
    if chunk.text:
        yield line({"type": "text", "text": chunk.text})
    if chunk.final:
        yield line(done_event(chunk))


async def aevents(run: PlaygroundRun) -> AsyncIterator[str]:
    """The reply as event lines, as `ai.astream` delivers it (for ASGI)."""
    from . import astream

    try:
        async for chunk in astream(**run.params()):
            for event in _events_of(chunk):
                yield event
    except Exception as exc:  # every failure becomes the stream's last event, never a broken page
        yield line(error_event(exc))


def events(run: PlaygroundRun) -> Iterator[str]:
    """The sync twin of `aevents()` over `ai.stream` (for WSGI)."""
    from . import stream

    try:
        for chunk in stream(**run.params()):
            yield from _events_of(chunk)
    except Exception as exc:  # every failure becomes the stream's last event, never a broken page
        yield line(error_event(exc))
