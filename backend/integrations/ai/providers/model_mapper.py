"""Model-name normalization between direct provider ids and OpenRouter slugs.

`normalize_model(name, kind)` returns the id to send to a provider of `kind`, whichever form the
name was written in: `gpt-4o` becomes `openai/gpt-4o` for OpenRouter, `anthropic/claude-3.5-sonnet`
becomes `claude-3-5-sonnet-20241022` for Anthropic. Rules come from the reference's §7.3/7.4:
OpenAI ids travel verbatim; Claude ids lose their `-YYYYMMDD` date *before* `3-5` turns into `3.5`
(else `claude-opus-4-20250514` would become `4.20250514`); the date of a slug cannot be derived,
so the way back goes through an explicit table. Bedrock (`anthropic.claude-…-v1:0`) and Vertex
(`claude-…@YYYYMMDD`) forms are accepted everywhere. `openai_compatible` servers name their own
models, so their names pass through. Unknown names pass through unchanged (logged at DEBUG);
whether a provider can serve a name is `can_serve()`'s question, not this one's.

Overrides come first: ``AI_MODEL_MAP = {"openrouter": {"my-name": "vendor/slug"}, "anthropic":
{...}}`` in settings maps exact names per kind. `register_catalog_slugs()` tells the mapper which
OpenRouter slugs exist, so a dated slug is preferred when the synced catalog has it. Results are
cached (this runs on every call); the cache clears when AI_MODEL_MAP or the catalog changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = ["KINDS", "can_serve", "clear_cache", "normalize_model", "register_catalog_slugs", "vendor_of"]

logger = logging.getLogger(__name__)

KINDS = ("openai", "openai_compatible", "anthropic", "openrouter")

# Bare-name prefixes -> OpenRouter author slug (§7.4 "bare names"); `o<digit>` is matched apart.
_VENDOR_PREFIXES = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "google"),
    ("gemma-", "google"),
    ("llama-", "meta-llama"),
    ("mistral-", "mistralai"),
    ("mixtral-", "mistralai"),
    ("deepseek-", "deepseek"),
)
_O_SERIES = re.compile(r"^o\d")
_BEDROCK = re.compile(r"^(?:[a-z]{2,7}\.)?anthropic\.(claude-[a-z0-9.-]+?)(?:-v\d+)?(?::\d+)?$")
_VERTEX = re.compile(r"^(claude-[a-z0-9.-]+?)(?:-v\d+)?@(\d{8})$")
# 3.x puts the version first (`claude-3-5-sonnet`); the SDK enum also writes 4.x that way.
_VERSION_FIRST = re.compile(r"^claude-(\d)(?:([.-])(\d{1,2}))?-(opus|sonnet|haiku)(?:-(\d{8}|latest))?$")
# 4.x puts the family first (`claude-sonnet-4-5`).
_FAMILY_FIRST = re.compile(r"^claude-(opus|sonnet|haiku)-(\d)(?:([.-])(\d{1,2}))?(?:-(\d{8}|latest))?$")

# Cases the rules get wrong (§7.3/7.4), bare lower-case name -> OpenRouter slug.
_TO_OPENROUTER = {
    "claude-3-5-sonnet-20240620": "anthropic/claude-3.5-sonnet-20240620",
    "gemini-1.5-pro": "google/gemini-pro-1.5",
    "gemini-1.5-flash": "google/gemini-flash-1.5",
    "llama-3-70b": "meta-llama/llama-3-70b-instruct",
    "llama-3-8b": "meta-llama/llama-3-8b-instruct",
    "llama-3.1-70b": "meta-llama/llama-3.1-70b-instruct",
    "llama-3.1-8b": "meta-llama/llama-3.1-8b-instruct",
    "llama-3.3-70b": "meta-llama/llama-3.3-70b-instruct",
}
# Undated Claude name -> the dated direct id it stands for (a slug carries no date). 4.6+ ids are
# dateless and need no entry.
_ANTHROPIC_DATED = {
    "claude-3-opus": "claude-3-opus-20240229",
    "claude-3-sonnet": "claude-3-sonnet-20240229",
    "claude-3-haiku": "claude-3-haiku-20240307",
    "claude-3-5-sonnet": "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku": "claude-3-5-haiku-20241022",
    "claude-3-7-sonnet": "claude-3-7-sonnet-20250219",
    "claude-sonnet-4": "claude-sonnet-4-20250514",
    "claude-opus-4": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}

_catalog_slugs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Claude:
    """A parsed Claude model name, whatever form it came in."""

    family: str
    major: int
    minor: int | None
    date: str | None
    latest: bool
    dotted: bool

    def base(self, sep: str) -> str:
        """The undated name with `sep` between major and minor; a `-0` minor is dropped."""
        version = f"{self.major}{sep}{self.minor}" if self.minor else str(self.major)
        if self.major < 4:
            return f"claude-{version}-{self.family}"
        return f"claude-{self.family}-{version}"


def _parse_claude(name: str) -> _Claude | None:
    """Parse a lower-case Claude name (direct, slug tail, SDK enum, Bedrock or Vertex form)."""
    match = _BEDROCK.match(name)
    if match:
        name = match.group(1)
    match = _VERTEX.match(name)
    if match:
        name = f"{match.group(1)}-{match.group(2)}"
    match = _VERSION_FIRST.match(name)
    if match:
        major, sep, minor, family, suffix = match.groups()
    else:
        match = _FAMILY_FIRST.match(name)
        if match is None:
            return None
        family, major, sep, minor, suffix = match.groups()
    return _Claude(
        family=family,
        major=int(major),
        minor=int(minor) if minor is not None else None,
        date=suffix if suffix and suffix != "latest" else None,
        latest=suffix == "latest",
        dotted=sep == ".",
    )


def _split_variant(name: str) -> tuple[str, str]:
    base, colon, variant = name.partition(":")
    return base, colon + variant


@lru_cache(maxsize=4096)
def vendor_of(name: str) -> str | None:
    """The OpenRouter author slug of a bare or prefixed model name ("openai", "anthropic",
    "google", "meta-llama", ...), or None when the name does not say."""
    lowered = name.strip().lower().lstrip("~")
    if "/" in lowered:
        return lowered.split("/", 1)[0] or None
    if _BEDROCK.match(lowered):
        return "anthropic"
    if _O_SERIES.match(lowered):
        return "openai"
    return next((vendor for prefix, vendor in _VENDOR_PREFIXES if lowered.startswith(prefix)), None)


# --- to OpenRouter -------------------------------------------------------------------------------


def _claude_slug(claude: _Claude, variant: str) -> str:
    if claude.date:
        known = _TO_OPENROUTER.get(f"{claude.base('-')}-{claude.date}")
        if known:
            return known + variant
        dated = f"anthropic/{claude.base('.')}-{claude.date}"
        if dated in _catalog_slugs:
            return dated + variant
    return f"anthropic/{claude.base('.')}{variant}"


def _anthropic_to_openrouter(name: str, lowered: str) -> str:
    prefixed = lowered.startswith("anthropic/")
    tail, variant = _split_variant(lowered.removeprefix("anthropic/"))
    if _BEDROCK.match(lowered):
        tail, variant = lowered, ""
    claude = _parse_claude(tail)
    if claude is None:
        return name if prefixed else f"anthropic/{lowered}"
    if prefixed and not claude.latest:
        written = f"anthropic/{claude.base('.')}" + (f"-{claude.date}" if claude.date else "") + variant
        if written == lowered:
            return name  # already a slug in OpenRouter's form
    return _claude_slug(claude, variant)


def _to_openrouter(name: str) -> str:
    lowered = name.lower()
    if lowered in _TO_OPENROUTER:
        return _TO_OPENROUTER[lowered]
    vendor = vendor_of(lowered)
    if vendor == "anthropic" and not lowered.startswith("~"):
        return _anthropic_to_openrouter(name, lowered)
    if vendor is None:
        logger.debug("Model %r has no known vendor; sending it to OpenRouter unchanged.", name)
        return name
    if "/" in lowered:
        return name
    return f"{vendor}/{lowered}"


# --- to a direct API -----------------------------------------------------------------------------


def _to_openai(name: str) -> str:
    if name.lower().startswith("openai/"):
        return _split_variant(name[len("openai/") :])[0]
    return name


def _to_anthropic(name: str) -> str:
    lowered = name.lower()
    from_slug = lowered.startswith("anthropic/")
    if from_slug:
        lowered = _split_variant(lowered.removeprefix("anthropic/"))[0]
    elif vendor_of(lowered) != "anthropic" or lowered.startswith("~"):
        return name  # another vendor's name: the caller decides whether Anthropic can serve it
    claude = _parse_claude(lowered)
    if claude is None:
        if not from_slug:
            logger.debug("Model %r is not a Claude id this mapper knows; sending it unchanged.", name)
        return lowered if from_slug else name
    if claude.date:
        return f"{claude.base('-')}-{claude.date}"
    if claude.latest:
        return f"{claude.base('-')}-latest"
    if not from_slug and not claude.dotted and claude.minor is not None and claude.major >= 4:
        return lowered  # a direct alias such as claude-sonnet-4-0 or claude-opus-4-1
    undated = claude.base("-")
    return _ANTHROPIC_DATED.get(undated, undated)


_CONVERTERS = {"openai": _to_openai, "anthropic": _to_anthropic, "openrouter": _to_openrouter}


# --- public API ----------------------------------------------------------------------------------


def _overrides() -> Mapping[str, Mapping[str, str]]:
    """settings.AI_MODEL_MAP, or {} when it is unset or Django settings are not configured."""
    from django.conf import settings

    try:
        table = getattr(settings, "AI_MODEL_MAP", None)
    except ImproperlyConfigured:
        return {}
    return table if isinstance(table, Mapping) else {}


def _override(name: str, kind: str) -> str | None:
    table = _overrides().get(kind)
    return table.get(name) if isinstance(table, Mapping) else None


@lru_cache(maxsize=4096)
def _normalize(name: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown provider kind {kind!r}: use one of {', '.join(KINDS)}.")
    override = _override(name, kind)
    if override:
        return override
    if kind == "openai_compatible" or not name:
        return name
    return _CONVERTERS[kind](name)


def normalize_model(name: str, kind: str) -> str:
    """The model id to send to a provider of `kind` (openai, openai_compatible, anthropic,
    openrouter) for `name` written in any known form. Raises ValueError for an unknown kind."""
    return _normalize(name.strip(), kind)


def can_serve(name: str, kind: str) -> bool:
    """Whether a provider of `kind` can plausibly serve `name`; the router asks this to find the
    providers for a plain model name.

    - openrouter: any vendor-prefixed slug (`meta-llama/…`, `~anthropic/…`, `openrouter/auto`) or a
      bare name whose vendor is known (it maps to a slug); not a bare unknown name (`llama3.2`).
    - openai: OpenAI's models only (`gpt-4o`, `o3-mini`, `openai/gpt-4o`).
    - anthropic: Claude models only, in any form but OpenRouter's `~` rolling aliases.
    - openai_compatible: anything except OpenAI's and Anthropic's own names in slug form
      (`openai/…`, `anthropic/…`), bare Claude names and OpenRouter's own routers
      (`openrouter/auto`, `~…`): such servers (Azure, Ollama, vLLM,
      Groq) serve names of their own, which may be bare (`gpt-4o` on Azure, `llama3.2` on
      Ollama) or contain a slash (`meta-llama/Llama-3.1-8B-Instruct` on vLLM).
    An exact AI_MODEL_MAP entry for that kind always counts as servable. Raises ValueError for an
    unknown kind.
    """
    return _can_serve(name.strip(), kind)


@lru_cache(maxsize=4096)
def _can_serve(name: str, kind: str) -> bool:
    if not name or _override(name, kind):
        return bool(name)
    vendor = vendor_of(name)
    if kind == "openrouter":
        return vendor is not None
    rolling = name.startswith("~")
    if kind == "openai":
        return vendor == "openai" and not rolling
    if kind == "anthropic":
        return vendor == "anthropic" and not rolling
    if kind == "openai_compatible":
        return (
            not rolling
            and vendor not in ("anthropic", "openrouter")
            and not name.lower().startswith("openai/")
        )
    raise ValueError(f"Unknown provider kind {kind!r}: use one of {', '.join(KINDS)}.")


def register_catalog_slugs(slugs: Iterable[str]) -> None:
    """Tell the mapper which OpenRouter slugs exist (from the synced catalog), replacing any
    earlier set: a dated Claude id then maps to its dated slug when the catalog lists one."""
    global _catalog_slugs
    _catalog_slugs = frozenset(slug.strip().lower() for slug in slugs)
    clear_cache()


def clear_cache() -> None:
    """Forget cached results (done automatically when AI_MODEL_MAP or the catalog changes)."""
    _normalize.cache_clear()
    _can_serve.cache_clear()


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "AI_MODEL_MAP":
        clear_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="ai.model_mapper.setting_changed")
