"""What the CMS's AI features share: the alias each feature asks for, the result, the errors.

Pages and prompts reach a model only through the registry's facade (`backend.integrations.ai`), so
every call follows the admin's routing, fails over, and lands in the call log under its caller tag.
This module is the thin layer they share on top of it:

- `feature_alias()` reads which alias a feature uses from `settings.PANEL_AI_FEATURE_ALIASES`
  (defaults below, each overridable with `PANEL_AI_ALIAS_<FEATURE>`; see docs/cms-ai.md);
- `AIResult` is what every CMS service returns: the text plus who served it and what it cost;
- `complete_text()` and `complete_json()` make one call (the JSON one retries once on a reply that
  is not valid JSON) and return an `AIResult`;
- `GeneratedContentRejected` and its kinds are the errors raised when a provider answered but the
  reply failed a feature's own checks. They are `AIError`s, so callers catch one thing;
- `FeatureInputError` (a `ValueError`) is raised before any call when a page or template lacks
  what a feature needs. Catch `(AIError, FeatureInputError)` to handle every failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final, TypeVar

from django.conf import settings

from backend.integrations import ai
from backend.integrations.ai.errors import AIError, ConfigurationError
from backend.integrations.ai.types import Completion, Usage
from backend.panel.ai_features import DEFAULT_FEATURE_ALIASES

__all__ = [
    "FEATURE_ALIASES",
    "AIResult",
    "EmptyReply",
    "FeatureInputError",
    "GeneratedContentRejected",
    "MalformedReply",
    "StructureMismatch",
    "complete_json",
    "complete_text",
    "feature_alias",
]

T = TypeVar("T")

# The built-in defaults; settings.PANEL_AI_FEATURE_ALIASES (and its env overrides) take precedence.
FEATURE_ALIASES: Final[Mapping[str, str]] = DEFAULT_FEATURE_ALIASES

_FENCE_RE: Final = re.compile(r"^\s*```[\w-]*\s*\n(?P<inner>.*?)\n\s*```\s*$", re.DOTALL)


def feature_alias(feature: str, override: str | None = None) -> str:
    """The alias `feature` asks the registry for: `override` when given, else the configured one."""
    if override:
        return override
    configured: Mapping[str, str] = getattr(settings, "PANEL_AI_FEATURE_ALIASES", {}) or {}
    alias = configured.get(feature) or FEATURE_ALIASES.get(feature)
    if not alias:
        raise ConfigurationError(
            f"No model alias is configured for the CMS feature {feature!r}: add it to "
            f"PANEL_AI_FEATURE_ALIASES in settings, or set PANEL_AI_ALIAS_{feature.upper()}."
        )
    return alias


class FeatureInputError(ValueError):
    """The page or template lacks what the feature needs; raised before any call is made."""


class GeneratedContentRejected(AIError):
    """A provider answered, but its reply failed the feature's own checks; nothing was saved."""

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model


class EmptyReply(GeneratedContentRejected):
    """The reply held no text at all."""


class MalformedReply(GeneratedContentRejected):
    """A reply that should have been JSON of a given shape was not, even after one retry."""


