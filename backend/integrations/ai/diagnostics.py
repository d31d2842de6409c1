"""Checks an operator runs: does this provider's key work, and how fast does it answer?

Used by `manage.py ai_check` and the admin's "Test connection". The provider is built from its
row as it is now (enabled or not), with its real key, through the same factory calls use; the
outcome is a small dict safe to show anywhere: it never contains the key.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from .errors import (
    AIError,
    AuthenticationError,
    ConfigurationError,
    InsufficientCredits,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    from .config import ProviderConfig

OUTCOMES: Final = {
    "works": "Works",
    "bad_key": "Bad key",
    "no_credits": "No credits",
    "unreachable": "Unreachable",
    "model_missing": "Model missing",
    "not_configured": "Not configured",
    "error": "Error",
}

_BY_ERROR: Final = (
    (AuthenticationError, "bad_key"),
    (PermissionDenied, "bad_key"),
    (InsufficientCredits, "no_credits"),
    (ProviderTimeout, "unreachable"),
    (ProviderUnavailable, "unreachable"),
    (ModelNotFound, "model_missing"),
    (ConfigurationError, "not_configured"),
)


def outcome_of(error: AIError) -> str:
    return next((code for cls, code in _BY_ERROR if isinstance(error, cls)), "error")


def check_provider(name: str) -> dict[str, Any]:
    """Run the named Provider row's `check()`; returns {ok, outcome, label, latency_ms, message, details}."""
    from .config import provider_from_row
    from .models import Provider

    row = Provider.objects.filter(name=name).first()
    if row is None:
        return _result("not_configured", 0.0, f"No provider named '{name}'.")
    return check_config(provider_from_row(row))


def check_config(provider_cfg: ProviderConfig) -> dict[str, Any]:
    """Run `check()` for one provider of a config snapshot (a row's or the environment's)."""
    from .providers.factory import factory

    if provider_cfg.problem:
        return _result("not_configured", 0.0, provider_cfg.problem)
    started = time.perf_counter()
    try:
        details = factory.get(provider_cfg.spec).check()
    except AIError as exc:
        message = exc.message if isinstance(exc, ProviderError) else str(exc)
        return _result(outcome_of(exc), _ms(started), message, status=getattr(exc, "status", None))
    return _result("works", _ms(started), "The key works.", details=details)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _result(
    outcome: str, latency_ms: float, message: str, *, status: int | None = None, details: Any = None
) -> dict[str, Any]:
    return {
        "ok": outcome == "works",
        "outcome": outcome,
        "label": OUTCOMES[outcome],
        "latency_ms": latency_ms,
        "message": message,
        "status": status,
        "details": details or {},
    }
