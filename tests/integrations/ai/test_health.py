"""Circuit breaker state machine, kept in Django's cache."""

from __future__ import annotations

import time

import pytest

from backend.integrations.ai import health


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.AI_CIRCUIT_FAILURES = 3
    settings.AI_CIRCUIT_COOLDOWN_SECONDS = 30


def test_circuit_opens_after_consecutive_failures():
    now = 1_000.0
    assert health.record_failure("p", now).state(now) == "closed"
    assert health.record_failure("p", now).state(now) == "closed"
    circuit = health.record_failure("p", now)
    assert circuit.state(now) == "open"
    assert circuit.open_until == now + 30
    assert health.allow("p", circuit, now) is False


def test_open_circuit_half_opens_after_the_cooldown_and_lets_one_trial_through():
    for _ in range(3):
        circuit = health.record_failure("p", 1_000.0)
    later = circuit.open_until + 1
    assert circuit.state(later) == "half_open"
    assert health.allow("p", circuit, later) is True
    assert health.allow("p", circuit, later) is False  # the trial is taken; others wait


def test_a_later_failure_extends_the_deadline_and_never_shortens_it():
    for _ in range(3):
        first = health.record_failure("p", 1_000.0)
    extended = health.record_failure("p", 1_020.0)
    assert extended.open_until == 1_050.0 > first.open_until
    again = health.record_failure("p", 1_001.0)  # an older clock reading cannot pull it back
    assert again.open_until == 1_050.0


def test_success_closes_the_circuit():
    for _ in range(3):
        circuit = health.record_failure("p", 1_000.0)
    health.record_success("p", circuit)
    assert health.read("p") == health.CLOSED


def test_state_is_shared_through_the_cache():
    for _ in range(3):
        health.record_failure("shared", 1_000.0)
    assert health.read_many(["shared", "other"]) == {"shared": health.Circuit(3, 1_030.0)}


def test_a_clean_success_writes_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(health.cache, "delete_many", lambda keys: calls.append(keys))
    health.record_success("p", health.CLOSED)
    assert calls == []


@pytest.fixture
def shared_cache(settings):
    """Treat the test cache as shared between workers (as Redis is)."""
    from backend.integrations.ai import config

    config._state.shared_cache = True
    settings.AI_SHARED_STATE_SECONDS = 0.05
    yield
    config._state.shared_cache = None


def test_with_a_shared_cache_another_workers_circuit_is_seen_within_the_memo_time(shared_cache):
    assert health.read_many(["p"]) == {}
    other_worker = health.Circuit(5, time.time() + 100)
    health.cache.set("ai:circuit:p", (other_worker.failures, other_worker.open_until))
    assert health.read_many(["p"]) == {}  # remembered for AI_SHARED_STATE_SECONDS
    time.sleep(0.06)
    assert health.read_many(["p"]) == {"p": other_worker}


def test_with_a_shared_cache_this_workers_own_failures_are_seen_at_once(shared_cache):
    assert health.read_many(["q"]) == {}
    for _ in range(3):
        circuit = health.record_failure("q")
    assert health.read_many(["q"]) == {"q": circuit}
    health.record_success("q", circuit)
    assert health.read_many(["q"]) == {}
