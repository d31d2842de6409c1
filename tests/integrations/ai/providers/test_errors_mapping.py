"""Every failure becomes the right Panel error: the status table row by row, retry hints, bodies
that are not JSON, redirects, every httpx exception class, and no key anywhere."""

from __future__ import annotations

import email.utils
import inspect
import logging
import re
import time

import httpx
import pytest

from backend.integrations.ai.errors import (
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
from backend.integrations.ai.providers._http import HTTPX_ERRORS

from .conftest import ANTHROPIC_URL, CANARY_KEY, OPENAI_URL, OPENROUTER_URL, chat, sse, stream_response

CHAT_URLS = {
    "openai": f"{OPENAI_URL}/chat/completions",
    "anthropic": f"{ANTHROPIC_URL}/v1/messages",
    "openrouter": f"{OPENROUTER_URL}/chat/completions",
}


def openai_body(code: str | None, message: str = "error", etype: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def anthropic_body(etype: str, message: str = "error") -> dict:
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_x"}


def openrouter_body(status: int, message: str = "error", **metadata) -> dict:
    error: dict = {"code": status, "message": message}
    if metadata:
        error["metadata"] = metadata
    return {"error": error}


# (kind, status, body, expected class, retryable, failover)
TABLE = [
    ("openai", 400, openai_body("unsupported_parameter"), BadRequest, False, False),
    ("openai", 400, openai_body("context_length_exceeded"), ContextLengthExceeded, False, True),
    (
        "openai",
        400,
        openai_body(None, "This model's maximum context length is 8192 tokens."),
        ContextLengthExceeded,
        False,
        True,
    ),
    ("openai", 401, openai_body("invalid_api_key"), AuthenticationError, False, True),
    ("openai", 403, openai_body("unsupported_country_region_territory"), PermissionDenied, False, True),
    ("openai", 404, openai_body("model_not_found"), ModelNotFound, False, True),
    ("openai", 408, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 409, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 413, openai_body(None, "Request too large"), BadRequest, False, False),
    ("openai", 422, openai_body(None), BadRequest, False, False),
    ("openai", 429, openai_body("rate_limit_exceeded", etype="requests"), RateLimited, True, True),
    (
        "openai",
        429,
        openai_body("insufficient_quota", etype="insufficient_quota"),
        InsufficientCredits,
        False,
        True,
    ),
    ("openai", 500, openai_body(None, etype="server_error"), ProviderUnavailable, True, True),
    ("openai", 502, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 503, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 504, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 524, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 529, openai_body(None), ProviderUnavailable, True, True),
    ("openai", 418, openai_body(None), ProviderError, False, True),
    ("anthropic", 400, anthropic_body("invalid_request_error"), BadRequest, False, False),
    (
        "anthropic",
        400,
        anthropic_body("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
        ContextLengthExceeded,
        False,
        True,
    ),
    ("anthropic", 401, anthropic_body("authentication_error"), AuthenticationError, False, True),
    ("anthropic", 402, anthropic_body("billing_error"), InsufficientCredits, False, True),
    ("anthropic", 403, anthropic_body("permission_error"), PermissionDenied, False, True),
    ("anthropic", 404, anthropic_body("not_found_error"), ModelNotFound, False, True),
    ("anthropic", 413, anthropic_body("request_too_large"), BadRequest, False, False),
    ("anthropic", 429, anthropic_body("rate_limit_error"), RateLimited, True, True),
    ("anthropic", 500, anthropic_body("api_error"), ProviderUnavailable, True, True),
    ("anthropic", 504, anthropic_body("timeout_error"), ProviderUnavailable, True, True),
    ("anthropic", 529, anthropic_body("overloaded_error"), ProviderUnavailable, True, True),
    ("openrouter", 400, openrouter_body(400), BadRequest, False, False),
    (
        "openrouter",
        400,
        openrouter_body(
            400, "This endpoint's maximum context length is 8192 tokens. However, you requested 9000"
        ),
        ContextLengthExceeded,
        False,
        True,
    ),
    ("openrouter", 401, openrouter_body(401), AuthenticationError, False, True),
    ("openrouter", 402, openrouter_body(402, "Insufficient credits"), InsufficientCredits, False, True),
    ("openrouter", 403, openrouter_body(403, "flagged", reasons=["x"]), PermissionDenied, False, True),
    ("openrouter", 404, openrouter_body(404, "No endpoints found"), ModelNotFound, False, True),
    ("openrouter", 408, openrouter_body(408), ProviderUnavailable, True, True),
    ("openrouter", 429, openrouter_body(429, error_type="rate_limit_exceeded"), RateLimited, True, True),
    ("openrouter", 502, openrouter_body(502), ProviderUnavailable, True, True),
    ("openrouter", 503, openrouter_body(503), ProviderUnavailable, True, True),
    ("openrouter", 524, openrouter_body(524), ProviderUnavailable, True, True),
    ("openrouter", 529, openrouter_body(529), ProviderUnavailable, True, True),
]


@pytest.mark.parametrize(("kind", "status", "body", "expected", "retryable", "failover"), TABLE)
def test_status_table(make, respx_mock, kind, status, body, expected, retryable, failover):
    respx_mock.post(CHAT_URLS[kind]).respond(status, json=body, headers={"x-request-id": "req_t"})
    with pytest.raises(ProviderError) as caught:
        make(kind).complete(chat())
    error = caught.value
    assert type(error) is expected
    assert error.status == status
    assert error.retryable is retryable
    assert error.failover is failover
    assert error.provider == make(kind).spec.name
    assert hasattr(error, "retry_after")


@pytest.mark.parametrize(("kind", "status", "body", "expected", "retryable", "failover"), TABLE[::4])
async def test_status_table_async_and_stream(
    make, respx_mock, kind, status, body, expected, retryable, failover
):
    respx_mock.post(CHAT_URLS[kind]).respond(status, json=body)
    provider = make(kind)
    with pytest.raises(expected):
        await provider.acomplete(chat())
    with pytest.raises(expected):
        [c async for c in provider.astream(chat())]
    with pytest.raises(expected):
        list(provider.stream(chat()))


# -- retry hints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.25"}, 1.25),
        ({"retry-after-ms": "800", "retry-after": "5"}, 0.8),
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "12ms"}, 0.012),
        ({}, None),
    ],
)
def test_rate_limit_retry_after_sources(make, respx_mock, headers, expected):
    respx_mock.post(CHAT_URLS["openai"]).respond(
        429, headers=headers, json=openai_body("rate_limit_exceeded")
    )
    with pytest.raises(RateLimited) as caught:
        make("openai").complete(chat())
    assert caught.value.retry_after == (pytest.approx(expected) if expected is not None else None)


