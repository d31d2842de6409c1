"""Ledger rows a provider or a prompt can make awkward: none of them may cost other rows, or break
the transaction of the call that writes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from backend.integrations.ai import ledger
from backend.integrations.ai.models import CallLog


@pytest.mark.django_db(transaction=True)
def test_one_row_that_cannot_be_written_does_not_lose_the_rest_of_its_batch(monkeypatch):
    real_row = ledger._row

    def row(rec, conn):
        if rec.caller == "t.poison":
            raise ValueError("this row cannot be adapted")
        return real_row(rec, conn)

    monkeypatch.setattr(ledger, "_row", row)
    for i in range(5):
        ledger.submit(ledger.CallRecord(caller="t.good", total_tokens=i))
    ledger.submit(ledger.CallRecord(caller="t.poison"))
    for i in range(5, 10):
        ledger.submit(ledger.CallRecord(caller="t.good", total_tokens=i))
    ledger.flush()
    assert sorted(CallLog.objects.filter(caller="t.good").values_list("total_tokens", flat=True)) == list(
        range(10)
    )
    assert not CallLog.objects.filter(caller="t.poison").exists()


@pytest.mark.django_db(transaction=True)
def test_a_row_failing_inline_leaves_the_callers_transaction_usable(monkeypatch):
    real_row = ledger._row

    def row(rec, conn):
        values = list(real_row(rec, conn))
        values[ledger.COLUMNS.index("attempt_count")] = -1  # the column's CHECK refuses it
        return tuple(values)

    monkeypatch.setattr(ledger, "_row", row)
    with transaction.atomic():
        ledger.record(ledger.CallRecord(caller="t.inline-bad"))
        # On PostgreSQL the failed INSERT used to abort the whole transaction right here.
        assert CallLog.objects.filter(caller="t.inline-bad").count() == 0
        CallLog.objects.create(caller="t.after", outcome="success")
    assert CallLog.objects.filter(caller="t.after").count() == 1


@pytest.mark.django_db(transaction=True)
def test_values_outside_the_columns_ranges_are_kept_in_range_not_dropped():
    ledger.submit(
        ledger.CallRecord(
            caller="t.ranges",
            status_code=-1,  # an in-band error code that is no HTTP status
            prompt_tokens=10**12,
            completion_tokens=-5,
            cost=Decimal("12345678.5"),
            prompt_text="before\x00after",
            response_text="\x00",
            error_message="nul \x00 in an error body",
        )
    )
    ledger.submit(ledger.CallRecord(caller="t.ranges-neighbour"))
    ledger.flush()
    row = CallLog.objects.get(caller="t.ranges")
    assert row.status_code is None
    assert (row.prompt_tokens, row.completion_tokens) == (2_147_483_647, 0)
    assert row.cost is None
    assert row.prompt_text == "before\ufffdafter"
    assert "\x00" not in row.error_message
    assert CallLog.objects.filter(caller="t.ranges-neighbour").exists()
