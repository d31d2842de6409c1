"""Routing decisions: resolution order, modes, strategies, circuits, and the retry/failover table."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from types import MappingProxyType

import pytest

from backend.integrations.ai import errors, health, router
from backend.integrations.ai.config import (
    AliasConfig,
    ProviderConfig,
    RegistryConfig,
    RouteConfig,
    _spec,
)
from backend.integrations.ai.pricing import Price


def provider(name: str, kind: str, priority: int = 10, weight: int = 1, problem: str = "") -> ProviderConfig:
    return ProviderConfig(
        name=name,
        kind=kind,
        spec=_spec(kind=kind, name=name, base_url="http://127.0.0.1:9/v1", api_key="sk-test"),
        priority=priority,
        weight=weight,
        problem=problem,
    )


def make_config(
    providers, aliases=(), *, mode="auto", prices=None, default_alias="default"
) -> RegistryConfig:
    return RegistryConfig(
        version=1,
        source="database",
        providers=MappingProxyType({p.name: p for p in providers}),
        aliases=MappingProxyType({a.name: a for a in aliases}),
        mode=mode,
        default_alias=default_alias,
        prices=MappingProxyType(prices or {}),
    )


def names(plan: router.Plan) -> list[tuple[str, str]]:
    return [(c.name, c.model) for c in plan.candidates]


@pytest.fixture
def three():
    return [
        provider("openrouter", "openrouter", priority=10),
        provider("openai", "openai", priority=20),
        provider("anthropic", "anthropic", priority=30),
    ]


def test_alias_routes_follow_route_priority_then_provider_priority(three):
    alias = AliasConfig(
        name="smart",
        routes=(
            RouteConfig(provider="anthropic", model="claude-3-5-sonnet-20241022", priority=5),
            RouteConfig(provider="openai", model="gpt-4o", priority=10),
            RouteConfig(provider="openrouter", model="openai/gpt-4o", priority=10),
        ),
    )
    plan = router.resolve(make_config(three, [alias]), "smart")
    assert names(plan) == [
        ("anthropic", "claude-3-5-sonnet-20241022"),
        ("openrouter", "openai/gpt-4o"),
        ("openai", "gpt-4o"),
    ]
    assert plan.alias == "smart"


def test_none_means_the_default_alias(three):
    alias = AliasConfig(name="house", routes=(RouteConfig(provider="openai", model="gpt-4o-mini"),))
    plan = router.resolve(make_config(three, [alias], default_alias="house"), None)
    assert plan.requested == "house"
    assert names(plan) == [("openai", "gpt-4o-mini")]


def test_plain_model_name_goes_to_every_provider_that_can_serve_it_normalized(three):
    cfg = make_config(three)
    assert names(router.resolve(cfg, "claude-3-5-sonnet-20241022")) == [
        ("openrouter", "anthropic/claude-3.5-sonnet"),
        ("anthropic", "claude-3-5-sonnet-20241022"),
    ]
    assert names(router.resolve(cfg, "gpt-4o")) == [("openrouter", "openai/gpt-4o"), ("openai", "gpt-4o")]
    assert names(router.resolve(cfg, "anthropic/claude-3.5-sonnet")) == [
        ("openrouter", "anthropic/claude-3.5-sonnet"),
        ("anthropic", "claude-3-5-sonnet-20241022"),
    ]


def test_mode_openrouter_moves_every_route_to_openrouter_normalized(three):
    alias = AliasConfig(
        name="smart",
        routes=(
            RouteConfig(provider="anthropic", model="claude-3-5-sonnet-20241022", priority=1),
            RouteConfig(provider="openai", model="gpt-4o", priority=2),
        ),
    )
    plan = router.resolve(make_config(three, [alias], mode="openrouter"), "smart")
    assert names(plan) == [("openrouter", "anthropic/claude-3.5-sonnet"), ("openrouter", "openai/gpt-4o")]
    assert {c.provider.kind for c in plan.candidates} == {"openrouter"}


def test_mode_anthropic_pins_plain_model_names_to_anthropic(three):
    plan = router.resolve(make_config(three, mode="anthropic"), "anthropic/claude-3.5-sonnet")
    assert names(plan) == [("anthropic", "claude-3-5-sonnet-20241022")]


def test_pinned_mode_without_a_provider_of_that_kind_is_a_configuration_error(three):
    cfg = make_config(
        three[1:],
        [AliasConfig(name="x", routes=(RouteConfig(provider="openai", model="gpt-4o"),))],
        mode="openrouter",
    )
    with pytest.raises(errors.ConfigurationError, match="mode is 'openrouter'"):
        router.resolve(cfg, "x")


def test_alias_without_routes_names_the_admin_page_and_env_var(three):
    cfg = make_config(three, [AliasConfig(name="fast")])
    with pytest.raises(errors.ConfigurationError) as caught:
        router.resolve(cfg, "fast")
    assert "No enabled route for alias 'fast'" in str(caught.value)
    assert "Admin › AI › Model aliases" in str(caught.value)
    assert "OPENROUTER_API_KEY" in str(caught.value)


def test_no_provider_at_all_names_the_fix():
    with pytest.raises(errors.ConfigurationError, match="Admin › AI › Providers"):
        router.resolve(make_config([]), None)


def test_unusable_provider_is_not_a_candidate_and_its_problem_is_reported():
    broken = provider("openai", "openai", problem="Provider 'openai' has no API key: enter one.")
    alias = AliasConfig(name="default", routes=(RouteConfig(provider="openai", model="gpt-4o"),))
    with pytest.raises(errors.ConfigurationError) as caught:
        router.resolve(make_config([broken], [alias]), None)
    assert str(caught.value) == (
        "Alias 'default' has 1 enabled route(s), but none can serve now: "
        "Provider 'openai' has no API key: enter one."
    )


def test_weighted_random_within_a_priority_tie_follows_weights():
    a, b = provider("a", "openai", weight=3), provider("b", "openai", weight=1)
    alias = AliasConfig(
        name="default",
        routes=(
            RouteConfig(provider="a", model="m", priority=1),
            RouteConfig(provider="b", model="m", priority=1),
        ),
    )
    cfg = make_config([a, b], [alias])
    random.seed(7)
    firsts = Counter(router.resolve(cfg, None).candidates[0].name for _ in range(4000))
    share = firsts["a"] / 4000
    assert 0.70 < share < 0.80  # 3:1 weights -> 75 %


def test_weighted_strategy_ignores_priority():
    a, b = provider("a", "openai", priority=1), provider("b", "openai", priority=99)
    alias = AliasConfig(
        name="w",
        strategy="weighted",
        routes=(
            RouteConfig(provider="a", model="m", priority=1),
            RouteConfig(provider="b", model="m", priority=50),
        ),
    )
    random.seed(3)
    firsts = Counter(
        router.resolve(make_config([a, b], [alias]), "w").candidates[0].name for _ in range(2000)
    )
    assert 800 < firsts["b"] < 1200


def test_cheapest_strategy_orders_by_catalog_price_unknown_last(three):
    alias = AliasConfig(
        name="cheap",
        strategy="cheapest",
        routes=(
            RouteConfig(provider="openai", model="gpt-4o", priority=1),
            RouteConfig(provider="anthropic", model="claude-3-5-haiku-20241022", priority=2),
            RouteConfig(provider="openrouter", model="some/unpriced", priority=0),
        ),
    )
    prices = {
        ("openai", "gpt-4o"): Price(prompt=Decimal("0.0000025"), completion=Decimal("0.00001")),
        ("anthropic", "claude-3-5-haiku-20241022"): Price(
            prompt=Decimal("0.0000008"), completion=Decimal("0.000004")
        ),
    }
    plan = router.resolve(make_config(three, [alias], prices=prices), "cheap")
    assert [c.name for c in plan.candidates] == ["anthropic", "openai", "openrouter"]


def test_fastest_strategy_orders_by_observed_latency(three):
    alias = AliasConfig(
        name="quick",
        strategy="fastest",
        routes=(
            RouteConfig(provider="openai", model="gpt-4o", priority=1),
            RouteConfig(provider="anthropic", model="claude-3-5-haiku-20241022", priority=2),
        ),
    )
    for _ in range(5):
        health.latency.observe("openai", "gpt-4o", 900.0)
        health.latency.observe("anthropic", "claude-3-5-haiku-20241022", 150.0)
    plan = router.resolve(make_config(three, [alias]), "quick")
    assert [c.name for c in plan.candidates] == ["anthropic", "openai"]


def test_open_circuit_moves_a_candidate_to_the_back(settings, three):
    settings.AI_CIRCUIT_FAILURES = 2
    alias = AliasConfig(
        name="default",
        routes=(
            RouteConfig(provider="openrouter", model="openai/gpt-4o", priority=1),
            RouteConfig(provider="openai", model="gpt-4o", priority=2),
        ),
    )
    cfg = make_config(three, [alias])
    health.record_failure("openrouter")
    assert router.resolve(cfg, None).candidates[0].name == "openrouter"  # one failure: still closed
    health.record_failure("openrouter")
    plan = router.resolve(cfg, None)
    assert [c.name for c in plan.candidates] == ["openai", "openrouter"]
    assert plan.candidates[1].circuit.state() == "open"


def test_explain_uses_the_same_resolution(three):
    alias = AliasConfig(name="default", routes=(RouteConfig(provider="openai", model="gpt-4o"),))
    explanation = router.explain(None, make_config(three, [alias]))
    assert explanation.requested == "default"
    assert [(c.provider, c.model, c.circuit) for c in explanation.candidates] == [
        ("openai", "gpt-4o", "closed")
    ]
    assert router.explain("nope-alias-xyz", make_config(three, [alias])).error


# --- the retry / failover table, row by row -------------------------------------------------------

POLICY_ROWS = [
    (errors.ProviderUnavailable("down", provider="p", status=503), router.Action.RETRY),
    (errors.ProviderUnavailable("overloaded", provider="p", status=529), router.Action.RETRY),
    (errors.ProviderUnavailable("timeout", provider="p", status=408), router.Action.RETRY),
    (errors.ProviderUnavailable("conflict", provider="p", status=409), router.Action.RETRY),
    (errors.ProviderUnavailable("refused", provider="p"), router.Action.RETRY),
    (errors.ProviderTimeout("slow", provider="p"), router.Action.RETRY),
    (errors.RateLimited("slow down", provider="p"), router.Action.RETRY),
    (errors.InvalidResponse("garbage", provider="p"), router.Action.RETRY),
    (errors.InsufficientCredits("pay", provider="p", status=402), router.Action.FAILOVER),
    (errors.AuthenticationError("bad key", provider="p", status=401), router.Action.FAILOVER),
    (errors.PermissionDenied("no", provider="p", status=403), router.Action.FAILOVER),
    (errors.ModelNotFound("gone", provider="p", status=404), router.Action.FAILOVER),
    (errors.ContextLengthExceeded("too long", provider="p", status=400), router.Action.FAILOVER),
    (errors.BadRequest("invalid", provider="p", status=400), router.Action.RAISE),
    (errors.BadRequest("too large", provider="p", status=413), router.Action.RAISE),
    (errors.BadRequest("unprocessable", provider="p", status=422), router.Action.RAISE),
    (
        errors.ProviderUnavailable("x-should-retry: false", provider="p", status=503, retryable=False),
        router.Action.FAILOVER,
    ),
]


@pytest.mark.parametrize(
    ("error", "action"),
    POLICY_ROWS,
    ids=[f"{type(e).__name__}-{e.status}-{e.message}" for e, _ in POLICY_ROWS],
)
def test_policy_table_row(error, action):
    assert router.action_for(error) is action


def test_retry_after_within_the_cap_is_honoured(settings):
    settings.AI_MAX_RETRY_WAIT_SECONDS = 10
    assert router.retry_delay(errors.RateLimited("x", provider="p", retry_after=2.5), 0) == 2.5


def test_retry_after_beyond_the_cap_fails_over_instead_of_sleeping(settings):
    settings.AI_MAX_RETRY_WAIT_SECONDS = 10
    assert router.retry_delay(errors.RateLimited("x", provider="p", retry_after=120), 0) is None


def test_backoff_is_exponential_with_full_jitter_and_capped(settings):
    settings.AI_RETRY_BASE_SECONDS = 0.5
    settings.AI_RETRY_MAX_BACKOFF_SECONDS = 8
    error = errors.ProviderUnavailable("x", provider="p", status=503)
    random.seed(1)
    for n, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)]:
        delays = [router.retry_delay(error, n) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8
