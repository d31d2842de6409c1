"""Fixtures for the registry: a fresh config snapshot, circuits and caches for every test."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_registry():
    from backend.integrations.ai import config, health, ledger

    cache.clear()
    config.invalidate()
    health.latency.clear()
    health.reset()
    yield
    ledger.flush()
    cache.clear()
    config.invalidate()


@pytest.fixture(autouse=True, scope="session")
def _release_database_sessions(django_db_setup, django_db_blocker):
    """Give back connections other threads hold before the test database is dropped.

    The ledger's writer thread keeps one; so does asgiref's worker thread after async tests (Django's
    async client runs sync code there). Depending on django_db_setup makes this teardown run first.
    """
    yield
    from django.db import connection

    from backend.integrations.ai import ledger

    ledger.close()
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
