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


@pytest.fixture(autouse=True, scope="session")
def _ledger_writer_closed(django_db_setup):
    """The ledger's writer thread holds a connection; give it back before the test DB is dropped
    (depending on django_db_setup makes this teardown run before the database's)."""
    yield
    from backend.integrations.ai import ledger

    ledger.close()
