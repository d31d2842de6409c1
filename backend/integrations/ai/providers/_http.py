"""Pure helpers every provider shares: SSE decoding, retry hints and failure -> error mapping.

`SSEDecoder` turns lines into events (reference §9); `error_from_http()` and `error_from_event()`
turn a status and body, or an in-band stream error, into the `errors.py` class that retry and
failover read; `parse_retry_after()` and the `*_reset_delay()` functions say how long to wait; and
`TransportErrors` maps every httpx exception onto a Panel error at the call site, as httpx's own
`map_httpcore_exceptions()` does for httpcore. Nothing here does I/O: the pooled clients and the
request skeleton live in `_client`.

No message built here contains the API key: messages come from status codes, hosts and the
provider's error text, and `redact()` scrubs that text before it is used.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import httpx

from ..errors import (
    AuthenticationError,
    BadRequest,
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
from .base import ProviderSpec

# --------------------------------------------------------------------------------------------------
# Server-sent events (reference §9)


class SSEDecoder:
    """Feed it lines (without their newline); it returns `(event, data)` when a blank line ends one.

    Collects `data:` lines (one optional leading space stripped), keeps the last `event:` value,
    ignores `id:`/`retry:` and `:` comment lines (OpenRouter's `: OPENROUTER PROCESSING`), and
    tolerates `\\r`. `flush()` returns an event left open when the body ended without a blank line
    (several real Anthropic captures end that way).
    """

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        if line and line[-1] == "\r":
            line = line[:-1]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, _, value = line.partition(":")
        if value and value[0] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> tuple[str, str] | None:
        return self._dispatch()

    def _dispatch(self) -> tuple[str, str] | None:
        data, event = self._data, self._event
        self._event = ""
        if not data:
            return None
        self._data = []
        return event, data[0] if len(data) == 1 else "\n".join(data)


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Every `(event, data)` pair in `lines`, including one left open at the end."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    event = decoder.flush()
    if event is not None:
        yield event


# --------------------------------------------------------------------------------------------------
# Retry hints (reference §5.3)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `Retry-After` (seconds, float allowed, or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value and (ms := _seconds(value.strip())) is not None:
        return ms / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_duration(text: str) -> float | None:
    """OpenAI's reset durations (`6m0s`, `12ms`, `1.5s`, `1h2m`) or plain seconds, in seconds."""
    text = text.strip()
    if _DURATION.fullmatch(text):
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return _seconds(text)


def parse_timestamp_delay(text: str, *, now: float | None = None) -> float | None:
    """Seconds from now until an RFC 3339 timestamp (Anthropic's `anthropic-ratelimit-*-reset`)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _reset_delay(
    headers: Mapping[str, str], pairs: Iterable[tuple[str, str]], parse: Callable[[str], float | None]
) -> float | None:
    # Prefer the limits that are exhausted (remaining "0"); the longest of those is the real wait.
    exhausted: list[float] = []
    known: list[float] = []
    for remaining_name, reset_name in pairs:
        reset = headers.get(reset_name)
        delay = parse(reset) if reset else None
        if delay is None:
            continue
        known.append(delay)
        if (headers.get(remaining_name) or "").strip() == "0":
            exhausted.append(delay)
    chosen = exhausted or known
    return max(chosen) if chosen else None


_OPENAI_LIMITS = tuple(
    (f"x-ratelimit-remaining-{r}", f"x-ratelimit-reset-{r}") for r in ("requests", "tokens")
)
_ANTHROPIC_LIMITS = tuple(
    (f"anthropic-ratelimit-{r}-remaining", f"anthropic-ratelimit-{r}-reset")
    for r in ("requests", "tokens", "input-tokens", "output-tokens")
)


def openai_reset_delay(headers: Mapping[str, str]) -> float | None:
    """The wait implied by OpenAI's `x-ratelimit-reset-{requests,tokens}` durations."""
    return _reset_delay(headers, _OPENAI_LIMITS, parse_duration)


def anthropic_reset_delay(headers: Mapping[str, str]) -> float | None:
    """The wait implied by Anthropic's `anthropic-ratelimit-*-reset` timestamps."""
    return _reset_delay(headers, _ANTHROPIC_LIMITS, parse_timestamp_delay)


def parse_should_retry(headers: Mapping[str, str]) -> bool | None:
    """`x-should-retry: true|false` overrides the status rule; None when absent or unreadable."""
    value = (headers.get("x-should-retry") or "").strip().lower()
    return {"true": True, "false": False}.get(value)


# --------------------------------------------------------------------------------------------------
# Status and body -> error class (reference §5.1, §5.2, §5.4)

_SECRET_LIKE = re.compile(r"\b(sk-|sk_|key-)[\w\-*.]{6,}")
_CONTEXT_MESSAGE = re.compile(
    r"context[ _-]?(length|window)|maximum context|prompt is too long|input is too long|too many tokens"
    r"|reduce the length of the (messages|prompt)",
    re.IGNORECASE,
)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_window_exceeded"})
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_error", "insufficient_credits"})
_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: ModelNotFound,
    408: ProviderUnavailable,
    409: ProviderUnavailable,
    429: RateLimited,
}
# In-band errors carry a code or type but no status; this is the status each usually comes with.
EVENT_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_HINTS: dict[type[ProviderError], str] = {
    AuthenticationError: "check the provider's API key under Admin › AI › Providers",
    PermissionDenied: "the key may not use this model or region",
    InsufficientCredits: "add credits or raise the spending limit at the provider",
    ModelNotFound: "check the route's model id against the provider's model list",
    ContextLengthExceeded: "shorten the prompt or route the alias to a larger-context model",
}


