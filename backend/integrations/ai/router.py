"""Routing: a model name or alias -> ordered candidates -> retries, failover, circuit breaking.

`resolve()` turns what the caller asked for into candidates, in the order the next call tries them:

- an alias: its enabled routes, ordered by route priority, ties by provider priority, weighted
  random within a tie (strategy `priority`); or weighted random over all (`weighted`); or by
  catalog price (`cheapest`) or observed latency (`fastest`), priority breaking ties;
- a plain model name (`gpt-4o`, `anthropic/claude-3.5-sonnet`): every enabled provider that can
  serve it, its id normalized for that provider's kind by `normalize_model`;
- `None`: the default alias.

A mode other than `auto` pins one provider kind: only providers of that kind serve, and a route
to another kind is served by the pinned kind's first provider with the route's model normalized
for it. Candidates whose circuit is open move to the back, the soonest to recover first.

`POLICY` is the one table of what each error does (retry the same provider, fail over, or raise
at once); `execute`/`aexecute` and `stream`/`astream` in `calls.py` apply it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from django.conf import settings

from . import health
from .config import AliasConfig, ProviderConfig, RegistryConfig, RouteConfig
from .errors import (
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    ContextLengthExceeded,
    InsufficientCredits,
    InvalidResponse,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from .pricing import Price
from .providers.model_mapper import can_serve, normalize_model


class Action(Enum):
    RETRY = "retry"  # the same provider again, after a backoff (then fail over)
    FAILOVER = "failover"  # the next candidate at once
    RAISE = "raise"  # stop: the request would fail anywhere


# What each error does, most specific class first; `retryable=False` on an error (the provider's
# `x-should-retry: false`) turns RETRY into FAILOVER. Follows provider-apis.md §5.4.
POLICY: Final[tuple[tuple[type[ProviderError], Action], ...]] = (
    (ContextLengthExceeded, Action.FAILOVER),  # a larger-context route may serve it
    (BadRequest, Action.RAISE),  # 400/413/422: fails anywhere
    (RateLimited, Action.RETRY),  # honouring Retry-After up to the cap, else fail over
    (ProviderUnavailable, Action.RETRY),  # 5xx, 529, 408, 409, connection errors
    (ProviderTimeout, Action.RETRY),
    (InvalidResponse, Action.RETRY),
    (InsufficientCredits, Action.FAILOVER),  # 402 / insufficient_quota: billing, not load
    (AuthenticationError, Action.FAILOVER),  # 401: this provider is misconfigured
    (PermissionDenied, Action.FAILOVER),  # 403
    (ModelNotFound, Action.FAILOVER),  # 404: another provider or model may have it
    (ProviderError, Action.FAILOVER),
)

# Errors that say nothing about the provider's health: they do not count toward its circuit.
NOT_HEALTH_FAILURES: Final = (BadRequest, ModelNotFound)


def action_for(error: ProviderError) -> Action:
    """The policy row for `error`: its class's entry, with `retryable=False` meaning no retry."""
    for cls, action in POLICY:
        if isinstance(error, cls):
            if action is Action.RETRY and not error.retryable:
                return Action.FAILOVER
            if action is Action.FAILOVER and getattr(error, "failover", True) is False:
                return Action.RAISE
            return action
    return Action.FAILOVER


def retry_delay(error: ProviderError, retry_number: int) -> float | None:
    """Seconds to wait before retry `retry_number` (0-based), or None to fail over instead.

    Exponential backoff with full jitter (base `AI_RETRY_BASE_SECONDS`, capped at
    `AI_RETRY_MAX_BACKOFF_SECONDS`); a provider's Retry-After is honoured when it is at most
    `AI_MAX_RETRY_WAIT_SECONDS`, and a longer one fails over rather than sleeping.
    """
    wait_cap = float(getattr(settings, "AI_MAX_RETRY_WAIT_SECONDS", 10.0))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None and retry_after > 0:
        return float(retry_after) if retry_after <= wait_cap else None
    base = float(getattr(settings, "AI_RETRY_BASE_SECONDS", 0.5))
    ceiling = min(float(getattr(settings, "AI_RETRY_MAX_BACKOFF_SECONDS", 8.0)), base * 2**retry_number)
    return random.uniform(0, ceiling)


# --- resolution ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One (provider, model) the call may try, with why it sits where it does."""

    provider: ProviderConfig
    model: str
    route_priority: int
    weight: int
    circuit: health.Circuit = health.CLOSED

    @property
    def name(self) -> str:
        return self.provider.name


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    requested: str
    alias: str | None
    strategy: str
    mode: str
    candidates: tuple[Candidate, ...]


