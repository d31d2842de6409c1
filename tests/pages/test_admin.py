"""The page admin's AI actions and long-form draft page, end to end against the fake server."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from backend.integrations.ai.models import CallLog
from backend.pages.models import Page
from tests.cms_support import BACKUP, PRIMARY, Routing, message_texts
from tests.fakes.server import Fault

CHANGELIST = "admin:pages_page_changelist"
HTML_BODY = "<h2>Why</h2>\n<p>Because it helps.</p>"


@pytest.fixture
def client(admin_client_logged_in: Client) -> Client:
    return admin_client_logged_in


@pytest.fixture
def page(db: None) -> Page:
    return Page.objects.create(
        title="Solar panels",
        slug="solar",
        body=HTML_BODY,
        notes="- small roofs",
        summary="Old summary.",
        meta_description="Old description.",
    )


def _action(client: Client, action: str, *pages: Page, **extra: str):
    data = {"action": action, "_selected_action": [p.pk for p in pages], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_generate_meta_description_saves_it_and_names_the_provider(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.set_reply(PRIMARY, text="Solar panels that fit small roofs.")

    response = _action(client, "generate_meta_description", page)

    assert response.status_code == 200
    page.refresh_from_db()
    assert page.meta_description == "Solar panels that fit small roofs."
    assert message_texts(response) == [
        "“Solar panels”: meta description saved, served by primary-openai (gpt-4o-mini)."
    ]


def test_summarize_runs_on_every_selected_page(client: Client, routing: Routing, page: Page) -> None:
    other = Page.objects.create(title="Wind", slug="wind", body="## Wind\n\nIt blows.")
    routing.server.set_reply(PRIMARY, text="A short summary.")

    response = _action(client, "summarize", page, other)

    assert Page.objects.filter(summary="A short summary.").count() == 2
    assert len(message_texts(response)) == 2
    assert CallLog.objects.filter(caller="pages.summary", outcome="success").count() == 2


def test_a_failure_is_an_error_message_and_keeps_the_old_content(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.script(PRIMARY, Fault(status=503, always=True))
    routing.server.script(BACKUP, Fault(status=529, always=True))

    response = _action(client, "summarize", page)

    assert response.status_code == 200
    [message] = message_texts(response)
    assert message.startswith("“Solar panels”: summary failed: ")
    assert "primary-openai" in message and "backup-anthropic" in message
    page.refresh_from_db()
    assert page.summary == "Old summary."
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_a_page_missing_input_is_an_error_message_and_no_call(client: Client, routing: Routing) -> None:
    empty = Page.objects.create(title="Empty", slug="empty")

    response = _action(client, "summarize", empty)

    assert response.status_code == 200
    assert "no body to summarize" in message_texts(response)[0]
    assert routing.server.count(PRIMARY) == 0


def test_draft_from_notes_saves_the_body(client: Client, routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="## Small roofs\n\nThey work.")

    response = _action(client, "draft_from_notes", page)

    page.refresh_from_db()
    assert page.body == "## Small roofs\n\nThey work."
    assert "draft saved, served by primary-openai (gpt-4o)" in message_texts(response)[0]


def test_the_next_action_follows_the_admins_new_provider_order(
    client: Client, routing: Routing, page: Page
) -> None:
    first = _action(client, "generate_meta_description", page)
    routing.swap_order()
    second = _action(client, "generate_meta_description", page)

    assert "served by primary-openai" in message_texts(first)[0]
    assert "served by backup-anthropic" in message_texts(second)[0]
    page.refresh_from_db()
    assert page.meta_description == "Hello from backup."


def test_an_outage_of_the_top_provider_only_changes_the_name_shown(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.script(PRIMARY, Fault(status=503, always=True))

    response = _action(client, "generate_meta_description", page)

    assert message_texts(response) == [
        "“Solar panels”: meta description saved, served by backup-anthropic (claude-3-5-haiku-20241022)."
    ]


def test_translate_asks_for_the_language_first(client: Client, routing: Routing, page: Page) -> None:
    response = client.post(reverse(CHANGELIST), {"action": "translate", "_selected_action": [page.pk]})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/pages/page/action_form.html"
    content = response.content.decode()
    assert 'name="language"' in content and "French" in content
    assert f'name="_selected_action" value="{page.pk}"' in content
    assert routing.server.count(PRIMARY) == 0


def test_translate_with_a_language_creates_the_translation(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.set_reply(PRIMARY, text="<h2>Pourquoi</h2>\n<p>Parce que.</p>")

    response = _action(client, "translate", page, language="fr", apply="Translate pages")

    translated = Page.objects.get(translation_of=page, language="fr")
    assert translated.body == "<h2>Pourquoi</h2>\n<p>Parce que.</p>"
    [message] = message_texts(response)
    assert "translation" in message and "created, served by primary-openai (gpt-4o)" in message
    assert reverse("admin:pages_page_change", args=[translated.pk]) in message


def test_a_translation_that_breaks_the_structure_is_an_error_message(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.set_reply(PRIMARY, text="Pourquoi ? Parce que.")

    response = _action(client, "translate", page, language="fr", apply="Translate pages")

    assert response.status_code == 200
    [message] = message_texts(response)
    assert "translation failed" in message and "did not keep the page's structure" in message
    assert Page.objects.count() == 1


@pytest.mark.parametrize("action", ["translate", "rewrite"])
def test_a_body_holding_an_unknown_marked_section_is_an_error_message_not_a_500(
    client: Client, routing: Routing, page: Page, action: str
) -> None:
    # Python's HTML parser raises AssertionError on `<![word[`; the structure check reads it as text.
    page.body = "<h2>Why</h2>\n<![foo[ odd ]]>\n<p>Because it helps.</p>"
    page.save()
    routing.server.set_reply(PRIMARY, text="Pourquoi ? Parce que.")
    extra = {"language": "fr"} if action == "translate" else {"tone": "formal"}

    response = _action(client, action, page, apply="Apply", **extra)

    assert response.status_code == 200
    [message] = message_texts(response)
    assert "failed" in message and "structure" in message
    page.refresh_from_db()
    assert "<![foo[ odd ]]>" in page.body
    assert Page.objects.count() == 1


def test_rewrite_in_a_tone_asks_then_rewrites(client: Client, routing: Routing, page: Page) -> None:
    asked = client.post(reverse(CHANGELIST), {"action": "rewrite", "_selected_action": [page.pk]})
    assert 'name="tone"' in asked.content.decode()
    routing.server.set_reply(PRIMARY, text="<h2>Why not</h2>\n<p>It helps a lot.</p>")

    response = _action(client, "rewrite", page, tone="friendly", apply="Rewrite pages")

    page.refresh_from_db()
    assert page.body == "<h2>Why not</h2>\n<p>It helps a lot.</p>"
    assert "friendly rewrite saved, served by primary-openai" in message_texts(response)[0]


def test_suggest_titles_shows_them_without_saving(client: Client, routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text='{"titles": ["Sun on small roofs", "Tiny roof, big power"]}')

    response = _action(client, "suggest_titles", page)

    [message] = message_texts(response)
    assert "“Sun on small roofs” · “Tiny roof, big power”" in message
    assert "served by primary-openai" in message
    page.refresh_from_db()
    assert page.title == "Solar panels"


def test_suggest_titles_with_bad_json_twice_is_an_error_message(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.set_reply(PRIMARY, text="Here you go: A, B")

    response = _action(client, "suggest_titles", page)

    assert response.status_code == 200
    assert "title suggestions failed" in message_texts(response)[0]
    assert routing.server.count(PRIMARY) == 2


def test_change_form_links_to_the_long_draft_page(client: Client, page: Page) -> None:
    response = client.get(reverse("admin:pages_page_change", args=[page.pk]))

    assert reverse("admin:pages_page_long_draft", args=[page.pk]) in response.content.decode()


def test_long_draft_page_explains_then_streams_progress_and_saves(
    client: Client, routing: Routing, page: Page
) -> None:
    url = reverse("admin:pages_page_long_draft", args=[page.pk])
    routing.server.set_reply(PRIMARY, text="- Intro\n- Costs")
    assert "smart" in client.get(url).content.decode()

    response = client.post(url)

    assert response.streaming
    html = b"".join(response.streaming_content).decode()
    assert "Outline: 2 sections (Intro · Costs), served by primary-openai." in html
    assert "Writing section 2 of 2: Costs" in html
    assert "Draft saved: 2 sections" in html and "served by primary-openai (gpt-4o)" in html
    assert html.rstrip().endswith("</html>")
    page.refresh_from_db()
    assert page.body.startswith("## Intro")


def test_long_draft_page_shows_a_failure_and_keeps_the_body(
    client: Client, routing: Routing, page: Page
) -> None:
    routing.server.script(PRIMARY, Fault(status=401, always=True))
    routing.server.script(BACKUP, Fault(status=401, always=True))

    response = client.post(reverse("admin:pages_page_long_draft", args=[page.pk]))

    html = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert "The draft failed; the page was not changed" in html
    page.refresh_from_db()
    assert page.body == HTML_BODY


def test_long_draft_page_needs_change_permission(db: None, page: Page) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("viewer", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_page"))
    viewer = Client()
    viewer.force_login(user)

    response = viewer.post(reverse("admin:pages_page_long_draft", args=[page.pk]))

    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_long_draft_page_streams_under_asgi(fake_server) -> None:
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import AsyncClient

    from tests.cms_support import routing_create

    routing = await sync_to_async(routing_create)(fake_server)
    routing.server.set_reply(PRIMARY, text="- Intro\n- Costs")
    page = await Page.objects.acreate(title="Solar panels", slug="solar", body=HTML_BODY)
    user = await get_user_model().objects.acreate(username="editor", is_staff=True, is_superuser=True)
    client = AsyncClient()
    await client.aforce_login(user)

    try:
        response = await client.post(reverse("admin:pages_page_long_draft", args=[page.pk]))
        assert response.is_async
        html = b"".join([part async for part in response.streaming_content]).decode()
    finally:
        # The view and the stream ran in asgiref's thread-sensitive worker thread: close its DB
        # connection, or PostgreSQL refuses to drop the test database at the end of the run.
        await sync_to_async(connections.close_all)()

    assert "Draft saved: 2 sections" in html
    await page.arefresh_from_db()
    assert page.body.startswith("## Intro")
