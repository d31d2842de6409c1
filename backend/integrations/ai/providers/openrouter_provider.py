"""OpenRouter: OpenAI's wire format plus its attribution headers, cost and routing extras (§4).

Only what differs from `OpenAIProvider` lives here: the `HTTP-Referer`/`X-OpenRouter-Title`
headers, `max_tokens` (understood by every upstream), the served upstream (`provider`) and the
charged cost (`usage.cost`) on replies, OpenRouter's own rate-limit reset header, the raw catalog
from `/models`, and `check()` through `GET /key` (the models list answers 200 for any key).
The `models` fallback list and `provider` routing object reach the body through
`ChatRequest.extra`; `: OPENROUTER PROCESSING` keep-alives are SSE comments the shared parser
skips, and mid-stream error chunks (top-level `error`, `finish_reason: "error"`) raise like
OpenAI's in-band errors.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ._http import header_value
from .openai_provider import OpenAIProvider


def openrouter_reset_delay(headers: Mapping[str, str]) -> float | None:
    """Seconds until `X-RateLimit-Reset` (epoch milliseconds, sent on OpenRouter's own 429s)."""
    raw = headers.get("x-ratelimit-reset")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    seconds = value / 1000 if value > 1e11 else value
    return max(0.0, seconds - time.time())


def reported_cost(usage: Mapping[str, Any] | None) -> Decimal | None:
    """`usage.cost` (USD credits) as a Decimal, via its shortest repr so 3.3e-06 stays 0.0000033."""
    cost = usage.get("cost") if usage else None
    if cost is None or isinstance(cost, bool):
        return None
    try:
        return Decimal(str(cost))
    except (InvalidOperation, ValueError):
        return None


class OpenRouterProvider(OpenAIProvider):
    """OpenRouter's `/api/v1/chat/completions`."""

    developer_role = False
    reset_delay = staticmethod(openrouter_reset_delay)

    def _build_headers(self) -> dict[str, str | bytes]:
        headers = super()._build_headers()
        referer = self.spec.option("http_referer")
        title = self.spec.option("app_name")
        if referer:
            headers["HTTP-Referer"] = header_value(referer)
        if title:
            headers["X-OpenRouter-Title"] = header_value(title)
            headers["X-Title"] = header_value(title)
        return headers

    def _max_tokens_key(self, reasoning: bool) -> str:
        return "max_tokens"

    def _reply_extras(self, data: Mapping[str, Any]) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        upstream = data.get("provider")
        if upstream:
            extras["upstream_provider"] = str(upstream)
        cost = reported_cost(data.get("usage"))
        if cost is not None:
            extras["reported_cost"] = cost
        return extras

    def check(self) -> dict[str, Any]:
        """`GET /key`: the key's limits and usage, without its label (a masked key)."""
        data = self._get_json(self._url("/key")).get("data")
        if not isinstance(data, dict):
            raise self._invalid("answered GET /key without a `data` object")
        return {"ok": True, **{k: v for k, v in data.items() if k != "label"}}
