"""Prices and cost estimates: pure, with no Django or HTTP import, so the hot path can use them.

The config snapshot carries one `Price` per catalog row (`config._load_prices`); the call engine
estimates a call's cost from it when the provider reports none; the catalog parses into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .types import Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """A model's prices in USD per token; `None` means unknown or "varies" (routers such as auto)."""

    prompt: Decimal | None = None
    completion: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    context_length: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Price:
        """From a `CatalogModel` row."""
        return cls(
            prompt=row.prompt_price,
            completion=row.completion_price,
            cache_read=row.cache_read_price,
            cache_write=row.cache_write_price,
            context_length=row.context_length,
        )


def estimate_cost(price: Price, usage: Usage) -> Decimal | None:
    """The cost of one call in USD, from catalog prices and token counts.

    Uncached prompt tokens are billed at the prompt price, cached ones at the cache-read price
    (the prompt price when the catalog has none), completion tokens at the completion price.
    Returns `None` when the prompt or completion price is unknown: an unknown cost is not zero.
    """
    if price.prompt is None or price.completion is None:
        return None
    cached = min(max(usage.cached_tokens, 0), max(usage.prompt_tokens, 0))
    fresh = max(usage.prompt_tokens, 0) - cached
    cache_read = price.cache_read if price.cache_read is not None else price.prompt
    return fresh * price.prompt + cached * cache_read + max(usage.completion_tokens, 0) * price.completion