def _weighted_shuffle(items: Sequence[Candidate]) -> list[Candidate]:
    if len(items) < 2:
        return list(items)
    # Efraimidis–Spirakis: sort by u^(1/w), largest first.
    return sorted(items, key=lambda c: random.random() ** (1.0 / c.weight), reverse=True)


def _by_priority(cands: Sequence[Candidate]) -> list[Candidate]:
    groups: dict[tuple[int, int], list[Candidate]] = {}
    for cand in cands:
        groups.setdefault((cand.route_priority, cand.provider.priority), []).append(cand)
    ordered: list[Candidate] = []
    for key in sorted(groups):
        ordered.extend(_weighted_shuffle(groups[key]))
    return ordered


def _price_total(cfg: RegistryConfig, cand: Candidate) -> Decimal | None:
    price = cfg.prices.get((cand.provider.kind, cand.model))
    if price is None or price.prompt is None or price.completion is None:
        return None
    return price.prompt + price.completion


def _ordered(cfg: RegistryConfig, strategy: str, cands: list[Candidate]) -> list[Candidate]:
    if strategy == "weighted":
        return _weighted_shuffle(cands)
    base = _by_priority(cands)
    if strategy == "cheapest":
        prices = {id(c): _price_total(cfg, c) for c in base}
        return sorted(base, key=lambda c: (prices[id(c)] is None, prices[id(c)] or 0))
    if strategy == "fastest":
        seen = health.latency.read_many((c.name, c.model) for c in base)
        return sorted(
            base, key=lambda c: (seen.get((c.name, c.model)) is None, seen.get((c.name, c.model), 0.0))
        )
    return base


def _pinned_provider(cfg: RegistryConfig) -> ProviderConfig | None:
    return next((p for p in cfg.provider_order if p.kind == cfg.mode), None)


def _alias_candidates(cfg: RegistryConfig, alias: AliasConfig) -> list[Candidate]:
    pinned = _pinned_provider(cfg) if cfg.mode != "auto" else None
    cands: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for route in alias.routes:
        provider = cfg.providers.get(route.provider)
        if provider is None or not provider.usable:
            continue
        model = route.model
        if cfg.mode != "auto" and provider.kind != cfg.mode:
            if pinned is None:
                continue
            if not pinned.usable:
                continue
            provider, model = pinned, normalize_model(route.model, pinned.kind)
        if (provider.name, model) in seen:
            continue
        seen.add((provider.name, model))
        cands.append(_candidate(provider, model, route))
    return cands


def _candidate(provider: ProviderConfig, model: str, route: RouteConfig | None = None) -> Candidate:
    return Candidate(
        provider=provider,
        model=model,
        route_priority=route.priority if route else provider.priority,
        weight=(route.weight if route else 1) * provider.weight,
    )


def _model_candidates(cfg: RegistryConfig, name: str) -> list[Candidate]:
    cands = []
    for provider in cfg.provider_order:
        if (cfg.mode != "auto" and provider.kind != cfg.mode) or not provider.usable:
            continue
        if can_serve(name, provider.kind):
            cands.append(_candidate(provider, normalize_model(name, provider.kind)))
    return cands


def _no_route_error(cfg: RegistryConfig, requested: str, alias: str | None) -> ConfigurationError:
    mode_hint = f" (mode is '{cfg.mode}': only {cfg.mode} providers serve)" if cfg.mode != "auto" else ""
    problems = "".join(f" {p.problem}" for p in cfg.provider_order if p.problem)
    if not cfg.providers:
        return ConfigurationError(
            "No AI provider is configured: add one under Admin › AI › Providers, or set "
            "OPENROUTER_API_KEY (or OPENAI_API_KEY / ANTHROPIC_API_KEY)."
        )
    alias_cfg = cfg.aliases.get(alias) if alias is not None else None
    if alias_cfg is not None and alias_cfg.routes and problems:
        # The routes exist; what stops them is their providers (no key, undecryptable key...).
        return ConfigurationError(
            f"Alias '{alias}' has {len(alias_cfg.routes)} enabled route(s), but none can serve now"
            f"{mode_hint}:{problems}"
        )
    if alias is not None:
        return ConfigurationError(
            f"No enabled route for alias '{alias}'{mode_hint}: add one under Admin › AI › Model aliases, "
            f"or set OPENROUTER_API_KEY.{problems}"
        )
    return ConfigurationError(
        f"No enabled provider can serve model '{requested}'{mode_hint}: add a provider of its kind "
        f"under Admin › AI › Providers, or an alias of that name under Admin › AI › Model aliases.{problems}"
    )


