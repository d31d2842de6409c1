"""Running one logical call: candidates in order, retries, failover, circuits, cost, ledger row.

`complete`/`acomplete` and `stream`/`astream` share every decision through the pure helpers
below, so the sync and async paths differ only in their I/O lines (as httpx's clients do).
Every call writes exactly one ledger row, whatever happens, including a bug in a provider.

Streams fail over only until the first chunk reaches the caller; after that a failure raises
`StreamInterrupted` with the text received so far, and the ledger row says `interrupted`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

from . import config, health, ledger
from .config import RegistryConfig
from .errors import AIError, AllProvidersFailed, Attempt, InvalidResponse, ProviderError, StreamInterrupted
from .pricing import estimate_cost
from .providers.factory import factory
from .router import NOT_HEALTH_FAILURES, Action, Candidate, Plan, action_for, resolve, retry_delay
from .types import ChatRequest, Completion, Message, StreamChunk, Tool, Usage

REQUEST_PARAMS: Final = frozenset(
    {"max_tokens", "temperature", "top_p", "stop", "user", "response_format", "tools", "tool_choice", "extra"}
)
_CENT: Final = Decimal("0.00000001")


# --- building the request ------------------------------------------------------------------------


def _tool(value: Any) -> Tool:
    if isinstance(value, Tool):
        return value
    fn = value.get("function", value)
    return Tool(
        name=fn["name"],
        description=fn.get("description", ""),
        parameters=fn.get("parameters", {"type": "object", "properties": {}}),
    )


def build_request(
    messages: Sequence[Mapping[str, Any] | Message] | None, prompt: str | None, params: Mapping[str, Any]
) -> ChatRequest:
    """The provider-neutral request for the facade's arguments; the model is set per candidate."""
    unknown = set(params) - REQUEST_PARAMS
    if unknown:
        raise TypeError(
            f"Unknown parameter(s) {', '.join(sorted(unknown))}: use {', '.join(sorted(REQUEST_PARAMS))}; "
            "provider-specific body fields go in extra={...}."
        )
    msgs: list[Message] = [m if isinstance(m, Message) else Message.from_dict(m) for m in messages or ()]
    if prompt is not None:
        msgs.append(Message(role="user", content=prompt))
    if not msgs:
        raise ValueError("Give messages=[{'role': 'user', 'content': ...}] or prompt='...'.")
    stop = params.get("stop") or ()
    return ChatRequest(
        model="",
        messages=tuple(msgs),
        max_tokens=params.get("max_tokens"),
        temperature=params.get("temperature"),
        top_p=params.get("top_p"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        user=params.get("user"),
        response_format=params.get("response_format"),
        tools=tuple(_tool(t) for t in params.get("tools") or ()),
        tool_choice=params.get("tool_choice"),
        extra=params.get("extra") or {},
    )


# --- per-call state and pure decisions -----------------------------------------------------------


@dataclass(slots=True)
class _Call:
    cfg: RegistryConfig
    plan: Plan
    request: ChatRequest
    rec: ledger.CallRecord
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


def _start(
    cfg: RegistryConfig, model: str | None, request: ChatRequest, caller: str, streamed: bool
) -> _Call:
    try:
        plan = resolve(cfg, model)
    except AIError as exc:
        # No candidate at all: the call still gets its ledger row.
        rec = ledger.CallRecord(
            caller=caller,
            requested_model=model or cfg.default_alias,
            outcome="error",
            error_class=type(exc).__name__,
            error_message=str(exc)[:2000],
            streamed=streamed,
        )
        if _in_event_loop():
            ledger.submit(rec)
        else:
            ledger.record(rec)
        raise
    rec = ledger.CallRecord(
        caller=caller,
        requested_model=plan.requested,
        alias=plan.alias or "",
        streamed=streamed,
    )
    if cfg.store_prompts:
        rec.prompt_text = ledger.prompt_text(request.messages)
    return _Call(cfg=cfg, plan=plan, request=request, rec=rec)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _order(call: _Call) -> Iterator[Candidate]:
    """Candidates to try, decided one at a time: all (or the first, without failover); an open
    circuit is skipped, but if every candidate is open the one that recovers soonest is tried
    rather than none. Lazy, so a half-open provider's single trial is only claimed when the call
    actually reaches it."""
    cands = list(call.plan.candidates)
    if not call.cfg.failover_enabled:
        cands = cands[:1]
    tried = False
    for cand in cands:
        if health.allow(cand.name, cand.circuit):
            tried = True
            yield cand
        else:
            call.attempts.append(
                Attempt(provider=cand.name, model=cand.model, error="CircuitOpen", skipped=True)
            )
    if not tried and cands:
        yield min(cands, key=lambda c: c.circuit.open_until)


def _failed(call: _Call, cand: Candidate, exc: ProviderError, started: float, retry: int) -> float | None:
    """Record a failed try; return the seconds to wait before retrying this candidate, or None to
    move on. Raises `exc` again when the policy says the request would fail anywhere."""
    call.attempts.append(
        Attempt(
            provider=cand.name,
            model=cand.model,
            error=type(exc).__name__,
            status=exc.status,
            latency_ms=(time.perf_counter() - started) * 1000,
            message=exc.message[:300],
        )
    )
    circuit_open = False
    if not isinstance(exc, NOT_HEALTH_FAILURES):
        circuit_open = health.record_failure(cand.name).state() == "open"
    action = action_for(exc)
    if action is Action.RAISE:
        raise exc
    if action is Action.RETRY and retry < cand.provider.max_retries and not circuit_open:
        return retry_delay(exc, retry)
    return None


def _cost(cfg: RegistryConfig, cand: Candidate, result: Completion) -> tuple[Decimal | None, str]:
    if result.reported_cost is not None:
        return result.reported_cost, "reported"
    price = cfg.prices.get((cand.provider.kind, cand.model)) or cfg.prices.get(
        (cand.provider.kind, result.model)
    )
    cost = estimate_cost(price, result.usage) if price is not None else None
    if cost is None:
        return None, "unknown"
    return cost.quantize(_CENT), "estimated"


def _succeeded(call: _Call, cand: Candidate, result: Completion, started: float) -> Completion:
    health.record_success(cand.name, cand.circuit)
    health.latency.observe(cand.name, cand.model, (time.perf_counter() - started) * 1000)
    cost, source = _cost(call.cfg, cand, result)
    tries = len([a for a in call.attempts if not a.skipped]) + 1
    done = replace(
        result,
        provider=cand.name,
        model=result.model or cand.model,
        cost=cost,
        cost_source=source,
        latency_ms=call.elapsed_ms(),
        attempts=tries,
    )
    call.attempts.append(
        Attempt(provider=cand.name, model=cand.model, latency_ms=(time.perf_counter() - started) * 1000)
    )
    rec = call.rec
    rec.provider, rec.model, rec.outcome = cand.name, done.model, "success"
    rec.finish_reason, rec.request_id = done.finish_reason, done.request_id or ""
    rec.cost, rec.cost_source = cost, source
    ledger.usage_fields(rec, done.usage)
    if call.cfg.store_prompts:
        rec.response_text = done.text
    return done


def _all_failed(call: _Call) -> AllProvidersFailed:
    tried = [a for a in call.attempts if not a.skipped]
    return AllProvidersFailed(
        f"Every candidate for '{call.plan.requested}' failed after {len(tried)} attempt(s)",
        attempts=call.attempts,
    )


def _close(call: _Call, error: BaseException | None) -> ledger.CallRecord:
    rec = call.rec
    rec.attempts = tuple(call.attempts)
    rec.latency_ms = call.elapsed_ms()
    if error is not None:
        rec.outcome = "interrupted" if isinstance(error, StreamInterrupted) else "error"
        rec.error_class = type(error).__name__
        rec.error_message = str(error)[:2000]
        last = next((a for a in reversed(call.attempts) if not a.skipped), None)
        rec.status_code = getattr(error, "status", None) or (last.status if last else None)
        if last and not rec.provider:
            rec.provider, rec.model = last.provider, last.model
    return rec


# --- complete ------------------------------------------------------------------------------------


def complete(model: str | None, request: ChatRequest, *, caller: str = "") -> Completion:
    """Serve one call with failover; always writes its ledger row."""
    call = _start(config.current(), model, request, caller, streamed=False)
    error: BaseException | None = None
    try:
        return _run_sync(call)
    except BaseException as exc:
        error = exc
        raise
    finally:
        ledger.record(_close(call, error))


def _run_sync(call: _Call) -> Completion:
    for cand in _order(call):
        result = _try_sync(call, cand)
        if result is not None:
            return result
    raise _all_failed(call)


def _try_sync(call: _Call, cand: Candidate) -> Completion | None:
    provider = factory.get(cand.provider.spec, version=call.cfg.version)
    req = replace(call.request, model=cand.model)
    for retry in range(cand.provider.max_retries + 1):
        started = time.perf_counter()
        try:
            result = provider.complete(req)
        except ProviderError as exc:
            delay = _failed(call, cand, exc, started, retry)
            if delay is None:
                return None
            time.sleep(delay)
        else:
            return _succeeded(call, cand, result, started)
    return None


async def acomplete(model: str | None, request: ChatRequest, *, caller: str = "") -> Completion:
    """The async twin of `complete()`; its ledger row is written by the background writer."""
    call = _start(await config.acurrent(), model, request, caller, streamed=False)
    error: BaseException | None = None
    try:
        return await _run_async(call)
    except BaseException as exc:
        error = exc
        raise
    finally:
        await ledger.arecord(_close(call, error))


async def _run_async(call: _Call) -> Completion:
    for cand in _order(call):
        result = await _try_async(call, cand)
        if result is not None:
            return result
    raise _all_failed(call)


async def _try_async(call: _Call, cand: Candidate) -> Completion | None:
    provider = factory.get(cand.provider.spec, version=call.cfg.version)
    req = replace(call.request, model=cand.model)
    for retry in range(cand.provider.max_retries + 1):
        started = time.perf_counter()
        try:
            result = await provider.acomplete(req)
        except ProviderError as exc:
            delay = _failed(call, cand, exc, started, retry)
            if delay is None:
                return None
            await asyncio.sleep(delay)
        else:
            return _succeeded(call, cand, result, started)
    return None


# --- stream --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Streaming:
    """What a started stream has delivered so far."""

    cand: Candidate
    started: float
    parts: list[str] = field(default_factory=list)
    final: StreamChunk | None = None


def _first_chunk_seen(call: _Call, state: _Streaming) -> None:
    call.rec.first_chunk_ms = call.elapsed_ms()
    call.rec.provider, call.rec.model = state.cand.name, state.cand.model


def _annotate(call: _Call, state: _Streaming, chunk: StreamChunk) -> StreamChunk:
    """Pass text through; turn the provider's final chunk into the caller's final chunk."""
    if chunk.text:
        state.parts.append(chunk.text)
    if not chunk.final:
        return chunk
    result = Completion(
        text="".join(state.parts),
        model=chunk.model,
        usage=chunk.usage or Usage(),
        finish_reason=chunk.finish_reason or "stop",
        tool_calls=chunk.tool_calls,
        request_id=chunk.request_id,
        reported_cost=chunk.reported_cost,
    )
    done = _succeeded(call, state.cand, result, state.started)
    state.final = replace(
        chunk,
        provider=done.provider,
        model=done.model,
        cost=done.cost,
        latency_ms=done.latency_ms,
        attempts=done.attempts,
    )
    return state.final


def _interrupted(call: _Call, state: _Streaming, exc: BaseException) -> StreamInterrupted:
    partial = "".join(state.parts)
    cause = exc if isinstance(exc, AIError) else None
    if isinstance(exc, ProviderError):
        call.attempts.append(
            Attempt(
                provider=state.cand.name,
                model=state.cand.model,
                error=type(exc).__name__,
                status=exc.status,
                latency_ms=(time.perf_counter() - state.started) * 1000,
                message=exc.message[:300],
            )
        )
        if not isinstance(exc, NOT_HEALTH_FAILURES):
            health.record_failure(state.cand.name)
    if call.cfg.store_prompts:
        call.rec.response_text = partial
    return StreamInterrupted(
        f"The stream from {state.cand.name} failed after {len(partial)} characters: {exc}",
        partial_text=partial,
        cause=cause,
    )


def _check_end(state: _Streaming) -> None:
    """A stream that stopped without its final chunk is an error, never a short success."""
    if state.final is None:
        raise InvalidResponse("the stream ended without its final chunk", provider=state.cand.name)


def stream(model: str | None, request: ChatRequest, *, caller: str = "") -> Iterator[StreamChunk]:
    """Yield the reply as it arrives, failing over only before the first chunk."""
    call = _start(config.current(), model, request, caller, streamed=True)
    error: BaseException | None = None
    try:
        state, first, rest = _open_sync(call)
        _first_chunk_seen(call, state)
        try:
            yield _annotate(call, state, first)
            for chunk in rest:
                yield _annotate(call, state, chunk)
            _check_end(state)
        except (ProviderError, GeneratorExit) as exc:
            rest.close()
            if isinstance(exc, GeneratorExit):
                error = StreamInterrupted(
                    "the caller stopped reading the stream", partial_text="".join(state.parts)
                )
                raise
            error = _interrupted(call, state, exc)
            raise error from exc
    except BaseException as exc:
        error = error or exc
        raise
    finally:
        ledger.record(_close(call, error))


def _open_sync(call: _Call) -> tuple[_Streaming, StreamChunk, Iterator[StreamChunk]]:
    for cand in _order(call):
        provider = factory.get(cand.provider.spec, version=call.cfg.version)
        req = replace(call.request, model=cand.model)
        for retry in range(cand.provider.max_retries + 1):
            started = time.perf_counter()
            chunks = provider.stream(req)
            try:
                first = next(chunks)
            except StopIteration:
                exc: ProviderError = InvalidResponse("the stream ended before any chunk", provider=cand.name)
            except ProviderError as caught:
                exc = caught
            else:
                return _Streaming(cand=cand, started=started), first, chunks
            delay = _failed(call, cand, exc, started, retry)
            if delay is None:
                break
            time.sleep(delay)
    raise _all_failed(call)


async def astream(model: str | None, request: ChatRequest, *, caller: str = "") -> AsyncIterator[StreamChunk]:
    """The async twin of `stream()`."""
    call = _start(await config.acurrent(), model, request, caller, streamed=True)
    error: BaseException | None = None
    try:
        state, first, rest = await _open_async(call)
        _first_chunk_seen(call, state)
        try:
            yield _annotate(call, state, first)
            async for chunk in rest:
                yield _annotate(call, state, chunk)
            _check_end(state)
        except (ProviderError, GeneratorExit, asyncio.CancelledError) as exc:
            await rest.aclose()
            if not isinstance(exc, ProviderError):
                error = StreamInterrupted(
                    "the caller stopped reading the stream", partial_text="".join(state.parts)
                )
                raise
            error = _interrupted(call, state, exc)
            raise error from exc
    except BaseException as exc:
        error = error or exc
        raise
    finally:
        await ledger.arecord(_close(call, error))


async def _open_async(call: _Call) -> tuple[_Streaming, StreamChunk, Any]:
    for cand in _order(call):
        provider = factory.get(cand.provider.spec, version=call.cfg.version)
        req = replace(call.request, model=cand.model)
        for retry in range(cand.provider.max_retries + 1):
            started = time.perf_counter()
            chunks = provider.astream(req)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                exc: ProviderError = InvalidResponse("the stream ended before any chunk", provider=cand.name)
            except ProviderError as caught:
                exc = caught
            else:
                return _Streaming(cand=cand, started=started), first, chunks
            delay = _failed(call, cand, exc, started, retry)
            if delay is None:
                break
            await asyncio.sleep(delay)
    raise _all_failed(call)
