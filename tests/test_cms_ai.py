"""What the CMS features share: alias configuration, results, code fences."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.cms_ai import FEATURE_ALIASES, AIResult, feature_alias, strip_code_fence
from backend.integrations.ai.errors import ConfigurationError
from backend.integrations.ai.types import Completion, Usage


def test_settings_define_an_alias_for_every_feature(settings) -> None:
    assert set(settings.PANEL_AI_FEATURE_ALIASES) == set(FEATURE_ALIASES)


def test_feature_alias_defaults_then_settings_then_explicit(settings) -> None:
    settings.PANEL_AI_FEATURE_ALIASES = {}
    assert feature_alias("meta_description") == "fast"
    assert feature_alias("draft") == "smart"
    settings.PANEL_AI_FEATURE_ALIASES = {"meta_description": "cheap"}
    assert feature_alias("meta_description") == "cheap"
    assert feature_alias("meta_description", "smart") == "smart"


def test_an_unknown_feature_is_a_configuration_error_naming_the_fix(settings) -> None:
    with pytest.raises(ConfigurationError, match="PANEL_AI_ALIAS_PODCAST"):
        feature_alias("podcast")


def test_environment_overrides_one_feature(monkeypatch) -> None:
    import importlib

    import backend.panel.settings as panel_settings

    monkeypatch.setenv("PANEL_AI_ALIAS_SUMMARY", "cheap")
    try:
        reloaded = importlib.reload(panel_settings)
        assert reloaded.PANEL_AI_FEATURE_ALIASES["summary"] == "cheap"
        assert reloaded.PANEL_AI_FEATURE_ALIASES["draft"] == "smart"
    finally:
        monkeypatch.delenv("PANEL_AI_ALIAS_SUMMARY")
        importlib.reload(panel_settings)


def _result(provider: str, tokens: int, cost: Decimal | None) -> AIResult:
    completion = Completion(
        text="t",
        provider=provider,
        model=f"{provider}-model",
        usage=Usage(prompt_tokens=tokens, completion_tokens=1, total_tokens=tokens + 1),
        cost=cost,
        latency_ms=10.0,
        attempts=2,
    )
    return AIResult.from_completion(completion, alias="fast")


def test_combine_sums_usage_and_lists_each_provider_once() -> None:
    combined = AIResult.combine(
        [_result("a", 3, Decimal("0.1")), _result("b", 4, Decimal("0.2")), _result("a", 5, Decimal("0.3"))],
        text="all",
    )
    assert combined.provider == "a, b"
    assert combined.model == "a-model, b-model"
    assert (combined.usage.prompt_tokens, combined.usage.total_tokens) == (12, 15)
    assert combined.cost == Decimal("0.6")
    assert (combined.calls, combined.attempts, combined.latency_ms) == (3, 6, 30.0)
    assert combined.text == "all"


def test_combine_cost_is_unknown_when_any_part_is_unknown() -> None:
    assert AIResult.combine([_result("a", 1, Decimal("1")), _result("a", 1, None)], text="").cost is None


def test_combine_needs_a_result() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AIResult.combine([], text="")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ("```\nplain\n```\n", "plain"),
        ("no fence", "no fence"),
        ("```a```", "```a```"),
        ("before\n```\ncode\n```", "before\n```\ncode\n```"),
    ],
)
def test_strip_code_fence_only_unwraps_a_fence_around_everything(text: str, expected: str) -> None:
    assert strip_code_fence(text) == expected