class StructureMismatch(GeneratedContentRejected):
    """A translation or rewrite lost or changed the HTML/Markdown structure of its source."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AIResult:
    """What a CMS AI service returns: the text and the facts of the call(s) that produced it.

    `provider` names the Provider row that served (several, comma-separated, when a multi-step
    feature failed over between steps); `calls` counts the registry calls behind the result.
    """

    text: str
    provider: str
    model: str
    alias: str
    usage: Usage = field(default_factory=Usage)
    cost: Decimal | None = None
    latency_ms: float = 0.0
    attempts: int = 1
    calls: int = 1
    finish_reason: str = "stop"

    @classmethod
    def from_completion(cls, completion: Completion, *, alias: str) -> AIResult:
        return cls(
            text=completion.text or "",
            provider=completion.provider,
            model=completion.model,
            alias=alias,
            usage=completion.usage,
            cost=completion.cost,
            latency_ms=completion.latency_ms,
            attempts=completion.attempts,
            finish_reason=completion.finish_reason,
        )

    @classmethod
    def combine(cls, results: Sequence[AIResult], *, text: str) -> AIResult:
        """One result for several calls: tokens, latency and attempts summed, providers listed once.

        The cost is the sum when every call's cost is known, else None (unknown, not understated).
        """
        if not results:
            raise ValueError("AIResult.combine() needs at least one result.")
        costs = [r.cost for r in results]
        return cls(
            text=text,
            provider=_unique_joined(r.provider for r in results),
            model=_unique_joined(r.model for r in results),
            alias=_unique_joined(r.alias for r in results),
            usage=Usage(
                prompt_tokens=sum(r.usage.prompt_tokens for r in results),
                completion_tokens=sum(r.usage.completion_tokens for r in results),
                total_tokens=sum(r.usage.total_tokens for r in results),
            ),
            cost=None if any(c is None for c in costs) else sum(costs, Decimal(0)),  # type: ignore[arg-type]
            latency_ms=sum(r.latency_ms for r in results),
            attempts=sum(r.attempts for r in results),
            calls=sum(r.calls for r in results),
            finish_reason=results[-1].finish_reason,
        )

    def with_text(self, text: str) -> AIResult:
        return replace(self, text=text)


def _unique_joined(values: Any) -> str:
    return ", ".join(dict.fromkeys(v for v in values if v))


def strip_code_fence(text: str) -> str:
    """The text inside one Markdown code fence wrapping the whole reply, else the text unchanged."""
    match = _FENCE_RE.match(text)
    return match.group("inner") if match else text


def messages_build(*, system: str, user: str) -> list[dict[str, str]]:
    """The facade's message list for one system instruction and one user turn."""
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _complete(
    *, feature: str, caller: str, messages: list[dict[str, str]], alias: str | None, **params: Any
) -> AIResult:
    resolved = feature_alias(feature, alias)
    completion = ai.complete(messages=messages, model=resolved, caller=caller, **params)
    return AIResult.from_completion(completion, alias=resolved)


def complete_text(
    *,
    feature: str,
    caller: str,
    messages: list[dict[str, str]],
    alias: str | None = None,
    **params: Any,
) -> AIResult:
    """One facade call for `feature`; raises `EmptyReply` on a blank reply, else the facade's errors."""
    result = _complete(feature=feature, caller=caller, messages=messages, alias=alias, **params)
    if not result.text.strip():
        raise EmptyReply(
            f"{result.provider or 'The provider'} returned an empty reply for {caller}: try again, or "
            f"route the alias '{result.alias}' to another model under Admin › AI › Model aliases.",
            provider=result.provider,
            model=result.model,
        )
    return result


def _json_decoded(text: str) -> Any:
    if not text.strip():
        raise ValueError("the reply was empty")
    return json.loads(strip_code_fence(text.strip()))


def complete_json(
    *,
    feature: str,
    caller: str,
    messages: list[dict[str, str]],
    validate: Callable[[Any], T],
    alias: str | None = None,
    **params: Any,
) -> tuple[T, AIResult]:
    """A call whose reply must be JSON that `validate` accepts; one retry, then `MalformedReply`.

    `validate` takes the decoded JSON and returns the value to hand back, or raises `ValueError` or
    `TypeError` saying what is wrong; that reason is sent back to the model on the retry. A blank
    reply is retried the same way (without echoing the blank turn, which Anthropic refuses). The
    result's usage and cost cover both calls when there were two.
    """
    params.setdefault("response_format", {"type": "json_object"})
    results: list[AIResult] = []
    conversation = list(messages)
    problem = ""
    for _ in range(2):
        result = _complete(feature=feature, caller=caller, messages=conversation, alias=alias, **params)
        results.append(result)
        try:
            value = validate(_json_decoded(result.text))
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError too
            problem = str(exc)
            echo = [{"role": "assistant", "content": result.text}] if result.text.strip() else []
            conversation = [
                *messages,
                *echo,
                {
                    "role": "user",
                    "content": f"That reply was not valid: {problem}. Answer again with only the JSON "
                    "object, no prose and no code fence.",
                },
            ]
            continue
        return value, AIResult.combine(results, text=result.text)
    last = results[-1]
    raise MalformedReply(
        f"{last.provider or 'The provider'} twice replied with something other than the JSON asked for "
        f"({problem}). Try again, or route the alias '{last.alias}' to a model that follows JSON "
        "instructions under Admin › AI › Model aliases.",
        provider=last.provider,
        model=last.model,
    )
