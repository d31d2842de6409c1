"""Fixtures for the registry: a fresh config snapshot, circuits and caches for every test."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_registry():
    from backend.integrations.ai import config, health, ledger

    cache.clear()
    config.invalidate()
    health.latency.clear()
    yield
    ledger.flush()
    cache.clear()
    config.invalidate()
