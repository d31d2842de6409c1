"""End to end: `ai.complete()`/`ai.stream()` through rows, router, real httpx and the loopback fake
server, to the CallLog row."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from backend.integrations import ai
from backend.integrations.ai import errors, health, ledger
from backend.integrations.ai.models import CallLog, Provider, RoutingSettings
from tests.fakes.server import Fault
from tests.integrations.ai.registry_helpers import (
    CANARY_KEY,
    alias_with_routes,
    fast_retries,
    provider_row,
    two_providers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    fast_retries(settings)


def only_row() -> CallLog:
    ledger.flush()
    rows = list(CallLog.objects.all())
    assert len(rows) == 1, rows
    return rows[0]


def test_success_is_served_by_the_first_provider_and_logged(fake_server):
    two_providers(fake_server)
    result = ai.complete(prompt="Hello there", caller="tests.success", max_tokens=20)
    assert result.provider == "a"
    assert result.text == "Hello from a."
    assert result.attempts == 1
    assert result.usage.total_tokens > 0
    row = only_row()
    assert (row.outcome, row.provider, row.alias, row.caller) == ("success", "a", "default", "tests.success")
    assert row.attempt_count == 1
    assert row.total_tokens == result.usage.total_tokens
    assert row.prompt_text == ""  # store_prompts is off


def test_503_on_the_first_candidate_fails_over_to_the_second(fake_server):
    two_providers(fake_server)
    fake_server.script("a", Fault(status=503, always=True))
    result = ai.complete(prompt="hi")
    assert result.provider == "b"
    assert fake_server.count("a") == 2  # one try + one retry (max_retries=1)
    row = only_row()
    assert row.outcome == "success"
    assert row.failed_over is True
    assert [(a["provider"], a["error"], a["status"]) for a in row.attempts] == [
        ("a", "ProviderUnavailable", 503),
        ("a", "ProviderUnavailable", 503),
        ("b", "", None),
    ]


def test_429_with_a_short_retry_after_is_retried_on_the_same_provider(fake_server):
    two_providers(fake_server)
    fake_server.script("a", Fault(status=429, headers={"retry-after": "0.05"}))
    started = time.monotonic()
    result = ai.complete(prompt="hi")
    assert result.provider == "a"
    assert result.attempts == 2
    assert time.monotonic() - started >= 0.05  # it did wait as asked
    assert fake_server.count("b") == 0


def test_429_with_a_long_retry_after_fails_over_instead_of_sleeping(fake_server, settings):
    settings.AI_MAX_RETRY_WAIT_SECONDS = 5
    two_providers(fake_server)
    fake_server.script("a", Fault(status=429, headers={"retry-after": "120"}))
    result = ai.complete(prompt="hi")
    assert result.provider == "b"
    assert fake_server.count("a") == 1


@pytest.mark.parametrize(
    ("status", "code"), [(401, None), (403, None), (402, None), (404, None), (429, "insufficient_quota")]
)
def test_account_and_model_errors_fail_over_at_once_without_retry(fake_server, status, code):
    two_providers(fake_server)
    fake_server.script("a", Fault(status=status, code=code))
    assert ai.complete(prompt="hi").provider == "b"
    assert fake_server.count("a") == 1


def test_a_bad_request_raises_at_once_without_failover(fake_server):
    two_providers(fake_server)
    fake_server.script("a", Fault(status=400))
    with pytest.raises(errors.BadRequest):
        ai.complete(prompt="hi")
    assert fake_server.count("b") == 0
    row = only_row()
    assert (row.outcome, row.error_class, row.status_code) == ("error", "BadRequest", 400)


def test_total_failure_raises_all_providers_failed_with_every_attempt(fake_server):
    two_providers(fake_server)
    fake_server.script("a", Fault(status=500, always=True))
    fake_server.script("b", Fault(drop=True, always=True))
    with pytest.raises(errors.AllProvidersFailed) as caught:
        ai.complete(prompt="hi")
    attempts = caught.value.attempts
    assert [a.provider for a in attempts] == ["a", "a", "b", "b"]
    assert "a/gpt-4o-mini: ProviderUnavailable 500" in str(caught.value)
    row = only_row()
    assert (row.outcome, row.error_class, row.attempt_count) == ("error", "AllProvidersFailed", 4)


def test_failover_disabled_means_one_candidate_only(fake_server):
    two_providers(fake_server)
    RoutingSettings.objects.create(pk=1, failover_enabled=False)
    fake_server.script("a", Fault(status=503, always=True))
    with pytest.raises(errors.AllProvidersFailed):
        ai.complete(prompt="hi")
    assert fake_server.count("b") == 0


def test_reordering_providers_in_admin_changes_the_next_calls_provider(fake_server):
    a, _ = two_providers(fake_server)
    assert ai.complete(prompt="hi").provider == "a"
    Provider.objects.filter(pk=a.pk).update(priority=99)
    assert ai.complete(prompt="hi").provider == "b"


def test_disabling_a_provider_removes_it_at_once(fake_server):
    a, _ = two_providers(fake_server)
    a.enabled = False
    a.save()
    assert ai.complete(prompt="hi").provider == "b"
    assert fake_server.count("a") == 0


def test_circuit_opens_then_no_request_reaches_the_failing_provider_then_half_opens(fake_server, settings):
    settings.AI_CIRCUIT_FAILURES = 2
    settings.AI_CIRCUIT_COOLDOWN_SECONDS = 0.3
    two_providers(fake_server)
    fake_server.script("a", Fault(status=503, always=True))
    assert ai.complete(prompt="hi").provider == "b"  # two failures: the circuit opens
    assert health.read("a").state() == "open"
    before = fake_server.count("a")
    for _ in range(5):
        assert ai.complete(prompt="hi").provider == "b"
    assert fake_server.count("a") == before  # skipped with no network I/O
    time.sleep(0.35)
    fake_server.reset()
    two_providers_tenants_ok = ai.complete(prompt="hi")
    assert two_providers_tenants_ok.provider == "a"  # the half-open trial succeeded
    assert health.read("a") == health.CLOSED


def test_when_every_circuit_is_open_the_soonest_to_recover_is_tried(fake_server, settings):
    settings.AI_CIRCUIT_FAILURES = 1
    two_providers(fake_server)
    health.record_failure("a", now=time.time() + 100)
    health.record_failure("b")
    result = ai.complete(prompt="hi")
    assert result.provider == "b"
    assert fake_server.count("a") == 0


def test_stream_fails_over_before_the_first_chunk(fake_server):
    two_providers(fake_server)
    fake_server.set_reply("b", text="one two three four", chunks=4)
    fake_server.script("a", Fault(status=503, always=True))
    chunks = list(ai.stream(prompt="hi", caller="tests.stream"))
    assert "".join(c.text for c in chunks) == "one two three four"
    final = chunks[-1]
    assert final.final and final.provider == "b" and final.usage.total_tokens > 0
    row = only_row()
    assert (row.outcome, row.provider, row.streamed) == ("success", "b", True)
    assert row.first_chunk_ms is not None


def test_stream_failure_after_the_first_chunk_raises_stream_interrupted_with_the_partial_text(fake_server):
    two_providers(fake_server)
    fake_server.set_reply("a", text="alpha beta gamma delta", chunks=4)
    fake_server.script("a", Fault(stream_error_after=2))
    received = []
    with pytest.raises(errors.StreamInterrupted) as caught:
        for chunk in ai.stream(prompt="hi"):
            received.append(chunk.text)
    assert caught.value.partial_text == "".join(received)
    assert caught.value.partial_text
    assert fake_server.count("b") == 0  # no failover after text reached the caller
    row = only_row()
    assert row.outcome == "interrupted"


def test_stream_cut_without_its_terminator_is_not_a_success(fake_server):
    two_providers(fake_server)
    fake_server.set_reply("a", text="alpha beta gamma delta", chunks=4)
    fake_server.script("a", Fault(stream_cut_after=2))
    with pytest.raises(errors.StreamInterrupted):
        list(ai.stream(prompt="hi"))
    assert only_row().outcome == "interrupted"


def test_store_prompts_keeps_prompt_and_reply_text(fake_server):
    two_providers(fake_server)
    RoutingSettings.objects.create(pk=1, store_prompts=True)
    ai.complete(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}])
    row = only_row()
    assert row.prompt_text == "system: Be brief.\n\nuser: Hi!"
    assert row.response_text == "Hello from a."


def test_no_key_reaches_the_ledger_or_the_error(fake_server):
    a = provider_row("a", "openai", fake_server.base_url("openai", tenant="a"), api_key=CANARY_KEY)
    alias_with_routes("default", (a, "gpt-4o-mini"))
    fake_server.script("a", Fault(status=401, always=True))
    with pytest.raises(errors.AllProvidersFailed) as caught:
        ai.complete(prompt="hi")
    assert CANARY_KEY not in str(caught.value)
    assert CANARY_KEY not in repr(caught.value.attempts)
    row = only_row()
    for value in CallLog.objects.values().first().values():
        assert CANARY_KEY not in str(value)
    assert row.error_class == "AllProvidersFailed"


def test_ledger_failure_never_fails_the_call(fake_server, monkeypatch, caplog):
    two_providers(fake_server)

    def broken(records):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledger, "_insert", broken)
    assert ai.complete(prompt="hi").provider == "a"
    assert "could not write" in caplog.text


def test_plain_model_name_routes_through_the_mapper(fake_server):
    provider_row("router", "openrouter", fake_server.base_url("openrouter", tenant="or"), priority=1)
    result = ai.complete(prompt="hi", model="claude-3-5-sonnet-20241022")
    assert result.provider == "router"
    assert fake_server.requests("or")[-1].json["model"] == "anthropic/claude-3.5-sonnet"


def test_legacy_generate_text_routes_old_model_names_to_the_first_provider(fake_server):
    provider_row("router", "openrouter", fake_server.base_url("openrouter", tenant="or"), priority=1)
    provider_row("direct", "openai", fake_server.base_url("openai", tenant="oa"), priority=2)
    assert ai.generate_text("hi", model="gpt-4", max_tokens=5, temperature=0.2) == "Hello from or."
    assert fake_server.requests("or")[-1].json["model"] == "openai/gpt-4"


@pytest.mark.django_db(transaction=True)
async def test_acomplete_and_astream_fail_over_and_log(fake_server):
    from asgiref.sync import sync_to_async

    await sync_to_async(two_providers)(fake_server)
    fake_server.script("a", Fault(status=503, always=True))
    result = await ai.acomplete(prompt="hi", caller="tests.async")
    assert result.provider == "b"
    chunks = [c async for c in ai.astream(prompt="hi", caller="tests.async")]
    assert chunks[-1].final and chunks[-1].provider == "b"
    await sync_to_async(ledger.flush)()
    outcomes = await sync_to_async(
        lambda: sorted(CallLog.objects.values_list("caller", "outcome", "streamed"))
    )()
    await sync_to_async(connections.close_all)()  # asgiref's worker thread keeps a connection otherwise
    assert outcomes == [("tests.async", "success", False), ("tests.async", "success", True)]


@pytest.mark.parametrize("flavor", ["openai", "anthropic", "openrouter"])
def test_a_stream_that_fails_before_any_text_still_fails_over(fake_server, flavor):
    two_providers(fake_server, kind_a=flavor)
    fake_server.script("a", Fault(stream_error_after=0, always=True))
    chunks = list(ai.stream(prompt="hi"))
    assert chunks[-1].provider == "b"
    assert "".join(c.text for c in chunks) == "Hello from b."


def test_a_half_open_trial_is_claimed_only_by_a_call_that_reaches_it(fake_server, settings):
    settings.AI_CIRCUIT_FAILURES = 1
    two_providers(fake_server)
    health.record_failure("b", now=time.time() - 3600)  # opened long ago: half-open now
    assert health.read("b").state() == "half_open"
    assert ai.complete(prompt="hi").provider == "a"  # never reached b
    assert health.allow("b", health.read("b")) is True  # its one trial is still there to take
