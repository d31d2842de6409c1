"""The PromptTemplate model: its variables and validation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from backend.prompts.models import PromptTemplate


def test_variables_span_system_prompt_and_template() -> None:
    template = PromptTemplate(
        name="t", system_prompt="You write for {audience}.", template="{topic} for {audience}"
    )
    assert template.variables == ("audience", "topic")


def test_clean_reports_a_bad_placeholder_on_its_field() -> None:
    template = PromptTemplate(name="t", system_prompt="ok", template="Hello {user.name}")
    with pytest.raises(ValidationError) as excinfo:
        template.clean()
    assert set(excinfo.value.message_dict) == {"template"}


@pytest.mark.django_db
def test_natural_key_is_the_name() -> None:
    PromptTemplate.objects.create(name="greet", template="Hi {name}")
    assert PromptTemplate.objects.get_by_natural_key("greet").natural_key() == ("greet",)
