"""The loopback fake provider server: OpenAI, Anthropic and OpenRouter wire formats on 127.0.0.1.

End-to-end tests and benchmarks point provider rows at it instead of the internet. It is a small
HTTP/1.1 server written directly on asyncio streams (keep-alive, Content-Length and chunked
bodies), so it can misbehave on purpose in ways a framework would hide: close a connection without
answering, cut a chunked SSE stream before its terminator, send HTML or broken JSON with a 200.

Each *tenant* is an independent fake account with its own scripted faults, counters, required key
and reply, addressed by the first path segment::

    server = FakeProviderServer().start()
    server.base_url("openai", tenant="a")        # http://127.0.0.1:<port>/a/openai/v1
    server.base_url("anthropic", tenant="b")     # http://127.0.0.1:<port>/b/anthropic
    server.base_url("openrouter", tenant="c")    # http://127.0.0.1:<port>/c/openrouter/api/v1
    server.base_url("azure", tenant="d") + "/openai/deployments/gpt-4o"   # Azure OpenAI, classic
    server.script("a", Fault(status=429, headers={"retry-after": "1"}), Fault(status=503))
    server.count("a", "/chat/completions")       # requests that tenant received

The server runs in a daemon thread with its own event loop; every public method is thread-safe.
Run it standalone with ``python -m tests.fakes.server --port 8900`` (no Django needed). Bodies are
built by `tests.fakes.wire`, which documents the token counts and fake prices.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

from . import wire
from .wire import FLAVORS, Reply

__all__ = ["FLAVORS", "FakeProviderServer", "Fault", "RecordedRequest"]

DEFAULT_TENANT = "default"
_PREFIX = {"openai": "/v1/", "anthropic": "/v1/", "openrouter": "/api/v1/"}
_BASE_SUFFIX = {"openai": "/v1", "anthropic": "", "openrouter": "/api/v1", "azure": ""}
_AZURE_DEPLOYMENTS = "/openai/deployments/"
_AZURE_V1 = "/openai/v1/"
_CHAT_ENDPOINT = {"openai": "chat/completions", "anthropic": "messages", "openrouter": "chat/completions"}
_ID_HEADER = {"openai": "x-request-id", "anthropic": "request-id", "openrouter": "X-Generation-Id"}
_REASONS = {s.value: s.phrase for s in HTTPStatus} | {524: "A Timeout Occurred", 529: "Site Overloaded"}
_READ_LIMIT = 16 * 1024 * 1024
_BACKLOG = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One scripted misbehaviour, consumed by the next request(s) to a tenant.

    With only `status`, the reply is that flavor's real error body for the status (`code`
    overrides its error code/type). `body` replaces the body verbatim (status 200 unless given).
    `drop` closes the connection without a response; `html` sends an HTML error page;
    `malformed` sends a 200 whose body is not JSON. `stream_cut_after=n` streams n content chunks
    then closes the connection without a terminator (a non-streamed reply is cut mid-body);
    `stream_error_after=n` streams n chunks then the flavor's in-band error event (a non-streamed
    request gets the error as a plain HTTP error). `delay_s` waits before acting and `headers` are
    added to whatever is sent. A fault with none of the above (only `delay_s`/`headers`) lets the
    normal reply through. `times` repeats it; `always` never runs out. `path_suffix` limits the
    fault to requests whose path ends with it (others pass it by without consuming it).
    """

    status: int | None = None
    code: str | None = None
    body: bytes | str | dict[str, Any] | None = field(default=None, hash=False)
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    delay_s: float = 0.0
    drop: bool = False
    html: bool = False
    malformed: bool = False
    stream_cut_after: int | None = None
    stream_error_after: int | None = None
    times: int = 1
    always: bool = False
    path_suffix: str | None = None

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError(
                "Fault.times must be at least 1; use always=True for a fault that never runs out."
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request a tenant received. `headers` has lower-case names; `json` is the parsed body
    (None when the body was empty or not JSON)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False, hash=False)
    body: bytes = field(default=b"", repr=False)
    json: Any = field(default=None, repr=False, hash=False)
    tenant: str = ""
    flavor: str = ""
    endpoint: str = ""
    deployment: str = ""


