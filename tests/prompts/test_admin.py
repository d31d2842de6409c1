"""The prompt template admin and its Run page, end to end against the fake server."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from backend.prompts.models import PromptTemplate
from tests.cms_support import BACKUP, PRIMARY, Routing, message_texts
from tests.fakes.server import Fault


@pytest.fixture
def client(admin_client_logged_in: Client) -> Client:
    return admin_client_logged_in


@pytest.fixture
def template(db: None) -> PromptTemplate:
    return PromptTemplate.objects.create(
        name="email-reply", system_prompt="Be kind.", template="Reply in a {tone} tone to: {email}"
    )


def _run_url(template: PromptTemplate) -> str:
    return reverse("admin:prompts_prompttemplate_run", args=[template.pk])


def test_changelist_and_change_form_link_to_the_run_page(client: Client, template: PromptTemplate) -> None:
    listing = client.get(reverse("admin:prompts_prompttemplate_changelist")).content.decode()
    change = client.get(reverse("admin:prompts_prompttemplate_change", args=[template.pk])).content.decode()

    assert _run_url(template) in listing
    assert _run_url(template) in change


def test_run_page_shows_one_field_per_variable(client: Client, template: PromptTemplate) -> None:
    response = client.get(_run_url(template))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="tone"' in content and 'name="email"' in content
    assert "<code>default</code>" in content


def test_running_shows_the_reply_and_its_figures(
    client: Client, routing: Routing, template: PromptTemplate
) -> None:
    routing.server.set_reply(PRIMARY, text="Thank you for writing.")

    response = client.post(_run_url(template), {"tone": "warm", "email": "Where is my order?"})

    assert response.status_code == 200
    result = response.context["result"]
    assert (result.text, result.provider, result.model) == (
        "Thank you for writing.",
        "primary-openai",
        "gpt-4.1-mini",
    )
    content = response.content.decode()
    assert "Thank you for writing." in content
    assert '<td class="result-provider">primary-openai</td>' in content
    assert f"{result.usage.total_tokens} total" in content
    assert " ms" in content
    assert message_texts(response) == ["“email-reply” ran, served by primary-openai (gpt-4.1-mini)."]
    sent = routing.server.requests(PRIMARY)[-1].json["messages"]
    assert sent[-1]["content"] == "Reply in a warm tone to: Where is my order?"


def test_a_missing_field_is_a_form_error_and_no_call(
    client: Client, routing: Routing, template: PromptTemplate
) -> None:
    response = client.post(_run_url(template), {"tone": "warm"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"email": ["This field is required."]}
    assert routing.server.count(PRIMARY) == 0


def test_a_failure_is_an_error_message_on_the_same_page(
    client: Client, routing: Routing, template: PromptTemplate
) -> None:
    routing.server.script(PRIMARY, Fault(status=401, always=True))
    routing.server.script(BACKUP, Fault(status=401, always=True))

    response = client.post(_run_url(template), {"tone": "warm", "email": "Hi"})

    assert response.status_code == 200
    assert response.context["result"] is None
    [message] = message_texts(response)
    assert message.startswith("“email-reply” failed: ")
    assert "sk-test" not in response.content.decode()


def test_a_template_with_a_broken_placeholder_shows_why_it_cannot_run(client: Client, db: None) -> None:
    broken = PromptTemplate.objects.create(name="broken", template="Hi {user.name}")

    response = client.get(_run_url(broken))

    assert response.status_code == 200
    assert "cannot run" in message_texts(response)[0]


def test_the_admin_changing_provider_order_changes_who_serves_the_next_run(
    client: Client, routing: Routing, template: PromptTemplate
) -> None:
    data = {"tone": "warm", "email": "Hi"}
    first = client.post(_run_url(template), data)
    routing.swap_order()
    second = client.post(_run_url(template), data)

    assert first.context["result"].provider == "primary-openai"
    assert second.context["result"].provider == "backup-anthropic"


def test_viewing_needs_view_permission_and_running_needs_change(
    routing: Routing, template: PromptTemplate
) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("viewer", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_prompttemplate"))
    viewer = Client()
    viewer.force_login(user)

    assert viewer.get(_run_url(template)).status_code == 200
    assert viewer.post(_run_url(template), {"tone": "warm", "email": "Hi"}).status_code == 403
    assert routing.server.count(PRIMARY) == 0