def test_retry_after_http_date(make, respx_mock):
    when = email.utils.formatdate(time.time() + 40, usegmt=True)
    respx_mock.post(CHAT_URLS["openai"]).respond(503, headers={"retry-after": when}, json=openai_body(None))
    with pytest.raises(ProviderUnavailable) as caught:
        make("openai").complete(chat())
    assert 30 < caught.value.retry_after <= 40


def test_reset_headers_are_not_read_outside_429(make, respx_mock):
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    respx_mock.post(CHAT_URLS["openai"]).respond(503, headers=headers, json=openai_body(None))
    with pytest.raises(ProviderUnavailable) as caught:
        make("openai").complete(chat())
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "header", "retryable"),
    [(503, "false", False), (400, "true", True), (429, "false", False), (500, "garbage", True)],
)
def test_x_should_retry_overrides_the_status_rule(make, respx_mock, status, header, retryable):
    respx_mock.post(CHAT_URLS["openai"]).respond(
        status, headers={"x-should-retry": header}, json=openai_body(None)
    )
    with pytest.raises(ProviderError) as caught:
        make("openai").complete(chat())
    assert caught.value.retryable is retryable


# -- bodies that are not JSON, redirects ------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize("kind", ["openai", "anthropic", "openrouter"])
@pytest.mark.parametrize(
    ("status", "body", "expected", "words"),
    [
        (502, HTML, ProviderUnavailable, "HTML page ('502 Bad Gateway')"),
        (413, b"<html><body>Request Entity Too Large</body></html>", BadRequest, "HTML page"),
        (500, b"Internal Server Error", ProviderUnavailable, "non-JSON body"),
        (503, b"", ProviderUnavailable, "empty body"),
        (401, b"Unauthorized", AuthenticationError, "non-JSON body"),
        (429, b'{"error": null}', RateLimited, None),
    ],
)
def test_non_json_error_bodies(make, respx_mock, kind, status, body, expected, words):
    respx_mock.post(CHAT_URLS[kind]).respond(status, content=body, headers={"content-type": "text/html"})
    with pytest.raises(expected, match=re.escape(words) if words else None):
        make(kind).complete(chat())


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_errors_naming_the_location_host(make, respx_mock, status):
    route = respx_mock.post(CHAT_URLS["anthropic"]).respond(
        status, headers={"location": "https://login.corp.example/x"}
    )
    target = respx_mock.post("https://login.corp.example/x").respond(200, json={})
    provider = make("anthropic")
    with pytest.raises(InvalidResponse, match=r"login\.corp\.example") as caught:
        provider.complete(chat())
    assert caught.value.status == status
    assert caught.value.retryable is False
    with pytest.raises(InvalidResponse):
        list(provider.stream(chat()))
    assert route.call_count == 2
    assert target.call_count == 0


def test_success_status_with_html_body(make, respx_mock):
    respx_mock.post(CHAT_URLS["openai"]).respond(200, content=HTML, headers={"content-type": "text/html"})
    with pytest.raises(InvalidResponse, match="HTML page"):
        make("openai").complete(chat())


# -- every httpx exception class --------------------------------------------------------------------


def _httpx_exception_classes() -> list[type[BaseException]]:
    classes = {
        obj
        for name in dir(httpx)
        if inspect.isclass(obj := getattr(httpx, name))
        and issubclass(obj, Exception)
        and obj.__module__.startswith("httpx")
    }
    return sorted(classes, key=lambda c: c.__name__)


