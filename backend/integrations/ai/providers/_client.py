"""Pooled httpx clients and the I/O skeleton every wire-format provider fills in.

`ClientPool` holds one `httpx.Client` and one `httpx.AsyncClient` per running event loop, sized
and timed from the spec, never following redirects. `HTTPProvider` sends JSON and reads replies
and SSE streams through those clients; a subclass supplies only pure hooks (headers, payload,
reply parser, stream accumulator), so its sync and async methods differ only in their I/O lines.
Every failure goes through the mapping helpers of `_http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import re
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

import httpx

from ..errors import AuthenticationError, InvalidResponse, ProviderError
from ..types import ChatRequest, Completion, StreamChunk
from ._http import (
    HTTPX_ERRORS,
    PARSE_ERRORS,
    SSEDecoder,
    TransportErrors,
    describe_non_json,
    error_from_http,
    redact,
    request_id_from,
)
from .base import AIProvider, ProviderSpec
from .factory import default_base_url

logger = logging.getLogger("backend.integrations.ai.providers")


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for every client: building one loads the CA bundle (~50 ms)."""
    return httpx.create_ssl_context()


# httpcore's pool matches waiting requests to connections by scanning both lists on every
# event, so one pool's cost grows with connections × waiters: measured here, 500 concurrent calls
# through one AsyncClient sized 500 took 2-10 s against a server answering in 20 ms. Shards of at
# most this many connections, used in turn, keep every scan short.
ASYNC_SHARD_SIZE = 32


