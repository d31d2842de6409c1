"""`manage.py ai_complete [--model M] [--system S] [--stream] [--json] PROMPT`: one call, from a shell.

The reply goes to stdout; which provider and model served, tokens, cost and latency go to stderr,
so the reply can be piped. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.integrations import ai


class Command(BaseCommand):
    help = "Send one prompt through the AI registry and print the reply."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt", help="The user message.")
        parser.add_argument(
            "--model", default=None, help="An alias or model name (default: the default alias)."
        )
        parser.add_argument("--system", default=None, help="An optional system message.")
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--temperature", type=float, default=None)
        parser.add_argument("--stream", action="store_true", help="Print the reply as it arrives.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument("--caller", default="cli.ai_complete")

    def handle(self, *args: Any, **opts: Any) -> None:
        messages = [{"role": "system", "content": opts["system"]}] if opts["system"] else []
        messages.append({"role": "user", "content": opts["prompt"]})
        params = {"max_tokens": opts["max_tokens"], "temperature": opts["temperature"]}
        try:
            if opts["stream"]:
                result = self._stream(messages, opts, params)
            else:
                result = ai.complete(messages, model=opts["model"], caller=opts["caller"], **params)
                if not opts["json"]:
                    self.stdout.write(result.text)
        except ai.AIError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        if opts["json"]:
            self.stdout.write(json.dumps(_as_dict(result), indent=2))
        self.stderr.write(_summary(result))

    def _stream(self, messages: list[dict[str, str]], opts: dict[str, Any], params: dict[str, Any]) -> Any:
        final = None
        parts = []
        for chunk in ai.stream(messages, model=opts["model"], caller=opts["caller"], **params):
            parts.append(chunk.text)
            if not opts["json"] and chunk.text:
                self.stdout.write(chunk.text, ending="")
                self.stdout.flush()
            if chunk.final:
                final = chunk
        if not opts["json"]:
            self.stdout.write("")
        return _StreamResult(text="".join(parts), final=final)


class _StreamResult:
    def __init__(self, *, text: str, final: ai.StreamChunk | None) -> None:
        self.text = text
        self.provider = final.provider if final else ""
        self.model = final.model if final else ""
        self.usage = final.usage if final else None
        self.cost = final.cost if final else None
        self.latency_ms = final.latency_ms if final else 0.0
        self.attempts = final.attempts if final else 0
        self.finish_reason = final.finish_reason if final else None


def _as_dict(result: Any) -> dict[str, Any]:
    usage = result.usage
    return {
        "text": result.text,
        "provider": result.provider,
        "model": result.model,
        "finish_reason": result.finish_reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
        },
        "cost": str(result.cost) if result.cost is not None else None,
        "latency_ms": round(result.latency_ms, 1),
        "attempts": result.attempts,
    }


def _summary(result: Any) -> str:
    usage = result.usage
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens" if usage else "tokens unknown"
    cost = f"${result.cost}" if result.cost is not None else "cost unknown"
    return (
        f"[{result.provider} · {result.model} · {tokens} · {cost} · {result.latency_ms:.0f} ms · "
        f"{result.attempts} attempt(s)]"
    )