def static_candidates(
    cfg: RegistryConfig, model: str | None
) -> tuple[str, str | None, str, tuple[Candidate, ...]]:
    """(requested, alias, strategy, candidates before shuffling and circuits), memoized per snapshot."""
    requested = model or cfg.default_alias
    hit = cfg.memo.get(requested)
    if hit is not None:
        return hit
    alias_cfg = cfg.aliases.get(requested)
    if alias_cfg is not None:
        result = (requested, requested, alias_cfg.strategy, tuple(_alias_candidates(cfg, alias_cfg)))
    elif model is None:
        result = (requested, requested, "priority", ())
    else:
        result = (requested, None, "priority", tuple(_model_candidates(cfg, requested)))
    cfg.memo[requested] = result
    return result


def resolve(cfg: RegistryConfig, model: str | None) -> Plan:
    """The candidates for one call, in the order to try them. Raises `ConfigurationError` if none."""
    requested, alias, strategy, cands = static_candidates(cfg, model)
    if not cands:
        raise _no_route_error(cfg, requested, alias)
    ordered = _ordered(cfg, strategy, list(cands))
    circuits = health.read_many({c.name for c in ordered})
    if circuits:
        ordered = [c if c.name not in circuits else _with_circuit(c, circuits[c.name]) for c in ordered]
        ordered = _open_last(ordered)
    return Plan(requested=requested, alias=alias, strategy=strategy, mode=cfg.mode, candidates=tuple(ordered))


def _with_circuit(cand: Candidate, circuit: health.Circuit) -> Candidate:
    return Candidate(
        provider=cand.provider,
        model=cand.model,
        route_priority=cand.route_priority,
        weight=cand.weight,
        circuit=circuit,
    )


def _open_last(cands: Iterable[Candidate]) -> list[Candidate]:
    ready, waiting = [], []
    for cand in cands:
        (waiting if cand.circuit.state() == "open" else ready).append(cand)
    waiting.sort(key=lambda c: c.circuit.open_until)
    return ready + waiting


# --- explaining a plan (admin route explain, `ai_check`) -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateInfo:
    position: int
    provider: str
    kind: str
    model: str
    route_priority: int
    provider_priority: int
    weight: int
    circuit: str
    recovers_at: float | None
    key_source: str
    usable: bool
    problem: str
    price: Price | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    requested: str
    alias: str | None
    strategy: str
    mode: str
    failover_enabled: bool
    candidates: tuple[CandidateInfo, ...]
    error: str = ""


def explain(model: str | None = None, cfg: RegistryConfig | None = None) -> Explanation:
    """Where the next call for `model` would go and why, from the router's own resolution."""
    from . import config

    cfg = cfg or config.current()
    try:
        plan = resolve(cfg, model)
    except ConfigurationError as exc:
        requested = model or cfg.default_alias
        return Explanation(
            requested=requested,
            alias=requested if requested in cfg.aliases else None,
            strategy="",
            mode=cfg.mode,
            failover_enabled=cfg.failover_enabled,
            candidates=(),
            error=str(exc),
        )
    latencies = health.latency.read_many((c.name, c.model) for c in plan.candidates)
    infos = tuple(
        CandidateInfo(
            position=i,
            provider=c.name,
            kind=c.provider.kind,
            model=c.model,
            route_priority=c.route_priority,
            provider_priority=c.provider.priority,
            weight=c.weight,
            circuit=c.circuit.state(),
            recovers_at=c.circuit.open_until or None,
            key_source=c.provider.key_source,
            usable=c.provider.usable,
            problem=c.provider.problem,
            price=cfg.prices.get((c.provider.kind, c.model)),
            latency_ms=latencies.get((c.name, c.model)),
        )
        for i, c in enumerate(plan.candidates, start=1)
    )
    return Explanation(
        requested=plan.requested,
        alias=plan.alias,
        strategy=plan.strategy,
        mode=plan.mode,
        failover_enabled=cfg.failover_enabled,
        candidates=infos,
    )


def explain_as_dict(explanation: Explanation) -> dict[str, Any]:
    return {
        "requested": explanation.requested,
        "alias": explanation.alias,
        "strategy": explanation.strategy,
        "mode": explanation.mode,
        "failover_enabled": explanation.failover_enabled,
        "error": explanation.error,
        "candidates": [
            {
                "position": c.position,
                "provider": c.provider,
                "kind": c.kind,
                "model": c.model,
                "route_priority": c.route_priority,
                "provider_priority": c.provider_priority,
                "weight": c.weight,
                "circuit": c.circuit,
                "recovers_at": c.recovers_at,
                "key_source": c.key_source,
                "usable": c.usable,
                "problem": c.problem,
            }
            for c in explanation.candidates
        ],
    }
