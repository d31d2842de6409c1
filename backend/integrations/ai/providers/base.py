"""The narrow interface every provider implements, and the frozen spec it is built from.

A provider owns one wire format and nothing else: it turns a `ChatRequest` into the provider's
JSON, sends it over its pooled httpx client, parses the reply into a `Completion` or a stream of
`StreamChunk`, and maps every failure onto the `errors.py` tree. Retries, failover, the database,
settings and `os.environ` belong to the router and config, not here: the key arrives in the spec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..types import ChatRequest, Completion, StreamChunk


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    """Everything needed to build one provider instance; hashable, so it keys the factory's cache.

    `name` is the Provider row's name (errors and ledger rows carry it). `extra_headers` is a tuple
    of (name, value) pairs so the spec stays hashable. `pool_size` sizes the httpx pools.
    `options` carries kind-specific settings as (key, value) pairs: `api_version` for Azure,
    `http_referer` and `app_name` for OpenRouter.
    """

    kind: str
    name: str
    base_url: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    extra_headers: tuple[tuple[str, str], ...] = ()
    pool_size: int = 100
    options: tuple[tuple[str, str], ...] = ()

    def option(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.options if k == key), default)


class AIProvider:
    """Base class for providers. Subclasses implement every method below.

    Every method that talks to the provider raises only `errors.ProviderError` subclasses (naming
    `spec.name` as `provider`), never an httpx or `json` exception, and never puts the key in a
    message.
    """

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name!r} {self.spec.base_url}>"

    def complete(self, request: ChatRequest) -> Completion:
        """Send `request` and return the whole reply.

        Raises `ProviderError` subclasses: `AuthenticationError`, `RateLimited`, `BadRequest`,
        `ProviderUnavailable`, `ProviderTimeout`, `InvalidResponse`, ...
        """
        raise NotImplementedError("AIProvider subclasses must implement complete()")

    async def acomplete(self, request: ChatRequest) -> Completion:
        """The async twin of `complete()`."""
        raise NotImplementedError("AIProvider subclasses must implement acomplete()")

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Send `request` and yield the reply as it arrives.

        Text chunks first, then exactly one chunk with `final=True` carrying `usage`,
        `finish_reason`, `model` and `request_id`. A failure before the first chunk raises like
        `complete()`; an in-band error event or a stream that ends without its terminator raises a
        `ProviderError` (`InvalidResponse` for truncation) after the chunks already yielded.
        """
        raise NotImplementedError("AIProvider subclasses must implement stream()")

    def astream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The async twin of `stream()` (an async generator)."""
        raise NotImplementedError("AIProvider subclasses must implement astream()")

    def list_models(self) -> list[dict[str, Any]]:
        """The models this provider serves, as the provider lists them (each with at least `id`)."""
        raise NotImplementedError("AIProvider subclasses must implement list_models()")

    def check(self) -> dict[str, Any]:
        """An authenticated, cheap call proving the key works; returns facts worth showing an admin.

        Raises `AuthenticationError`, `InsufficientCredits`, `ProviderUnavailable`, ... like
        `complete()`.
        """
        raise NotImplementedError("AIProvider subclasses must implement check()")

    def close(self) -> None:
        """Release pooled sync connections."""

    def retire(self) -> None:
        """This instance is replaced (its spec changed): release its pools once the calls still
        running on it have finished. The default closes at once."""
        self.close()

    async def aclose(self) -> None:
        """Release pooled async connections."""
