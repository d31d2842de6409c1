"""factory-boy factories for the registry's rows, named after the row (never the registry's own
`ProviderFactory`). Keys are obviously fake: "sk-test-…"."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider


class ProviderRowFactory(DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"provider-{n}")
    kind = "openai"
    base_url = ""
    api_key = factory.Sequence(lambda n: f"sk-test-{n:04d}-fake-key-for-tests-only")
    api_key_env = ""
    enabled = True
    priority = factory.Sequence(lambda n: 10 * (n + 1))
    weight = 1

    class Params:
        disabled = factory.Trait(enabled=False)
        openrouter = factory.Trait(
            kind="openrouter",
            api_key=factory.Sequence(lambda n: f"sk-or-v1-test-{n:04d}-fake-key-for-tests-only"),
            api_key_env="OPENROUTER_API_KEY",
        )
        anthropic = factory.Trait(
            kind="anthropic",
            api_key=factory.Sequence(lambda n: f"sk-ant-test-{n:04d}-fake-key-for-tests-only"),
            api_key_env="ANTHROPIC_API_KEY",
        )
        keyless = factory.Trait(api_key="")


class ModelAliasRowFactory(DjangoModelFactory):
    class Meta:
        model = ModelAlias
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"alias-{n}")
    description = "An alias for tests."
    enabled = True


class ModelRouteRowFactory(DjangoModelFactory):
    class Meta:
        model = ModelRoute

    alias = factory.SubFactory(ModelAliasRowFactory)
    provider = factory.SubFactory(ProviderRowFactory)
    model = "gpt-4o-mini"
    priority = factory.Sequence(lambda n: 10 * (n + 1))
    weight = 1
    enabled = True
