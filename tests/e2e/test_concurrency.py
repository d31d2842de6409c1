"""Many callers at once: 50 threads and 200 asyncio tasks all succeed, one ledger row each."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from backend.integrations import ai
from backend.integrations.ai import ledger
from backend.integrations.ai.models import CallLog
from tests.fakes.server import Fault
from tests.integrations.ai.registry_helpers import fast_retries, two_providers

pytestmark = pytest.mark.django_db(transaction=True)


def _call(i: int) -> str:
    try:
        return ai.complete(prompt=f"thread {i}", caller="tests.threads").provider
    finally:
        connections.close_all()


def test_fifty_threads_at_once_all_succeed_with_one_row_each(fake_server, settings):
    fast_retries(settings)
    two_providers(fake_server)
    fake_server.set_reply("a", delay_s=0.01)
    fake_server.script("a", Fault(status=503, times=5))  # a few calls fail over or retry
    with ThreadPoolExecutor(max_workers=50) as pool:
        served = list(pool.map(_call, range(50)))
    assert len(served) == 50
    assert set(served) <= {"a", "b"}
    ledger.flush()
    assert CallLog.objects.filter(caller="tests.threads", outcome="success").count() == 50


async def test_two_hundred_asyncio_tasks_at_once_all_succeed_with_one_row_each(fake_server, settings):
    fast_retries(settings)
    await sync_to_async(two_providers)(fake_server)
    fake_server.set_reply("a", delay_s=0.01)
    fake_server.script("a", Fault(status=429, headers={"retry-after": "0.01"}, times=10))
    results = await asyncio.gather(
        *(ai.acomplete(prompt=f"task {i}", caller="tests.tasks") for i in range(200))
    )
    assert len(results) == 200
    assert all(r.text for r in results)
    await sync_to_async(ledger.flush)()
    count = await sync_to_async(CallLog.objects.filter(caller="tests.tasks", outcome="success").count)()
    await sync_to_async(connections.close_all)()  # asgiref's worker thread keeps a connection otherwise
    assert count == 200