def redact(text: str, secret: str = "") -> str:
    """`text` with `secret` and anything shaped like an API key replaced."""
    # The key goes out stripped, so that is the form a server echoes back.
    secret = secret.strip()
    if secret and secret in text:
        text = text.replace(secret, "[redacted]")
    return _SECRET_LIKE.sub(r"\1[redacted]", text)


class ErrorInfo(NamedTuple):
    """What an error body says: its message, code and type, and retry hints some providers add."""

    message: str
    code: str | None = None
    type: str | None = None
    request_id: str | None = None
    retry_after: float | None = None
    retryable: bool | None = None


def _html_title(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return " ".join(match.group(1).split())[:120] if match else ""


def describe_non_json(text: str, status: int) -> str:
    stripped = text.strip()
    if not stripped:
        return f"answered HTTP {status} with an empty body"
    if stripped[:1] == "<":
        title = _html_title(stripped)
        return f"answered with an HTML page{f' ({title!r})' if title else ''} instead of JSON"
    return f"answered with a non-JSON body: {' '.join(stripped[:200].split())!r}"


def _code_text(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else str(value)


def _availability_hints(err: Mapping[str, Any]) -> tuple[float | None, bool | None]:
    # OpenRouter: `error.availability.{retry_after,retryable}`, sometimes mirrored in metadata.
    retry_after, retryable = None, None
    for holder in (err.get("availability"), err.get("metadata")):
        if not isinstance(holder, Mapping):
            continue
        value = holder.get("retry_after")
        if retry_after is None and isinstance(value, int | float) and not isinstance(value, bool):
            retry_after = max(0.0, float(value))
        if retryable is None and isinstance(holder.get("retryable"), bool):
            retryable = holder["retryable"]
    return retry_after, retryable


def error_info(payload: Any) -> ErrorInfo:
    """Read the message, code and type out of any of the three providers' error bodies (§5.1)."""
    if not isinstance(payload, Mapping):
        return ErrorInfo(message=str(payload)[:300])
    err = payload.get("error")
    if isinstance(err, str):
        return ErrorInfo(message=err)
    if not isinstance(err, Mapping):
        detail = payload.get("message") or payload.get("detail") or payload
        return ErrorInfo(message=str(detail)[:300])
    metadata = err.get("metadata") if isinstance(err.get("metadata"), Mapping) else {}
    retry_after, retryable = _availability_hints(err)
    return ErrorInfo(
        message=str(err.get("message") or "")[:500],
        code=_code_text(metadata.get("error_type")) or _code_text(err.get("code")),
        type=_code_text(err.get("type")),
        request_id=payload.get("request_id") if isinstance(payload.get("request_id"), str) else None,
        retry_after=retry_after,
        retryable=retryable,
    )


def error_class(status: int, info: ErrorInfo) -> type[ProviderError]:
    """The one status/body -> class table; context length and billing codes win over the status."""
    tags = {info.code, info.type}
    if tags & _QUOTA_CODES and status in (402, 403, 429):
        return InsufficientCredits
    if status in (400, 413, 422):
        if tags & _CONTEXT_CODES or _CONTEXT_MESSAGE.search(info.message):
            return ContextLengthExceeded
        return BadRequest
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ProviderUnavailable
    return ProviderError


def make_error(
    cls: type[ProviderError],
    message: str,
    *,
    provider: str,
    status: int | None,
    retry_after: float | None = None,
    retryable: bool | None = None,
    request_id: str | None = None,
    code: str | None = None,
) -> ProviderError:
    """Instantiate any error class uniformly; every error gets a `retry_after` attribute (maybe None)."""
    context: dict[str, Any] = {"provider": provider, "status": status, "request_id": request_id, "code": code}
    if retryable is not None:
        context["retryable"] = retryable
    if cls is RateLimited or cls is ProviderUnavailable:
        return cls(message, retry_after=retry_after, **context)
    error = cls(message, **context)
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def _compose(cls: type[ProviderError], text: str, secret: str) -> str:
    text = redact(text, secret).strip() or "no error message"
    hint = _HINTS.get(cls)
    return f"{text}; {hint}" if hint else text


def _redirect_error(provider: str, status: int, headers: Mapping[str, str]) -> ProviderError:
    location = headers.get("location") or ""
    host = httpx.URL(location).host if location else ""
    where = f" to {host or location[:80]!r}" if (host or location) else ""
    return make_error(
        InvalidResponse,
        f"answered with a redirect{where}, which is never followed: set the provider's base URL to the "
        "address that serves the API",
        provider=provider,
        status=status,
        retryable=False,
    )


PARSE_ERRORS = (KeyError, TypeError, IndexError, AttributeError, ValueError)
"""What reading an unexpected JSON shape raises; providers turn these into `InvalidResponse`."""


def request_id_from(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id") or headers.get("request-id") or headers.get("x-generation-id")


def error_from_http(
    *,
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secret: str = "",
    reset_delay: Callable[[Mapping[str, str]], float | None] | None = None,
) -> ProviderError:
    """The Panel error for a non-2xx response (JSON, HTML, text or empty body alike)."""
    if 300 <= status < 400:
        return _redirect_error(provider, status, headers)
    try:
        info = error_info(json.loads(body))
    except ValueError:
        info = ErrorInfo(message=describe_non_json(body.decode("utf-8", "replace"), status))
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = info.retry_after
    if retry_after is None and status == 429 and reset_delay is not None:
        retry_after = reset_delay(headers)
    should_retry = parse_should_retry(headers)
    cls = error_class(status, info)
    return make_error(
        cls,
        _compose(cls, info.message, secret),
        provider=provider,
        status=status,
        retry_after=retry_after,
        retryable=should_retry if should_retry is not None else info.retryable,
        request_id=request_id_from(headers) or info.request_id,
        code=info.code or info.type,
    )


def _http_status(code: Any) -> int | None:
    # OpenRouter's in-band `code` is the HTTP status; other servers put their own numbers there
    # (-1, 1301, 40001), which are no status: the code or type then decides.
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return None


def error_from_event(
    payload: Mapping[str, Any], *, provider: str, secret: str = "", request_id: str | None = None
) -> ProviderError:
    """The Panel error for an in-band stream error (status 200 already sent), by its code or type."""
    info = error_info(payload)
    err = payload.get("error")
    raw_code = err.get("code") if isinstance(err, Mapping) else None
    status = (
        _http_status(raw_code)
        or EVENT_STATUS.get(info.code or "")
        or EVENT_STATUS.get(info.type or "")
        or 500
    )
    cls = error_class(status, info)
    message = _compose(cls, f"the stream failed after it started: {info.message or 'no message'}", secret)
    return make_error(
        cls,
        message,
        provider=provider,
        status=status,
        retry_after=info.retry_after,
        retryable=info.retryable,
        request_id=request_id or info.request_id,
        code=info.code or info.type,
    )


# --------------------------------------------------------------------------------------------------
# httpx exceptions -> Panel errors


_TRANSPORT: dict[type[BaseException], tuple[type[ProviderError], str, bool | None]] = {
    httpx.ConnectTimeout: (ProviderTimeout, "could not connect to {host} within {connect}s", None),
    httpx.ReadTimeout: (ProviderTimeout, "sent nothing for {read}s (read timeout) from {host}", None),
    httpx.WriteTimeout: (ProviderTimeout, "could not send the request to {host} within {read}s", None),
    httpx.PoolTimeout: (
        ProviderTimeout,
        "no pooled connection to {host} came free within {read}s; raise the provider's pool size",
        None,
    ),
    httpx.TimeoutException: (ProviderTimeout, "timed out talking to {host}", None),
    httpx.ConnectError: (ProviderUnavailable, "could not connect to {host}: {detail}", None),
    httpx.RemoteProtocolError: (ProviderUnavailable, "{host} closed the connection mid-response", None),
    httpx.ReadError: (ProviderUnavailable, "the connection to {host} dropped while reading", None),
    httpx.WriteError: (ProviderUnavailable, "the connection to {host} dropped while sending", None),
    httpx.CloseError: (ProviderUnavailable, "the connection to {host} failed while closing", None),
    httpx.ProxyError: (ProviderUnavailable, "the HTTP proxy failed to reach {host}", None),
    httpx.LocalProtocolError: (
        ProviderError,
        "could not send a valid request to {host}: check the API key and extra headers for stray "
        "characters such as newlines",
        False,
    ),
    httpx.UnsupportedProtocol: (
        ProviderError,
        "the base URL must start with http:// or https:// (host {host!r})",
        False,
    ),
    httpx.DecodingError: (InvalidResponse, "sent a body from {host} that could not be decoded", None),
    httpx.TooManyRedirects: (InvalidResponse, "redirected too often ({host})", False),
    httpx.InvalidURL: (ProviderError, "the base URL is not a valid URL; fix it under Admin › AI", False),
    httpx.CookieConflict: (ProviderError, "sent conflicting cookies ({host})", False),
    httpx.StreamError: (InvalidResponse, "the response stream from {host} was misused: {detail}", False),
    httpx.NetworkError: (ProviderUnavailable, "network failure talking to {host}", None),
    httpx.ProtocolError: (ProviderUnavailable, "HTTP protocol failure talking to {host}", None),
    httpx.TransportError: (ProviderUnavailable, "transport failure talking to {host}", None),
    httpx.RequestError: (ProviderUnavailable, "the request to {host} failed", None),
    httpx.HTTPError: (ProviderError, "the request to {host} failed", None),
}
HTTPX_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.CookieConflict,
    httpx.StreamError,
)


class TransportErrors:
    """Context manager turning every httpx exception into a Panel error naming the provider.

    Stateless once built, so one instance per provider serves every thread and task at once.
    With `end_marker`, it guards the body of a stream already answered 200: a connection that
    closes or breaks there is a stream cut before its end marker (`InvalidResponse`).
    """

    __slots__ = ("_connect", "_end_marker", "_host", "_provider", "_read", "_secret")

    def __init__(self, spec: ProviderSpec, host: str, *, end_marker: str | None = None) -> None:
        self._provider = spec.name
        self._secret = spec.api_key
        self._host = host
        self._connect = spec.connect_timeout_s
        self._read = spec.timeout_s
        self._end_marker = end_marker

    def __enter__(self) -> TransportErrors:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, HTTPX_ERRORS):
            return False
        raise self.convert(exc) from exc

    def convert(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, httpx.HTTPStatusError):
            response = exc.response
            try:
                body = response.content
            except httpx.ResponseNotRead:
                body = b""
            return error_from_http(
                provider=self._provider,
                status=response.status_code,
                headers=response.headers,
                body=body,
                secret=self._secret,
            )
        if self._end_marker and isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            message = (
                f"the stream ended before its end marker ({self._end_marker}): {self._host} closed the "
                "connection mid-stream; the reply is cut"
            )
            return make_error(InvalidResponse, message, provider=self._provider, status=None)
        entry = next(_TRANSPORT[k] for k in type(exc).__mro__ if k in _TRANSPORT)
        cls, template, retryable = entry
        detail = redact(str(exc), self._secret)[:200] or type(exc).__name__
        message = template.format(host=self._host, connect=self._connect, read=self._read, detail=detail)
        return make_error(cls, message, provider=self._provider, status=None, retryable=retryable)


# --------------------------------------------------------------------------------------------------
# Small shared parsers


def as_int(value: Any) -> int:
    """A token count from JSON (int, float or missing) as an int."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def json_text(value: Any) -> str:
    """Tool arguments as JSON text: strings are kept as the model wrote them, objects are encoded."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def header_value(value: str) -> str | bytes:
    """A header value httpx will send: non-ASCII text goes out as UTF-8 bytes instead of failing."""
    return value if value.isascii() else value.encode("utf-8")