def _instance(cls: type[BaseException]) -> BaseException:
    request = httpx.Request("POST", CHAT_URLS["openai"])
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(503, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    try:
        return cls()
    except TypeError:
        return cls("boom")


def test_the_walk_finds_the_whole_hierarchy():
    names = {c.__name__ for c in _httpx_exception_classes()}
    assert {"ReadTimeout", "RemoteProtocolError", "InvalidURL", "StreamConsumed", "HTTPStatusError"} <= names
    assert all(issubclass(c, HTTPX_ERRORS) for c in _httpx_exception_classes())


EXPECTED_KIND = {
    "ConnectTimeout": ProviderTimeout,
    "ReadTimeout": ProviderTimeout,
    "WriteTimeout": ProviderTimeout,
    "PoolTimeout": ProviderTimeout,
    "TimeoutException": ProviderTimeout,
    "ConnectError": ProviderUnavailable,
    "ReadError": ProviderUnavailable,
    "WriteError": ProviderUnavailable,
    "RemoteProtocolError": ProviderUnavailable,
    "HTTPStatusError": ProviderUnavailable,
    "DecodingError": InvalidResponse,
}


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_maps_to_a_provider_error(make, respx_mock, cls):
    respx_mock.post(CHAT_URLS["openai"]).mock(side_effect=_instance(cls))
    provider = make("openai", name="primary")
    with pytest.raises(ProviderError) as caught:
        provider.complete(chat())
    assert caught.value.provider == "primary"
    assert isinstance(caught.value.__cause__, cls)
    assert caught.value.message
    if cls.__name__ in EXPECTED_KIND:
        assert type(caught.value) is EXPECTED_KIND[cls.__name__]
    with pytest.raises(ProviderError):
        list(provider.stream(chat()))


@pytest.mark.parametrize(
    "cls", [httpx.ReadTimeout, httpx.ConnectError, httpx.InvalidURL], ids=lambda c: c.__name__
)
async def test_httpx_exceptions_map_on_the_async_path(make, respx_mock, cls):
    respx_mock.post(CHAT_URLS["anthropic"]).mock(side_effect=_instance(cls))
    provider = make("anthropic")
    with pytest.raises(ProviderError):
        await provider.acomplete(chat())
    with pytest.raises(ProviderError):
        [c async for c in provider.astream(chat())]


def test_drop_mid_stream_is_mapped_after_the_text(make, respx_mock):
    class Dropping(httpx.SyncByteStream):
        def __iter__(self):
            yield sse({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}, done=False)
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    respx_mock.post(CHAT_URLS["openai"]).respond(
        200, headers={"content-type": "text/event-stream"}, stream=Dropping()
    )
    seen = []
    with pytest.raises(InvalidResponse, match=r"end marker \(\[DONE\]\).*closed the connection") as caught:
        seen.extend(c.text for c in make("openai").stream(chat()))
    assert seen == ["Hi"]
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


# -- no key anywhere --------------------------------------------------------------------------------


def _failures(make, respx_mock):
    """Trigger many failures with a canary key that the provider echoes back everywhere it can."""
    echo = f"Incorrect API key provided: {CANARY_KEY}."
    for kind in ("openai", "anthropic", "openrouter"):
        provider = make(kind, api_key=CANARY_KEY, name=f"{kind}-canary")
        route = respx_mock.post(CHAT_URLS[kind])
        scenarios = [
            httpx.Response(401, json=openai_body("invalid_api_key", echo)),
            httpx.Response(400, json=anthropic_body("invalid_request_error", echo)),
            httpx.Response(500, text=f"<html><title>{CANARY_KEY}</title></html>"),
            httpx.Response(502, text=f"upstream said {CANARY_KEY}"),
            httpx.ConnectError(f"cannot connect with {CANARY_KEY}"),
            httpx.LocalProtocolError(f"Illegal header value b'Bearer {CANARY_KEY}\\n'"),
        ]
        for scenario in scenarios:
            if isinstance(scenario, Exception):
                route.mock(side_effect=scenario)
            else:
                route.mock(side_effect=None, return_value=scenario)
            with pytest.raises(ProviderError) as caught:
                provider.complete(chat())
            yield provider, caught.value
        route.mock(
            side_effect=None, return_value=stream_response(sse({"error": {"message": echo}}, done=False))
        )
        with pytest.raises(ProviderError) as caught:
            list(provider.stream(chat()))
        yield provider, caught.value


def test_no_key_in_any_message_repr_or_log_line(make, respx_mock, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    for provider, error in _failures(make, respx_mock):
        errors.append(error)
        for text in (
            str(error),
            repr(error),
            error.message,
            repr(provider),
            repr(provider.spec),
            str(vars(error)),
        ):
            assert CANARY_KEY not in text
    assert len(errors) == 21
    assert caplog.records, "DEBUG logging produced no line to check"
    assert CANARY_KEY not in caplog.text
    for record in caplog.records:
        assert CANARY_KEY not in record.getMessage()