def shard_limits(size: int, shard_size: int = ASYNC_SHARD_SIZE) -> list[int]:
    """Split a pool of `size` connections into shards of at most `shard_size`, summing to `size`."""
    shards = max(1, -(-size // shard_size))
    return [size // shards + (1 if i < size % shards else 0) for i in range(shards)]


class ClientPool:
    """One `httpx.Client`, and per running event loop a few `httpx.AsyncClient` shards, built on
    first use.

    An `AsyncClient`'s connections belong to the loop that opened them, so each loop gets its own
    shards, kept in a `WeakKeyDictionary`; clients of loops that have closed are dropped when a new
    loop asks. The async pool of `spec.pool_size` connections is split into shards of at most
    `ASYNC_SHARD_SIZE`, taken in turn. Redirects are never followed; limits and timeouts come from
    the spec.
    """

    def __init__(self, spec: ProviderSpec, headers: Mapping[str, str | bytes]) -> None:
        self._timeout = httpx.Timeout(spec.timeout_s, connect=spec.connect_timeout_s)
        size = max(1, spec.pool_size)
        self._limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._shard_limits = [
            httpx.Limits(max_connections=n, max_keepalive_connections=n) for n in shard_limits(size)
        ]
        self._headers = dict(headers)
        self._sync: httpx.Client | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[httpx.AsyncClient]] = (
            weakref.WeakKeyDictionary()
        )
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._closing: set[asyncio.Future[Any]] = set()

    def _options(self, limits: httpx.Limits | None = None) -> dict[str, Any]:
        return {
            "headers": self._headers,
            "timeout": self._timeout,
            "limits": limits or self._limits,
            "follow_redirects": False,
            "verify": ssl_context(),
        }

    def sync(self) -> httpx.Client:
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    self._sync = httpx.Client(**self._options())
                client = self._sync
        return client

    def for_running_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        shards = self._async.get(loop)
        if shards is None:
            with self._lock:
                shards = self._async.get(loop)
                if shards is None:
                    for old in [old for old in self._async if old.is_closed()]:
                        del self._async[old]
                    shards = self._async[loop] = [
                        httpx.AsyncClient(**self._options(limits)) for limits in self._shard_limits
                    ]
        if len(shards) == 1:
            return shards[0]
        return shards[next(self._turn) % len(shards)]

    def async_clients(self) -> int:
        """How many loops hold a client (for tests and diagnostics)."""
        return len(self._async)

    def close(self) -> None:
        """Close the sync client now and every async client its loop can still run."""
        with self._lock:
            client, self._sync = self._sync, None
            pairs = self._take_async()
        if client is not None:
            client.close()
        self._close_async(pairs, skip=None)

    async def aclose(self) -> None:
        """Close every client; the running loop's async client is awaited."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client, self._sync = self._sync, None
            pairs = self._take_async()
        if client is not None:
            client.close()
        for owner, async_client in pairs:
            if owner is loop:
                await async_client.aclose()
        self._close_async(pairs, skip=loop)

    def _take_async(self) -> list[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]:
        pairs = [(loop, client) for loop, shards in self._async.items() for client in shards]
        self._async.clear()
        return pairs

    def _close_async(
        self,
        pairs: list[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]],
        skip: asyncio.AbstractEventLoop | None,
    ) -> None:
        # A client can only be closed on its own loop: schedule it there when that loop runs;
        # a stopped or closed loop's connections are left to the garbage collector.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for owner, client in pairs:
            if owner is skip or owner.is_closed() or not owner.is_running():
                continue
            if owner is running:
                task = owner.create_task(client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            else:
                asyncio.run_coroutine_threadsafe(client.aclose(), owner)


# What h11 refuses in a header value (it would raise with the whole value, key included, in its
# message, and httpx raises a bare UnicodeEncodeError carrying it for non-ASCII text).
_UNSENDABLE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
KEY_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})


def unsendable_header(headers: Mapping[str, str | bytes]) -> str | None:
    """The name of the first header whose value cannot be sent (non-ASCII text or control
    characters, typically an invisible character pasted along with a key), else None."""
    for name, value in headers.items():
        if isinstance(value, str):
            if not value.isascii():
                return name
            value = value.encode("ascii")
        if _UNSENDABLE.search(value):
            return name
    return None


class StreamState(Protocol):
    """What a provider's stream accumulator offers `HTTPProvider.stream()`."""

    done: bool

    def feed(self, event: str, data: str) -> str | None:
        """Take one SSE event; return text to yield, or None. Raises the mapped in-band error."""

    def finish(self) -> StreamChunk:
        """The final chunk; raises `InvalidResponse` when the end marker never came."""


class HTTPProvider(AIProvider):
    """Sends JSON over pooled httpx clients and maps every failure; subclasses own the wire format.

    A subclass sets `chat_path`/`models_path` and implements the pure hooks `_build_headers()`,
    `_build_payload()`, `_parse_completion()` and `_stream_state()`. The sync and async methods
    below differ only in their I/O lines.
    """

    chat_path: ClassVar[str] = "/chat/completions"
    models_path: ClassVar[str] = "/models"
    end_marker: ClassVar[str] = "[DONE]"
    reset_delay: ClassVar[Callable[[Mapping[str, str]], float | None] | None] = None

    def __init__(self, spec: ProviderSpec) -> None:
        super().__init__(spec)
        self.base_url = (spec.base_url or default_base_url(spec.kind, name=spec.name)).rstrip("/")
        self.host = httpx.URL(self.base_url).host or self.base_url
        self._configure()
        self.headers = self._build_headers()
        self.clients = ClientPool(spec, self.headers)
        self.errors = TransportErrors(spec, self.host)
        self.cut_errors = TransportErrors(spec, self.host, end_marker=self.end_marker)
        self.chat_url = self._url(self.chat_path)
        self.bad_header = unsendable_header(self.headers)
        # Calls in progress; a retired instance closes its pools when the last one ends.
        self._active = 0
        self._retired = False
        self._use_lock = threading.Lock()

    # -- hooks -------------------------------------------------------------------------------------

    def _configure(self) -> None:
        """Read kind-specific options from the spec before headers and URLs are built."""

    def _build_headers(self) -> dict[str, str | bytes]:
        raise NotImplementedError("HTTPProvider subclasses must implement _build_headers()")

    def _build_payload(self, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
        raise NotImplementedError("HTTPProvider subclasses must implement _build_payload()")

    def _parse_completion(
        self, data: Mapping[str, Any], headers: Mapping[str, str], request: ChatRequest
    ) -> Completion:
        raise NotImplementedError("HTTPProvider subclasses must implement _parse_completion()")

    def _stream_state(self, request: ChatRequest, headers: Mapping[str, str]) -> StreamState:
        raise NotImplementedError("HTTPProvider subclasses must implement _stream_state()")

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.URL:
        return httpx.URL(self.base_url + path, params=params)

    # -- in-flight accounting ----------------------------------------------------------------------

    def _header_error(self) -> ProviderError:
        name = self.bad_header or ""
        custom = self.spec.option("api_key_header").strip().lower()
        if name.lower() in KEY_HEADERS or (custom and name.lower() == custom):
            return AuthenticationError(
                "the API key contains characters an HTTP header cannot carry (non-ASCII or control "
                "characters, often an invisible one pasted with it): re-enter the key under "
                "Admin › AI › Providers",
                provider=self.spec.name,
            )
        return ProviderError(
            f"the extra header {name!r} has a value an HTTP header cannot carry (non-ASCII or "
            "control characters): fix it under Admin › AI › Providers",
            provider=self.spec.name,
            retryable=False,
        )

    def _acquire(self) -> None:
        if self.bad_header is not None:
            raise self._header_error()
        with self._use_lock:
            self._active += 1

    def _release(self) -> None:
        with self._use_lock:
            self._active -= 1
            if self._retired and not self._active:
                self.clients.close()

    def retire(self) -> None:
        """Close the pools once the calls in progress have finished (now, if there are none).

        A call that still reaches a retired instance is served and closes the pools after itself.
        """
        with self._use_lock:
            self._retired = True
            if not self._active:
                self.clients.close()

    # -- shared pure steps -------------------------------------------------------------------------

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        return error_from_http(
            provider=self.spec.name,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            secret=self.spec.api_key,
            reset_delay=type(self).reset_delay,
        )

    def _models_from(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The `data` array of a models list (every wire format here answers with one)."""
        models = data.get("data")
        if not isinstance(models, list):
            raise self._invalid("answered the models list without a `data` array")
        return [m for m in models if isinstance(m, dict)]

    def _invalid(self, message: str, *, headers: Mapping[str, str] | None = None) -> InvalidResponse:
        error = InvalidResponse(
            redact(message, self.spec.api_key),
            provider=self.spec.name,
            request_id=request_id_from(headers) if headers is not None else None,
        )
        error.retry_after = None  # type: ignore[attr-defined]
        return error

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s: %s %s -> %s", self.spec.name, response.request.method, response.url.path, status
            )
        if not 200 <= status < 300:
            raise self.error_from_response(response)
        try:
            data = json.loads(response.content)
        except ValueError:
            text = response.content.decode("utf-8", "replace")
            raise self._invalid(describe_non_json(text, status), headers=response.headers) from None
        if not isinstance(data, dict):
            raise self._invalid("answered with JSON that is not an object", headers=response.headers)
        return data

    def _completion(self, response: httpx.Response, request: ChatRequest) -> Completion:
        data = self._json(response)
        try:
            return self._parse_completion(data, response.headers, request)
        except PARSE_ERRORS as exc:
            raise self._invalid(
                f"answered with a reply missing required fields ({type(exc).__name__}: {exc})",
                headers=response.headers,
            ) from exc

    def _fallback_chunks(self, response: httpx.Response, request: ChatRequest) -> list[StreamChunk]:
        # Some OpenAI-compatible servers ignore `stream: true` and answer with one JSON body.
        completion = self._completion(response, request)
        final = StreamChunk(
            final=True,
            usage=completion.usage,
            finish_reason=completion.finish_reason,
            model=completion.model,
            request_id=completion.request_id,
            tool_calls=completion.tool_calls,
            reported_cost=completion.reported_cost,
            refusal=completion.refusal,
            upstream_provider=completion.upstream_provider,
            alternatives=completion.alternatives,
        )
        return [StreamChunk(text=completion.text), final] if completion.text else [final]

    def _stream_error(self, response: httpx.Response) -> ProviderError | None:
        if 200 <= response.status_code < 300:
            return None
        return self.error_from_response(response)

    # -- sync --------------------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> Completion:
        payload = self._build_payload(request)
        self._acquire()
        try:
            with self.errors:
                response = self.clients.sync().post(self.chat_url, json=payload)
        finally:
            self._release()
        return self._completion(response, request)

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        payload = self._build_payload(request, stream=True)
        self._acquire()
        try:
            yield from self._stream(request, payload)
        finally:
            self._release()

    def _stream(self, request: ChatRequest, payload: dict[str, Any]) -> Iterator[StreamChunk]:
        with self.errors, self.clients.sync().stream("POST", self.chat_url, json=payload) as response:
            if not 200 <= response.status_code < 300 or _is_json(response):
                response.read()
                if (error := self._stream_error(response)) is not None:
                    raise error
                yield from self._fallback_chunks(response, request)
                return
            state = self._stream_state(request, response.headers)
            decoder = SSEDecoder()
            with self.cut_errors:
                lines = response.iter_lines()
                for line in lines:
                    event = decoder.feed(line)
                    if event is not None and (text := state.feed(*event)) is not None:
                        yield StreamChunk(text=text)
                    if state.done:
                        _drain(lines)
                        break
                else:
                    if (event := decoder.flush()) is not None and (text := state.feed(*event)) is not None:
                        yield StreamChunk(text=text)
        yield state.finish()

    def _get_json(self, url: httpx.URL) -> dict[str, Any]:
        self._acquire()
        try:
            with self.errors:
                response = self.clients.sync().get(url)
        finally:
            self._release()
        return self._json(response)

    # -- async -------------------------------------------------------------------------------------

    async def acomplete(self, request: ChatRequest) -> Completion:
        payload = self._build_payload(request)
        self._acquire()
        try:
            with self.errors:
                response = await self.clients.for_running_loop().post(self.chat_url, json=payload)
        finally:
            self._release()
        return self._completion(response, request)

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:  # type: ignore[override]
        payload = self._build_payload(request, stream=True)
        self._acquire()
        try:
            # aclosing: a caller that stops early must close the inner stream (and its response)
            # before the pools of a retired instance may close.
            async with contextlib.aclosing(self._astream(request, payload)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            self._release()

    async def _astream(self, request: ChatRequest, payload: dict[str, Any]) -> AsyncIterator[StreamChunk]:
        client = self.clients.for_running_loop()
        with self.errors:
            async with client.stream("POST", self.chat_url, json=payload) as response:
                if not 200 <= response.status_code < 300 or _is_json(response):
                    await response.aread()
                    if (error := self._stream_error(response)) is not None:
                        raise error
                    for chunk in self._fallback_chunks(response, request):
                        yield chunk
                    return
                state = self._stream_state(request, response.headers)
                decoder = SSEDecoder()
                with self.cut_errors:
                    lines = response.aiter_lines()
                    async for line in lines:
                        event = decoder.feed(line)
                        if event is not None and (text := state.feed(*event)) is not None:
                            yield StreamChunk(text=text)
                        if state.done:
                            await _adrain(lines)
                            break
                    else:
                        event = decoder.flush()
                        if event is not None and (text := state.feed(*event)) is not None:
                            yield StreamChunk(text=text)
        yield state.finish()

    async def _aget_json(self, url: httpx.URL) -> dict[str, Any]:
        self._acquire()
        try:
            with self.errors:
                response = await self.clients.for_running_loop().get(url)
        finally:
            self._release()
        return self._json(response)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.clients.close()

    async def aclose(self) -> None:
        await self.clients.aclose()


def _drain(lines: Iterator[str]) -> None:
    # Read what follows the end marker (the chunked terminator) so the connection goes back to
    # the pool instead of being closed; a failure after a complete reply changes nothing.
    with contextlib.suppress(*HTTPX_ERRORS):
        for _ in lines:
            pass


async def _adrain(lines: AsyncIterator[str]) -> None:
    with contextlib.suppress(*HTTPX_ERRORS):
        async for _ in lines:
            pass


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")
