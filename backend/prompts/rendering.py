"""Prompt template text: its `{placeholders}`, and rendering it with exactly those variables.

Templates use Python's format syntax restricted to plain names: `{topic}` is a placeholder, `{{`
and `}}` are literal braces. Positional (`{}`), attribute (`{a.b}`), index (`{a[0]}`), conversion
and format-spec fields are refused, so a template can neither read object internals nor fail
half-way through a render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Formatter
from typing import Final

from backend.cms_ai import FeatureInputError

_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PromptSyntaxError(FeatureInputError):
    """The template text is not valid: unbalanced braces or a placeholder that is not a plain name."""


class PromptVariablesError(FeatureInputError):
    """The variables given do not match the template's placeholders; no call was made."""

    def __init__(self, message: str, *, missing: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing
        self.extra = extra


def placeholders(text: str) -> tuple[str, ...]:
    """The placeholder names in `text`, in order of first appearance; raises `PromptSyntaxError`."""
    names: list[str] = []
    try:
        fields = list(Formatter().parse(text))
    except ValueError as exc:
        raise PromptSyntaxError(
            f"The template's braces do not balance ({exc}): write literal braces as {{{{ and }}}}."
        ) from exc
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if not _NAME_RE.match(name) or spec or conversion:
            field_text = (
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            raise PromptSyntaxError(
                f"The placeholder {field_text} is not a plain name: use {{name}} with letters, digits and "
                "underscores only, and {{{{ }}}} for literal braces."
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def render(text: str, variables: Mapping[str, object], *, expected: tuple[str, ...] | None = None) -> str:
    """`text` with its placeholders filled from `variables`, which must name each exactly once.

    `expected` is the full set of names the caller's template uses (when `text` is one part of a
    larger template); it defaults to `placeholders(text)`. Raises `PromptVariablesError` naming
    the missing and the unknown variables, or `PromptSyntaxError`.
    """
    names = placeholders(text)
    wanted = expected if expected is not None else names
    missing = tuple(n for n in wanted if n not in variables)
    extra = tuple(sorted(n for n in variables if n not in wanted))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in the template: {', '.join(extra)}")
        raise PromptVariablesError(
            f"The variables do not match the template ({'; '.join(parts)}). It expects exactly: "
            f"{', '.join(wanted) or 'no variables'}.",
            missing=missing,
            extra=extra,
        )
    return text.format_map({n: variables[n] for n in names})
