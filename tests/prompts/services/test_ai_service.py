"""Rendering and running prompt templates through the facade, against the loopback fake server."""

from __future__ import annotations

import json

import pytest

from backend.cms_ai import MalformedReply
from backend.integrations.ai.errors import AllProvidersFailed
from backend.integrations.ai.models import CallLog
from backend.prompts.models import PromptTemplate
from backend.prompts.rendering import PromptVariablesError
from backend.prompts.services.ai_service import prompt_template_render, prompt_template_run
from tests.cms_support import BACKUP, PRIMARY, Routing
from tests.fakes.server import Fault


@pytest.fixture
def template(db: None) -> PromptTemplate:
    return PromptTemplate.objects.create(
        name="product-description",
        system_prompt="You write for {audience}.",
        template="Describe {product} for {audience}.",
        temperature=0.4,
        max_tokens=123,
    )


def test_render_builds_system_and_user_messages(template: PromptTemplate) -> None:
    messages = prompt_template_render(template=template, variables={"audience": "cooks", "product": "a pan"})
    assert messages == [
        {"role": "system", "content": "You write for cooks."},
        {"role": "user", "content": "Describe a pan for cooks."},
    ]


def test_render_without_a_system_prompt_sends_only_the_user_turn(db: None) -> None:
    bare = PromptTemplate.objects.create(name="bare", template="{text}")
    assert prompt_template_render(template=bare, variables={"text": "hi"}) == [
        {"role": "user", "content": "hi"}
    ]


def test_run_returns_the_text_and_the_call_figures(routing: Routing, template: PromptTemplate) -> None:
    routing.server.set_reply(PRIMARY, text="A sturdy pan.")

    result = prompt_template_run(template=template, variables={"audience": "cooks", "product": "a pan"})

    assert result.text == "A sturdy pan."
    assert (result.provider, result.model, result.alias) == ("primary-openai", "gpt-4.1-mini", "default")
    assert result.usage.completion_tokens == 3
    assert result.usage.total_tokens == result.usage.prompt_tokens + 3
    assert result.latency_ms > 0
    sent = routing.server.requests(PRIMARY)[-1].json
    assert (sent["temperature"], sent["max_completion_tokens"]) == (0.4, 123)  # OpenAI's name for it
    log = CallLog.objects.get()
    assert (log.caller, log.provider, log.outcome) == (
        "prompts.product-description",
        "primary-openai",
        "success",
    )


def test_a_variable_mismatch_fails_before_any_call(routing: Routing, template: PromptTemplate) -> None:
    with pytest.raises(PromptVariablesError, match="missing audience"):
        prompt_template_run(template=template, variables={"product": "a pan"})
    with pytest.raises(PromptVariablesError, match="not in the template: colour"):
        prompt_template_run(template=template, variables={"product": "p", "audience": "a", "colour": "red"})

    assert routing.server.count(PRIMARY) == 0
    assert not CallLog.objects.exists()


def test_the_template_alias_then_an_explicit_alias_choose_the_route(
    routing: Routing, template: PromptTemplate
) -> None:
    template.alias = "cheap"
    template.save()
    variables = {"audience": "cooks", "product": "a pan"}

    assert prompt_template_run(template=template, variables=variables).model == "gpt-4.1-nano"
    assert prompt_template_run(template=template, variables=variables, alias="smart").model == "gpt-4o"


def test_json_template_returns_pretty_validated_json(routing: Routing, db: None) -> None:
    ideas = PromptTemplate.objects.create(
        name="ideas", template='Ideas about {topic} as {{"ideas": []}}', response_format="json_object"
    )
    routing.server.set_reply(PRIMARY, text='{"ideas": ["tea", "coffee"]}')

    result = prompt_template_run(template=ideas, variables={"topic": "drinks"})

    assert json.loads(result.text) == {"ideas": ["tea", "coffee"]}
    assert result.text.startswith("{\n  ")
    sent = routing.server.requests(PRIMARY)[-1].json
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][-1]["content"] == 'Ideas about drinks as {"ideas": []}'


def test_json_template_with_a_non_object_reply_twice_is_a_clear_error(routing: Routing, db: None) -> None:
    ideas = PromptTemplate.objects.create(name="ideas", template="{topic}", response_format="json_object")
    routing.server.set_reply(PRIMARY, text='["a list", "not an object"]')

    with pytest.raises(MalformedReply, match="expected a JSON object, got a list"):
        prompt_template_run(template=ideas, variables={"topic": "drinks"})
    assert routing.server.count(PRIMARY) == 2


def test_run_fails_over_and_reports_the_provider_that_served(
    routing: Routing, template: PromptTemplate
) -> None:
    routing.server.script(PRIMARY, Fault(status=429, code="rate_limit_exceeded"))

    result = prompt_template_run(template=template, variables={"audience": "cooks", "product": "a pan"})

    assert result.provider == "backup-anthropic"
    assert result.text == "Hello from backup."


def test_run_with_every_provider_down_raises_the_typed_error(
    routing: Routing, template: PromptTemplate
) -> None:
    routing.server.script(PRIMARY, Fault(status=500, always=True))
    routing.server.script(BACKUP, Fault(drop=True, always=True))

    with pytest.raises(AllProvidersFailed):
        prompt_template_run(template=template, variables={"audience": "cooks", "product": "a pan"})
    assert CallLog.objects.get().outcome == "error"
