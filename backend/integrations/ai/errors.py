"""The registry's exception tree.

Callers catch `AIError` and still tell the cases apart::

    AIError
    ├── ConfigurationError        nothing usable is configured; the message names the fix
    │   └── EncryptionKeyError    FIELD_ENCRYPTION_KEY is missing or malformed
    │       └── KeyDecryptionError   a stored key does not decrypt with FIELD_ENCRYPTION_KEY
    ├── ProviderError             one provider failed (`provider`, `status`, `retryable`)
    │   ├── AuthenticationError   401: the key is wrong, revoked or missing
    │   ├── PermissionDenied      403: the key may not use this model or region
    │   ├── InsufficientCredits   402, or 429 `insufficient_quota`: billing, not load
    │   ├── RateLimited           429: `retry_after` seconds when the provider said so
    │   ├── ProviderUnavailable   5xx, 529, 408, 409, connection refused or dropped
    │   ├── ProviderTimeout       no answer within the provider's timeout
    │   ├── BadRequest            400/413/422: the request would fail anywhere
    │   │   └── ContextLengthExceeded   the prompt is longer than the model's window
    │   ├── ModelNotFound         404: this provider does not serve that model
    │   └── InvalidResponse       a reply that is not what the wire format promises
    ├── StreamInterrupted         a stream failed after text reached the caller (`partial_text`)
    └── AllProvidersFailed        every candidate failed (`attempts`)

Every class takes keyword-only context. No message built here or by a raiser contains an API key:
providers build messages from status codes and the provider's own error text, never from headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AIError(Exception):
    """The root of every error the registry raises."""


class ConfigurationError(AIError):
    """Nothing usable is configured for this call; the message says which admin page or env var fixes it."""


class EncryptionKeyError(ConfigurationError):
    """FIELD_ENCRYPTION_KEY is missing or malformed, so a key cannot be encrypted or decrypted."""


class KeyDecryptionError(EncryptionKeyError):
    """A stored API key does not decrypt with any key in FIELD_ENCRYPTION_KEY."""


class ProviderError(AIError):
    """A provider failed to serve a request.

    `provider` names the Provider row (or the kind, below the router), `status` is the HTTP status
    when there was one, `retryable` says whether the same provider may succeed on a retry, and
    `failover` whether another provider may.
    """

    retryable: bool = False
    failover: bool = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.code = code
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.message}{status}"


class AuthenticationError(ProviderError):
    """The provider refused the key (401)."""


class PermissionDenied(ProviderError):
    """The key is valid but may not do this (403: model, region, moderation block)."""


class InsufficientCredits(ProviderError):
    """The account is out of credits or quota (402, or OpenAI's 429 `insufficient_quota`)."""


class RateLimited(ProviderError):
    """The provider answered 429; `retry_after` is in seconds when it said so."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **context: object) -> None:
        context.setdefault("status", 429)
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """The provider is down, overloaded or unreachable (5xx, 529, 408, 409, connection errors)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """The provider did not answer within its timeout."""

    retryable = True


class BadRequest(ProviderError):
    """The request is invalid (400, 413, 422) and would fail at any provider."""

    failover = False


class ContextLengthExceeded(BadRequest):
    """The prompt does not fit the model's context window; a larger-context route may serve it."""

    failover = True


class ModelNotFound(ProviderError):
    """This provider does not serve the model asked for (404)."""


class InvalidResponse(ProviderError):
    """The reply broke the wire format: not JSON, missing fields, a stream cut before its end."""

    retryable = True


class StreamInterrupted(AIError):
    """A stream failed after text had reached the caller; `partial_text` is what arrived."""

    def __init__(self, message: str, *, partial_text: str = "", cause: AIError | None = None) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.cause = cause


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One try at one candidate, as `AllProvidersFailed` and the ledger record it."""

    provider: str
    model: str
    error: str = ""
    status: int | None = None
    latency_ms: float = 0.0
    message: str = ""
    skipped: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "model": self.model,
            "error": self.error,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "message": self.message,
            "skipped": self.skipped,
        }


class AllProvidersFailed(AIError):
    """Every candidate for the call failed; `attempts` lists each try in order."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        self.attempts = tuple(attempts)
        summary = "; ".join(
            f"{a.provider}/{a.model}: {a.error}" + (f" {a.status}" if a.status else "") for a in self.attempts
        )
        super().__init__(f"{message} [{summary}]" if summary else message)

    @property
    def last_error(self) -> str:
        return self.attempts[-1].error if self.attempts else ""
