"""Per-provider circuit breakers and observed latency, kept in Django's cache.

Each provider's circuit is one cache entry shared by every worker (every host, with Redis):

    closed ──(AI_CIRCUIT_FAILURES consecutive failures)──▶ open ──(cooldown passes)──▶ half-open
      ▲                                                     ▲                              │
      └──────────────────── a success ──────────────────────┼───────── a failure ─────────┘

An open circuit is skipped without any network I/O. A failure while open (or of the half-open
trial) moves the deadline later, never earlier. In half-open one trial call at a time is let
through (`cache.add` elects it across workers). `read_many()` fetches every candidate's state in
one cache round trip.

Latency for the `fastest` strategy is an exponentially weighted moving average kept per process
and published to the cache at most once a second per (provider, model).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX: Final = "ai:circuit:"
_TRIAL_PREFIX: Final = "ai:circuit-trial:"
_LATENCY_PREFIX: Final = "ai:latency:"


@dataclass(frozen=True, slots=True)
class Circuit:
    """A provider's circuit as read at one moment. `open_until` is a wall-clock epoch."""

    failures: int = 0
    open_until: float = 0.0

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.open_until <= 0:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    @property
    def healthy(self) -> bool:
        return self.failures == 0 and self.open_until <= 0


CLOSED: Final = Circuit()


def _threshold() -> int:
    return int(getattr(settings, "AI_CIRCUIT_FAILURES", 5))


def _cooldown() -> float:
    return float(getattr(settings, "AI_CIRCUIT_COOLDOWN_SECONDS", 30.0))


def _state_ttl() -> int:
    return int(getattr(settings, "AI_CIRCUIT_STATE_TTL_SECONDS", 3600))


# Providers this process has written a non-closed circuit for. With a process-local cache nobody
# else can write one, so a call whose candidates are all absent here skips the cache read.
_touched: set[str] = set()
# With a shared cache (Redis), what other workers wrote is read again at most every
# AI_SHARED_STATE_SECONDS per provider; this process's own writes land here at once.
_memo: dict[str, tuple[float, Circuit | None]] = {}


def _memo_seconds() -> float:
    return float(getattr(settings, "AI_SHARED_STATE_SECONDS", 0.1))


def _remember(provider: str, circuit: Circuit | None) -> None:
    _memo[provider] = (time.monotonic() + _memo_seconds(), circuit)


def _fetch(names: list[str]) -> dict[str, Circuit]:
    keys = {_PREFIX + name: name for name in names}
    try:
        found = cache.get_many(list(keys))
    except Exception:
        logger.warning("Circuit state cannot be read from the cache; treating circuits as closed.")
        return {}
    return {keys[key]: Circuit(*value) for key, value in found.items()}


def read_many(providers: Iterable[str]) -> dict[str, Circuit]:
    """Every named provider's circuit, in at most one cache round trip; missing means closed."""
    from .config import cache_is_shared

    names = list(providers)
    if not cache_is_shared():
        return _fetch(names) if not _touched.isdisjoint(names) else {}
    now = time.monotonic()
    result: dict[str, Circuit] = {}
    stale = []
    for name in names:
        hit = _memo.get(name)
        if hit is None or hit[0] <= now:
            stale.append(name)
        elif hit[1] is not None:
            result[name] = hit[1]
    if stale:
        fetched = _fetch(stale)
        for name in stale:
            _remember(name, fetched.get(name))
        result.update(fetched)
    return result


def read(provider: str) -> Circuit:
    return read_many([provider]).get(provider, CLOSED)


def allow(provider: str, circuit: Circuit, now: float | None = None) -> bool:
    """May a call go to this provider now? Half-open lets one trial through across all workers."""
    state = circuit.state(now)
    if state == "closed":
        return True
    if state == "open":
        return False
    trial_ttl = max(1, int(min(_cooldown(), float(getattr(settings, "AI_CIRCUIT_TRIAL_SECONDS", 30)))))
    try:
        return bool(cache.add(_TRIAL_PREFIX + provider, 1, timeout=trial_ttl))
    except Exception:
        return True


def record_success(provider: str, circuit: Circuit) -> None:
    """Close the circuit if it was not already clean (a clean one costs no cache write)."""
    if circuit.healthy:
        return
    _touched.discard(provider)
    _remember(provider, None)
    try:
        cache.delete_many([_PREFIX + provider, _TRIAL_PREFIX + provider])
    except Exception:
        logger.warning("Circuit state for %s cannot be written to the cache.", provider)
        return
    logger.info("Circuit for provider %s closed after a success.", provider)


def record_failure(provider: str, now: float | None = None) -> Circuit:
    """Count a failure; open (or keep open, with a later deadline) at the threshold."""
    now = time.time() if now is None else now
    key = _PREFIX + provider
    _touched.add(provider)
    try:
        stored = cache.get(key)
        previous = Circuit(*stored) if stored else CLOSED
        failures = previous.failures + 1
        open_until = previous.open_until
        if failures >= _threshold():
            open_until = max(open_until, now + _cooldown())
        circuit = Circuit(failures, open_until)
        cache.set(key, (circuit.failures, circuit.open_until), timeout=_state_ttl())
        _remember(provider, circuit)
        if previous.state(now) != "open" and circuit.state(now) == "open":
            cache.delete(_TRIAL_PREFIX + provider)
            logger.warning(
                "Circuit for provider %s opened after %d consecutive failures (until %.0f s from now).",
                provider,
                failures,
                open_until - now,
            )
    except Exception:
        logger.warning("Circuit state for %s cannot be written to the cache.", provider)
        return CLOSED
    return circuit


def reset(provider: str | None = None) -> None:
    """Forget circuit state of one provider (in the cache), or this process's record of which
    providers it has written state for (after the cache itself was cleared)."""
    if provider is None:
        _touched.clear()
        _memo.clear()
        return
    _touched.discard(provider)
    _memo.pop(provider, None)
    cache.delete_many([_PREFIX + provider, _TRIAL_PREFIX + provider])


# --- observed latency (the `fastest` strategy) ---------------------------------------------------


class _LatencyBook:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[tuple[str, str], float] = {}
        self.published: dict[tuple[str, str], float] = {}

    def observe(self, provider: str, model: str, latency_ms: float) -> None:
        key = (provider, model)
        now = time.monotonic()
        with self.lock:
            old = self.values.get(key)
            value = latency_ms if old is None else 0.8 * old + 0.2 * latency_ms
            self.values[key] = value
            due = now - self.published.get(key, 0.0) >= 1.0
            if due:
                self.published[key] = now
        if due:
            try:
                cache.set(f"{_LATENCY_PREFIX}{provider}:{model}", value, timeout=_state_ttl())
            except Exception:
                logger.debug("Latency for %s cannot be written to the cache.", provider)

    def read_many(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
        wanted = {f"{_LATENCY_PREFIX}{p}:{m}": (p, m) for p, m in pairs}
        try:
            shared = cache.get_many(list(wanted))
        except Exception:
            shared = {}
        result = {wanted[k]: float(v) for k, v in shared.items()}
        with self.lock:
            for pair in wanted.values():
                if pair in self.values:
                    result[pair] = self.values[pair]
        return result

    def clear(self) -> None:
        with self.lock:
            self.values.clear()
            self.published.clear()


latency = _LatencyBook()
