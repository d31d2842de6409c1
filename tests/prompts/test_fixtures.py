"""fixtures/demo_prompts.json loads, loads again without change, and every template can render."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command

from backend.prompts.models import PromptTemplate
from backend.prompts.services.ai_service import prompt_template_render


@pytest.mark.django_db
def test_demo_prompts_load_twice_without_change() -> None:
    call_command("loaddata", settings.BASE_DIR / "fixtures" / "demo_prompts.json", verbosity=0)
    first = list(PromptTemplate.objects.order_by("pk").values())
    call_command("loaddata", settings.BASE_DIR / "fixtures" / "demo_prompts.json", verbosity=0)

    assert list(PromptTemplate.objects.order_by("pk").values()) == first
    assert len(first) >= 3
    for template in PromptTemplate.objects.all():
        template.full_clean()
        messages = prompt_template_render(template=template, variables=dict.fromkeys(template.variables, "x"))
        assert messages[-1]["role"] == "user"
