"""Long-form drafts, translations and title variants, end to end against the loopback fake server."""

from __future__ import annotations

import pytest

from backend.cms_ai import EmptyReply, FeatureInputError, MalformedReply, StructureMismatch
from backend.integrations.ai.errors import AllProvidersFailed
from backend.integrations.ai.models import CallLog
from backend.pages.models import Page, Status
from backend.pages.services import advanced_ai_service as svc
from tests.cms_support import BACKUP, PRIMARY, Routing
from tests.fakes.server import Fault

OUTLINE = "- Why solar\n- Choosing panels\n- Paying back"
HTML_BODY = "<h2>Why</h2>\n<p>Because it helps.</p>\n<ul><li>One</li><li>Two</li></ul>"
MARKDOWN_BODY = "## Why\n\nBecause it helps.\n\n- One\n- Two\n\n1. First\n2. Second\n"


def _openai_reply(content: str) -> dict:
    """A well-formed OpenAI chat completion whose text is `content` (for scripting one reply)."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@pytest.fixture
def page(db: None) -> Page:
    return Page.objects.create(
        title="Solar panels for small roofs",
        slug="solar-small-roofs",
        body=HTML_BODY,
        notes="- fits 10 m2\n- pays back in 8 years",
    )


# --- long-form draft -----------------------------------------------------------------------------


def test_outline_parse_drops_markers_and_duplicates() -> None:
    text = "```\n1. Intro\n2) **Setup**\n- Intro\n### Costs\n\n* “Wrap-up”\n```"
    assert svc.outline_parse(text) == ("Intro", "Setup", "Costs", "Wrap-up")
    assert svc.outline_parse("- a\n- b\n- c", limit=2) == ("a", "b")


def test_long_draft_streams_outline_then_each_section_then_the_body(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text=OUTLINE, chunks=3)

    events = list(svc.page_long_draft_stream(page=page))

    kinds = [e.kind for e in events]
    assert kinds[0] == "outline"
    assert events[0].sections == ("Why solar", "Choosing panels", "Paying back")
    assert kinds.count("section") == kinds.count("section_done") == 3
    assert kinds.count("delta") >= 3  # each section arrived in several pieces
    assert kinds[-1] == "done"
    done = events[-1]
    assert done.text.startswith("## Why solar\n\n")
    assert "## Choosing panels" in done.text and "## Paying back" in done.text
    assert done.result is not None and done.result.calls == 4
    assert done.result.provider == "primary-openai"
    logged_tokens = sum(CallLog.objects.values_list("total_tokens", flat=True))
    assert done.result.usage.total_tokens == logged_tokens > 0
    callers = list(CallLog.objects.order_by("created_at", "id").values_list("caller", "streamed"))
    assert callers == [("pages.long_draft.outline", False)] + [("pages.long_draft.section", True)] * 3
    page.refresh_from_db()
    assert page.body == HTML_BODY  # the stream itself saves nothing


def test_long_draft_fails_over_between_steps_when_the_primary_goes_down(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text=OUTLINE)
    routing.server.set_reply(BACKUP, text="Written by the backup.", chunks=2)
    # The outline gets through; every later request to the primary answers 503.
    routing.server.script(PRIMARY, Fault(), Fault(status=503, always=True))

    result = svc.page_long_draft_apply(page=page)

    assert result.provider == "primary-openai, backup-anthropic"
    assert result.calls == 4
    page.refresh_from_db()
    assert page.body.count("Written by the backup.") == 3
    assert page.body.startswith("## Why solar")
    sections = CallLog.objects.filter(caller="pages.long_draft.section")
    assert set(sections.values_list("provider", "outcome")) == {("backup-anthropic", "success")}
    assert sections.filter(failed_over=True).exists()
    assert CallLog.objects.get(caller="pages.long_draft.outline").provider == "primary-openai"


def test_long_draft_restarts_a_section_whose_stream_broke(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text=OUTLINE, chunks=3)
    routing.server.script(PRIMARY, Fault(), Fault(stream_cut_after=1))

    seen = []
    result = svc.page_long_draft_apply(page=page, on_event=seen.append)

    assert [e.kind for e in seen].count("retry") == 1
    page.refresh_from_db()
    first_section = page.body.split("## Choosing panels")[0]
    assert first_section.count("Why solar") == 2  # heading + the full text once, no partial leftovers
    assert result.calls == 4


def test_long_draft_that_fails_saves_nothing(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text=OUTLINE)
    routing.server.script(PRIMARY, Fault(), Fault(status=503, always=True))
    routing.server.script(BACKUP, Fault(status=529, always=True))

    with pytest.raises(AllProvidersFailed):
        svc.page_long_draft_apply(page=page)

    page.refresh_from_db()
    assert page.body == HTML_BODY


def test_an_outline_without_headings_is_a_clear_error(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="```\n\n```")

    with pytest.raises(MalformedReply, match="no section headings"):
        list(svc.page_long_draft_stream(page=page))


# --- translation ---------------------------------------------------------------------------------


def test_translation_keeping_the_html_structure_is_saved_as_a_new_draft_page(
    routing: Routing, page: Page
) -> None:
    french = "<h2>Pourquoi</h2>\n<p>Parce que ça aide.</p>\n<ul><li>Un</li><li>Deux</li></ul>"
    routing.server.set_reply(PRIMARY, text=french)
    page.status = Status.PUBLISHED
    page.save()

    done = svc.page_translation_create(page=page, language="fr")

    assert done.created
    translated = Page.objects.get(pk=done.page.pk)
    assert (translated.language, translated.status, translated.translation_of) == ("fr", "draft", page)
    assert translated.slug == "solar-small-roofs-fr"
    assert translated.title == "Pourquoi"
    assert translated.body == french
    assert done.result.provider == "primary-openai" and done.result.calls == 2
    system = routing.server.requests(PRIMARY)[-1].json["messages"][0]["content"]
    assert "into French" in system and "HTML" in system
    assert list(CallLog.objects.values_list("caller", flat=True)) == ["pages.translate"] * 2


def test_translating_again_updates_the_earlier_translation(routing: Routing, page: Page) -> None:
    routing.server.set_reply(
        PRIMARY, text="<h2>Warum</h2>\n<p>Weil.</p>\n<ul><li>Eins</li><li>Zwei</li></ul>"
    )
    first = svc.page_translation_create(page=page, language="de")
    routing.server.set_reply(
        PRIMARY, text="<h2>Wieso</h2>\n<p>Darum.</p>\n<ul><li>Eins</li><li>Zwei</li></ul>"
    )

    second = svc.page_translation_create(page=page, language="de")

    assert (first.created, second.created) == (True, False)
    assert second.page.pk == first.page.pk
    assert Page.objects.get(pk=first.page.pk).body.startswith("<h2>Wieso</h2>")


def test_markdown_translation_keeps_headings_and_list_markers(routing: Routing, page: Page) -> None:
    page.body = MARKDOWN_BODY
    page.save()
    routing.server.set_reply(
        PRIMARY, text="## Por qué\n\nPorque ayuda.\n\n- Uno\n- Dos\n\n1. Primero\n2. Segundo"
    )

    done = svc.page_translation_create(page=page, language="es")

    assert done.page.body.startswith("## Por qué")


@pytest.mark.parametrize(
    ("body", "reply", "where"),
    [
        (HTML_BODY, "<h2>Pourquoi</h2>\n<p>Parce que ça aide. Un, deux.</p>", "missing"),
        (HTML_BODY, "Pourquoi: parce que ça aide. Un, deux.", "html structure"),
        (
            MARKDOWN_BODY,
            "## Pourquoi\n\nParce que.\n\nUn, deux.\n\n1. Premier\n2. Second",
            "expected '- item'",
        ),
    ],
)
def test_a_translation_that_loses_structure_is_refused_and_nothing_is_saved(
    routing: Routing, page: Page, body: str, reply: str, where: str
) -> None:
    page.body = body
    page.save()
    routing.server.set_reply(PRIMARY, text=reply)

    with pytest.raises(StructureMismatch, match=where) as excinfo:
        svc.page_translation_create(page=page, language="fr")

    assert "nothing was saved" in str(excinfo.value)
    assert Page.objects.count() == 1


def test_translating_into_the_page_language_fails_before_any_call(routing: Routing, page: Page) -> None:
    with pytest.raises(FeatureInputError, match="already in English"):
        svc.page_translation_create(page=page, language="en")
    assert routing.server.count(PRIMARY) == 0


# --- title variants ------------------------------------------------------------------------------


def test_title_variants_are_validated_json(routing: Routing, page: Page) -> None:
    routing.server.set_reply(
        PRIMARY, text='{"titles": ["Small roof, big power", "Solar  that fits", "Small roof, big power"]}'
    )

    variants = svc.page_titles_generate(page=page, count=3)

    assert variants.titles == ("Small roof, big power", "Solar that fits")
    assert routing.server.requests(PRIMARY)[-1].json["response_format"] == {"type": "json_object"}
    assert variants.result.calls == 1
    assert CallLog.objects.get().caller == "pages.titles"


def test_an_invalid_json_reply_is_retried_once(routing: Routing, page: Page) -> None:
    routing.server.script(PRIMARY, Fault(body=_openai_reply("Sure! Here are some titles: A, B.")))
    routing.server.set_reply(PRIMARY, text='```json\n{"titles": ["A", "B"]}\n```')

    variants = svc.page_titles_generate(page=page)

    assert variants.titles == ("A", "B")
    assert variants.result.calls == 2
    retry = routing.server.requests(PRIMARY)[-1].json["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure! Here are some titles: A, B."}
    assert "not valid" in retry[-1]["content"]


def test_an_invalid_json_reply_twice_is_a_clear_error(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text='{"titles": "one title, not a list"}')

    with pytest.raises(MalformedReply, match="twice replied") as excinfo:
        svc.page_titles_generate(page=page)

    assert '"titles" list' in str(excinfo.value)
    assert excinfo.value.provider == "primary-openai"
    assert routing.server.count(PRIMARY) == 2
    assert CallLog.objects.filter(caller="pages.titles").count() == 2


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], TypeError),
        ({"titles": [1, 2]}, TypeError),
        ({"titles": ["", "  "]}, ValueError),
        ({"titles": ["x" * 201]}, ValueError),
    ],
)
def test_titles_validate_refuses_bad_shapes(data: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        svc.titles_validate(data)


# --- replies that clean up to nothing ------------------------------------------------------------


def test_a_translation_that_is_an_empty_code_fence_never_overwrites_the_earlier_one(
    routing: Routing, page: Page
) -> None:
    # A prose body has no structure to lose, so only the emptiness check stands in the way.
    page.body = "Panels fit on small roofs."
    page.save()
    earlier = Page.objects.create(
        title="Panneaux", slug="panneaux", body="Les panneaux tiennent.", language="fr", translation_of=page
    )
    routing.server.script(PRIMARY, Fault(body=_openai_reply("Panneaux solaires")))
    routing.server.set_reply(PRIMARY, text="```\n\n```")

    with pytest.raises(EmptyReply, match="held no text"):
        svc.page_translation_create(page=page, language="fr")

    earlier.refresh_from_db()
    assert (earlier.title, earlier.body) == ("Panneaux", "Les panneaux tiennent.")


def test_a_long_draft_section_that_comes_back_empty_fails_the_draft(routing: Routing, page: Page) -> None:
    routing.server.script(PRIMARY, Fault(body=_openai_reply(OUTLINE)))
    routing.server.set_reply(PRIMARY, text="```markdown\n\n```", chunks=2)

    with pytest.raises(EmptyReply, match="section 1"):
        svc.page_long_draft_apply(page=page)

    page.refresh_from_db()
    assert page.body == HTML_BODY


def test_a_blank_json_reply_is_retried_once_without_echoing_the_blank_turn(
    routing: Routing, page: Page
) -> None:
    # JSON mode can answer nothing but whitespace; that is an invalid reply like any other.
    routing.server.script(PRIMARY, Fault(body=_openai_reply(" \n\n ")))
    routing.server.set_reply(PRIMARY, text='{"titles": ["A", "B"]}')

    variants = svc.page_titles_generate(page=page)

    assert variants.titles == ("A", "B")
    assert variants.result.calls == 2
    retry = routing.server.requests(PRIMARY)[-1].json["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "user"]  # no empty assistant turn
    assert "the reply was empty" in retry[-1]["content"]


def test_two_blank_json_replies_are_a_malformed_reply(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="   ")

    with pytest.raises(MalformedReply, match="the reply was empty"):
        svc.page_titles_generate(page=page)

    assert routing.server.count(PRIMARY) == 2
