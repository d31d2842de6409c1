"""Fixtures for the loopback fake provider server (tests/fakes/server.py).

One server serves the whole test session (it starts in a few milliseconds but there is no reason
to start it per test); `fake_server` hands it to a test after `reset()`, so scripts, counters,
keys and replies never leak from one test into the next. The server runs in its own thread, so
sync and async tests use it alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.server import FakeProviderServer


@pytest.fixture(scope="session")
def fake_server_session() -> Iterator[FakeProviderServer]:
    """The session's one running fake provider server (not reset between tests)."""
    server = FakeProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_server(fake_server_session: FakeProviderServer) -> FakeProviderServer:
    """The running fake provider server, reset for this test."""
    fake_server_session.reset()
    return fake_server_session