class _Tenant:
    __slots__ = ("counts", "faults", "key", "recorded", "reply")

    def __init__(self, reply: Reply, max_recorded: int) -> None:
        self.faults: deque[list[Any]] = deque()  # [Fault, remaining uses]
        self.reply = reply
        self.key: str | None = None
        self.recorded: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self.counts: dict[str, int] = {}

    def take_fault(self, path: str) -> Fault | None:
        if not self.faults:
            return None
        entry = self.faults[0]
        fault: Fault = entry[0]
        if fault.path_suffix is not None and not path.endswith(fault.path_suffix):
            return None
        if not fault.always:
            entry[1] -= 1
            if entry[1] <= 0:
                self.faults.popleft()
        return fault


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class FakeProviderServer:
    """A loopback HTTP/1.1 server faking the OpenAI, Anthropic and OpenRouter APIs.

    `text`, `chunks`, `delay_s` and `chunk_delay_s` are the reply every tenant gets until
    `set_reply()` says otherwise (and again after `reset()`); `text=None` means
    "Hello from <tenant>.". At most `max_recorded` requests per tenant are kept for
    `requests()`; `count()` counts them all.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        text: str | None = None,
        chunks: int = 5,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        max_recorded: int = 10_000,
    ) -> None:
        self.host = host
        self._port = port
        self._default_text = text
        self._defaults = {"chunks": chunks, "delay_s": delay_s, "chunk_delay_s": chunk_delay_s}
        self._max_recorded = max_recorded
        self._lock = threading.Lock()
        self._tenants: dict[str, _Tenant] = {}
        self._seq = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = 0

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start (shows whether clients reuse connections)."""
        return self._connections

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    def start(self) -> Self:
        """Start listening in a daemon thread; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("FakeProviderServer is already running; call stop() first.")
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(started, failure), name="fake-provider-server", daemon=True
        )
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError(
                f"FakeProviderServer could not listen on {self.host}:{self._port}"
            ) from failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._serve_connection, self.host, self._port, backlog=_BACKLOG, limit=_READ_LIMIT
                )
            )
        except BaseException as exc:  # reported to start()'s caller
            failure.append(exc)
            loop.close()
            started.set()
            return
        self._port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    # --- scripting (thread-safe) ---------------------------------------------------------------

    def base_url(self, flavor: str, tenant: str = DEFAULT_TENANT) -> str:
        """The base URL an official SDK of `flavor` takes, for `tenant`.

        `"azure"` gives the resource endpoint of a fake Azure OpenAI resource (OpenAI bodies):
        append `/openai/deployments/<name>` for the classic API (which then requires an
        `api-version` query parameter) or `/openai/v1` for the v1 API.
        """
        if flavor not in _BASE_SUFFIX:
            raise ValueError(f"Unknown flavor {flavor!r}; use one of {', '.join(_BASE_SUFFIX)}.")
        if not tenant or "/" in tenant:
            raise ValueError(f"Tenant names are one non-empty path segment, not {tenant!r}.")
        return f"{self.url}/{tenant}/{flavor}{_BASE_SUFFIX[flavor]}"

    def reset(self) -> None:
        """Forget every tenant's faults, counters, recorded requests, keys and replies."""
        with self._lock:
            self._tenants.clear()

    def require_key(self, tenant: str, key: str | None) -> None:
        """Accept only `key` for `tenant` (None: any non-empty key, the default)."""
        with self._lock:
            self._tenant(tenant).key = key

    def script(self, tenant: str, *faults: Fault) -> None:
        """Append faults to `tenant`'s queue; each request consumes the head of the queue."""
        with self._lock:
            queue = self._tenant(tenant).faults
            queue.extend([fault, fault.times] for fault in faults)

    def pending_faults(self, tenant: str) -> int:
        """How many scripted uses are left in `tenant`'s queue (an `always` fault counts once)."""
        with self._lock:
            state = self._tenants.get(tenant)
            return sum(1 if f.always else n for f, n in state.faults) if state else 0

    def set_reply(
        self,
        tenant: str,
        *,
        text: str | None = None,
        chunks: int | None = None,
        chunk_delay_s: float | None = None,
        delay_s: float | None = None,
        tool_call: dict[str, Any] | None = None,
        model: str | None = None,
        cached_tokens: int = 0,
    ) -> None:
        """Replace what a successful reply of `tenant` says; omitted arguments take the server's
        defaults. `tool_call` ({"name": ..., "arguments": {...}}) is answered to requests that
        offer tools; `model` overrides the echoed model; `cached_tokens` of the prompt are
        reported as cache reads."""
        reply = self._default_reply(tenant)
        reply = Reply(
            text=reply.text if text is None else text,
            chunks=reply.chunks if chunks is None else chunks,
            chunk_delay_s=reply.chunk_delay_s if chunk_delay_s is None else chunk_delay_s,
            delay_s=reply.delay_s if delay_s is None else delay_s,
            tool_call=tool_call,
            model=model,
            cached_tokens=cached_tokens,
        )
        with self._lock:
            self._tenant(tenant).reply = reply

    def count(self, tenant: str, path_suffix: str | None = None) -> int:
        """Requests `tenant` received (only those whose path ends with `path_suffix`, if given)."""
        with self._lock:
            state = self._tenants.get(tenant)
            if state is None:
                return 0
            if path_suffix is None:
                return sum(state.counts.values())
            return sum(n for path, n in state.counts.items() if path.endswith(path_suffix))

    def requests(self, tenant: str) -> list[RecordedRequest]:
        """The requests `tenant` received, oldest first."""
        with self._lock:
            state = self._tenants.get(tenant)
            return list(state.recorded) if state else []

    def _default_reply(self, tenant: str) -> Reply:
        text = self._default_text if self._default_text is not None else f"Hello from {tenant}."
        return Reply(text=text, **self._defaults)

    def _tenant(self, tenant: str) -> _Tenant:
        state = self._tenants.get(tenant)
        if state is None:
            state = self._tenants[tenant] = _Tenant(self._default_reply(tenant), self._max_recorded)
        return state

    # --- HTTP ----------------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None or not await self._respond(request, writer):
                    break
        except (asyncio.CancelledError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except (ConnectionError, OSError, ValueError, UnicodeError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        path, _, query = request.target.partition("?")
        route = _route(path)
        if route is None:
            return await _send_unrouted(writer, request, path)
        tenant, flavor, endpoint, deployment = route
        payload = _parse_json(request.body)
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=query,
            headers=request.headers,
            body=request.body,
            json=payload,
            tenant=tenant,
            flavor="azure" if deployment is not None else flavor,
            endpoint=endpoint,
            deployment=deployment or "",
        )
        with self._lock:
            state = self._tenant(tenant)
            state.counts[path] = state.counts.get(path, 0) + 1
            state.recorded.append(record)
            fault = state.take_fault(path)
            reply, key, seq = state.reply, state.key, next(self._seq)
        ids = wire.Ids(seq, int(time.time()))
        exchange = _Exchange(writer, request, flavor, endpoint, payload, ids, deployment)
        return await exchange.run(fault, reply, key)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        body = b""
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return _Request(method, target, version, headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _route(path: str) -> tuple[str, str, str, str | None] | None:
    """`/<tenant>/<flavor><prefix><endpoint>` -> (tenant, flavor, endpoint, deployment), or None.

    Azure paths (`/<tenant>/azure/openai/deployments/<d>/...` and `/<tenant>/azure/openai/v1/...`)
    are the openai flavor; `deployment` is "" for Azure's v1 API and None outside Azure.
    """
    parts = path.split("/", 3)
    if len(parts) < 4 or not parts[1]:
        return None
    tenant, flavor, rest = parts[1], parts[2], "/" + parts[3]
    if flavor == "azure":
        if rest.startswith(_AZURE_V1):
            return tenant, "openai", rest[len(_AZURE_V1) :].rstrip("/"), ""
        if rest.startswith(_AZURE_DEPLOYMENTS):
            deployment, _, endpoint = rest[len(_AZURE_DEPLOYMENTS) :].partition("/")
            return (tenant, "openai", endpoint.rstrip("/"), deployment) if deployment else None
        return None
    prefix = _PREFIX.get(flavor)
    if prefix is None or not rest.startswith(prefix):
        return None
    return tenant, flavor, rest[len(prefix) :].rstrip("/"), None


async def _send_unrouted(writer: asyncio.StreamWriter, request: _Request, path: str) -> bool:
    if path == "/healthz":
        status, body, content_type = 200, b"ok", "text/plain"
    else:
        message = (
            f"No fake provider at {path}: use /<tenant>/openai/v1/..., /<tenant>/anthropic/v1/... "
            "or /<tenant>/openrouter/api/v1/... (FakeProviderServer.base_url() builds them)."
        )
        status, body, content_type = 404, wire.dumps({"error": {"message": message}}), "application/json"
    head = _head(status, content_type, len(body), request.keep_alive, ())
    writer.write(head + body)
    await writer.drain()
    return request.keep_alive


def _head(
    status: int, content_type: str, length: int | None, keep_alive: bool, extra: Any, *, chunked: bool = False
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\ncontent-type: {content_type}\r\n"]
    if length is not None:
        lines.append(f"content-length: {length}\r\n")
    elif chunked:
        lines.append("transfer-encoding: chunked\r\n")
    lines.extend(f"{name}: {value}\r\n" for name, value in extra)
    if not keep_alive:
        lines.append("connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Exchange:
    """One request being answered: auth, faults, routing to an endpoint and the response bytes."""

    __slots__ = ("deployment", "endpoint", "extra", "flavor", "ids", "payload", "request", "writer")

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        request: _Request,
        flavor: str,
        endpoint: str,
        payload: Any,
        ids: wire.Ids,
        deployment: str | None = None,
    ) -> None:
        self.writer = writer
        self.request = request
        self.flavor = flavor
        self.endpoint = endpoint
        self.deployment = deployment
        if deployment and isinstance(payload, dict) and not payload.get("model"):
            payload = {**payload, "model": deployment}  # the deployment picks the model
        self.payload = payload
        self.ids = ids
        id_value = ids.openrouter if flavor == "openrouter" else ids.request_id
        self.extra: list[tuple[str, str]] = [(_ID_HEADER[flavor], id_value)]

    @property
    def model(self) -> str:
        model = self.payload.get("model") if isinstance(self.payload, dict) else None
        return str(model or "")

    async def run(self, fault: Fault | None, reply: Reply, key: str | None) -> bool:
        if fault is not None:
            self.extra.extend(fault.headers.items())
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            outcome = await self._apply_fault(fault)
            if outcome is not None:
                return outcome
        denied = self._auth_error(key)
        if denied is not None:
            return await self.send_error(*denied)
        if self.deployment and "api-version=" not in self.request.target:
            return await self.send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
        method = self.request.method
        if method == "POST" and self.endpoint == _CHAT_ENDPOINT[self.flavor]:
            return await self._chat(reply, fault)
        if method == "GET" and self.endpoint == "models":
            return await self.send_json(200, wire.models_body(self.flavor))
        if method == "GET" and self.flavor == "openrouter" and self.endpoint in ("key", "auth/key"):
            return await self.send_json(200, wire.key_body())
        path = self.request.target.partition("?")[0]
        return await self.send_error(404, None, f"Invalid URL ({method} {path})")

    # --- faults

    async def _apply_fault(self, fault: Fault) -> bool | None:
        """Act on `fault`; None means the normal reply goes ahead (stream faults act later)."""
        if fault.drop:
            self.writer.close()
            return False
        if fault.html:
            status = fault.status or 502
            title = f"{status} {_REASONS.get(status, '')}"
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return await self.send_bytes(status, page.encode(), "text/html; charset=utf-8")
        if fault.malformed:
            if self._streaming():
                return await self.send_bytes(fault.status or 200, b"data: {not json\n\n", "text/event-stream")
            return await self.send_bytes(fault.status or 200, b'{"id": "broken', "application/json")
        if fault.body is not None:
            return await self._send_override(fault)
        if fault.stream_error_after is not None and not self._streaming():
            status = fault.status or wire.DEFAULT_IN_BAND_STATUS[self.flavor]
            return await self.send_error(status, fault.code)
        if fault.status is not None and fault.stream_error_after is None and fault.stream_cut_after is None:
            return await self.send_error(fault.status, fault.code)
        return None

    async def _send_override(self, fault: Fault) -> bool:
        body = fault.body
        if isinstance(body, dict):
            return await self.send_json(fault.status or 200, body)
        data = body.encode() if isinstance(body, str) else bytes(body or b"")
        return await self.send_bytes(fault.status or 200, data, "application/json")

    def _auth_error(self, key: str | None) -> tuple[int, str | None, str | None] | None:
        headers = self.request.headers
        if self.flavor == "anthropic":
            given = headers.get("x-api-key", "")
            if not given:
                return 401, None, "x-api-key header is required"
            if key is not None and given != key:
                return 401, None, "invalid x-api-key"
            if not headers.get("anthropic-version"):
                return 400, None, "anthropic-version: header is required"
            return None
        if self.flavor == "openrouter" and self.endpoint == "models":
            return None  # the catalog is public
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            given = ""
        if not given.strip() and self.flavor == "openai":
            given = headers.get("api-key", "")  # Azure OpenAI's header
        given = given.strip()
        if not given:
            message = (
                "No auth credentials found"
                if self.flavor == "openrouter"
                else "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return 401, None, message
        if key is not None and given != key:
            return 401, None, None
        return None

    # --- chat

    def _streaming(self) -> bool:
        return isinstance(self.payload, dict) and self.payload.get("stream") is True

    def _invalid(self) -> str | None:
        payload = self.payload
        if not isinstance(payload, dict):
            return "The request body is not valid JSON."
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return (
                "messages: Field required" if self.flavor == "anthropic" else "[] is too short - 'messages'"
            )
        if self.flavor == "openai" and not payload.get("model"):
            return "you must provide a model parameter"
        if self.flavor != "anthropic":
            return None
        for name in ("model", "max_tokens"):
            if name not in payload:
                return f"{name}: Field required"
        if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
            return (
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        return None

    async def _chat(self, reply: Reply, fault: Fault | None) -> bool:
        problem = self._invalid()
        if problem is not None:
            return await self.send_error(400, None, problem)
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        answer = wire.make_answer(self.flavor, reply, self.payload)
        cut = fault.stream_cut_after if fault else None
        if not self._streaming():
            body = wire.dumps(wire.completion_body(self.flavor, answer, self.ids))
            if cut is not None:
                return await self._send_truncated(body)
            return await self.send_bytes(200, body, "application/json")
        parts = wire.stream_parts(self.flavor, answer, self.ids, self.payload, reply.chunks)
        error_event = None
        limit = cut
        if fault is not None and fault.stream_error_after is not None:
            status = fault.status or wire.DEFAULT_IN_BAND_STATUS[self.flavor]
            error_event = wire.stream_error_event(self.flavor, status, fault.code, answer.model, self.ids)
            limit = fault.stream_error_after
        return await self._send_stream(parts, reply.chunk_delay_s, limit, error_event, cut is not None)

    # --- writing

    async def send_error(self, status: int, code: str | None = None, message: str | None = None) -> bool:
        body = wire.error_body(
            self.flavor, status, code=code, model=self.model, message=message, request_id=self.ids.request_id
        )
        return await self.send_json(status, body)

    async def send_json(self, status: int, obj: Any) -> bool:
        return await self.send_bytes(status, wire.dumps(obj), "application/json")

    async def send_bytes(self, status: int, body: bytes, content_type: str) -> bool:
        keep_alive = self.request.keep_alive
        self.writer.write(_head(status, content_type, len(body), keep_alive, self.extra) + body)
        await self.writer.drain()
        return keep_alive

    async def _send_truncated(self, body: bytes) -> bool:
        head = _head(200, "application/json", len(body), True, self.extra)
        self.writer.write(head + body[: len(body) // 2])
        await self.writer.drain()
        return False

    async def _send_stream(
        self,
        parts: wire.StreamParts,
        chunk_delay_s: float,
        limit: int | None,
        error_event: bytes | None,
        cut: bool,
    ) -> bool:
        chunked = self.request.version == "HTTP/1.1"
        keep_alive = self.request.keep_alive and chunked and not cut
        frame = _frame if chunked else bytes
        extra = [*self.extra, ("cache-control", "no-cache")]
        out = [_head(200, "text/event-stream", None, keep_alive, extra, chunked=chunked)]
        out.extend(frame(event) for event in parts.head)
        deltas = parts.deltas if limit is None else parts.deltas[:limit]
        if chunk_delay_s > 0:
            for delta in deltas:
                self.writer.write(b"".join(out))
                await self.writer.drain()
                await asyncio.sleep(chunk_delay_s)
                out = [frame(delta)]
        else:
            out.extend(frame(delta) for delta in deltas)
        if not cut:
            out.extend(frame(event) for event in ([error_event] if error_event else parts.tail))
            if chunked:
                out.append(b"0\r\n\r\n")
        self.writer.write(b"".join(out))
        await self.writer.drain()
        return keep_alive


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted, printing the default tenant's base URL per flavor."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before every reply")
    parser.add_argument("--chunks", type=int, default=5, help="content deltas per streamed reply")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="wait between streamed deltas")
    parser.add_argument("--text", default=None, help='reply text (default "Hello from <tenant>.")')
    args = parser.parse_args(argv)
    server = FakeProviderServer(
        args.host,
        args.port,
        text=args.text,
        chunks=args.chunks,
        delay_s=args.delay_ms / 1000,
        chunk_delay_s=args.chunk_delay_ms / 1000,
    )
    server.start()
    print(f"fake provider server listening on {server.url}")
    for flavor in FLAVORS:
        print(f"{flavor:<11}{server.base_url(flavor)}")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
