"""Render a prompt template and run it through the registry's facade.

`prompt_template_render()` checks the variables against the template's placeholders and builds the
messages; a missing or unknown variable raises `PromptVariablesError` before any call is made.
`prompt_template_run()` sends them with the template's alias, temperature, max tokens and response
format, logged under the caller `prompts.<name>`, and returns an `AIResult`: the text plus the
provider, model, tokens, cost and latency of the call. A JSON template's reply is validated (one
retry on invalid JSON, then `MalformedReply`) and returned pretty-printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.cms_ai import AIResult, complete_json, complete_text, feature_alias
from backend.prompts.models import PromptTemplate, ResponseFormat
from backend.prompts.rendering import render

__all__ = ["prompt_template_alias", "prompt_template_render", "prompt_template_run"]


def prompt_template_alias(*, template: PromptTemplate, alias: str | None = None) -> str:
    """The alias a run uses: `alias`, else the template's, else the `prompt` feature's from settings."""
    return alias or template.alias or feature_alias("prompt")


def prompt_template_render(
    *, template: PromptTemplate, variables: Mapping[str, object]
) -> list[dict[str, str]]:
    """The messages for one run; raises `PromptVariablesError` when the variables do not match."""
    expected = template.variables
    messages = []
    if template.system_prompt.strip():
        messages.append(
            {"role": "system", "content": render(template.system_prompt, variables, expected=expected)}
        )
    messages.append({"role": "user", "content": render(template.template, variables, expected=expected)})
    return messages


def _json_object(data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got a {type(data).__name__}")
    return data


def prompt_template_run(
    *, template: PromptTemplate, variables: Mapping[str, object], alias: str | None = None
) -> AIResult:
    """Render `template` with `variables` and run it; the facade's `AIError`s propagate."""
    messages = prompt_template_render(template=template, variables=variables)
    params: dict[str, Any] = {
        "feature": "prompt",
        "caller": f"prompts.{template.name}"[:100],
        "messages": messages,
        "alias": prompt_template_alias(template=template, alias=alias),
    }
    if template.temperature is not None:
        params["temperature"] = template.temperature
    if template.max_tokens is not None:
        params["max_tokens"] = template.max_tokens
    if template.response_format == ResponseFormat.JSON_OBJECT:
        data, result = complete_json(validate=_json_object, **params)
        return result.with_text(json.dumps(data, indent=2, ensure_ascii=False))
    return complete_text(**params)
