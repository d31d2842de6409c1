"""The call ledger: rows, the background writer, cost sources, and text limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.integrations import ai
from backend.integrations.ai import ledger
from backend.integrations.ai.errors import Attempt
from backend.integrations.ai.models import CallLog, CatalogModel

from .registry_helpers import alias_with_routes, provider_row, two_providers


@pytest.mark.django_db
def test_a_row_written_inside_a_transaction_is_visible_at_once():
    ledger.record(ledger.CallRecord(caller="t.inline", provider="p", model="m", prompt_tokens=3))
    row = CallLog.objects.get(caller="t.inline")  # no flush needed
    assert (row.provider, row.model, row.prompt_tokens, row.outcome) == ("p", "m", 3, "success")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_rows_go_through_the_background_writer_in_batches():
    for i in range(120):
        ledger.record(ledger.CallRecord(caller="t.batch", provider="p", total_tokens=i))
    ledger.flush()
    assert CallLog.objects.filter(caller="t.batch").count() == 120
    assert sorted(CallLog.objects.values_list("total_tokens", flat=True)) == list(range(120))


@pytest.mark.django_db
def test_attempts_are_stored_as_a_list_with_failover_flag():
    attempts = (
        Attempt(provider="a", model="m", error="ProviderUnavailable", status=503, latency_ms=1.5),
        Attempt(provider="b", model="m", latency_ms=2.0),
    )
    ledger.record(ledger.CallRecord(caller="t.attempts", attempts=attempts, provider="b"))
    row = CallLog.objects.get(caller="t.attempts")
    assert row.attempt_count == 2
    assert row.failed_over is True
    assert row.attempts[0] == {
        "provider": "a",
        "model": "m",
        "error": "ProviderUnavailable",
        "status": 503,
        "latency_ms": 1.5,
        "message": "",
        "skipped": False,
    }


@pytest.mark.django_db
def test_long_texts_are_clipped_to_their_columns():
    ledger.record(ledger.CallRecord(caller="c" * 500, model="m" * 500, error_message="e" * 5000))
    row = CallLog.objects.get()
    assert len(row.caller) == 100
    assert len(row.model) == 200
    assert len(row.error_message) == 2000


@pytest.mark.django_db
def test_cost_is_estimated_from_catalog_prices_when_the_provider_reports_none(fake_server):
    two_providers(fake_server)
    CatalogModel.objects.create(
        provider_kind="openai",
        model_id="gpt-4o-mini",
        prompt_price=Decimal("0.00000015"),
        completion_price=Decimal("0.0000006"),
    )
    result = ai.complete(prompt="one two three", caller="t.cost")
    expected = (
        Decimal("0.00000015") * result.usage.prompt_tokens
        + Decimal("0.0000006") * result.usage.completion_tokens
    )
    assert result.cost == expected.quantize(Decimal("0.00000001"))
    assert result.cost_source == "estimated"
    row = CallLog.objects.get(caller="t.cost")
    assert (row.cost, row.cost_source) == (result.cost, "estimated")


@pytest.mark.django_db
def test_cost_reported_by_openrouter_wins(fake_server):
    router_row = provider_row("or", "openrouter", fake_server.base_url("openrouter", tenant="or"))
    alias_with_routes("default", (router_row, "openai/gpt-4o-mini"))
    result = ai.complete(prompt="one two three", caller="t.reported")
    assert result.cost is not None and result.cost > 0
    assert result.cost_source == "reported"
    assert CallLog.objects.get(caller="t.reported").cost_source == "reported"


@pytest.mark.django_db
def test_unknown_price_is_recorded_as_unknown(fake_server):
    two_providers(fake_server)
    result = ai.complete(prompt="hi", caller="t.unknown")
    assert (result.cost, result.cost_source) == (None, "unknown")


@pytest.mark.django_db
def test_a_call_with_no_route_still_gets_its_row():
    with pytest.raises(ai.ConfigurationError):
        ai.complete(prompt="hi", caller="t.noroute", model="nothing-serves-this")
    row = CallLog.objects.get(caller="t.noroute")
    assert (row.outcome, row.error_class, row.requested_model) == (
        "error",
        "ConfigurationError",
        "nothing-serves-this",
    )
