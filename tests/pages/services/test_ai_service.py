"""The single-call page features, end to end through the facade against the loopback fake server."""

from __future__ import annotations

import pytest

from backend.cms_ai import EmptyReply, FeatureInputError, StructureMismatch
from backend.integrations.ai.errors import AIError, AllProvidersFailed
from backend.integrations.ai.models import CallLog
from backend.pages.models import META_DESCRIPTION_MAX, Page
from backend.pages.services import ai_service
from tests.cms_support import BACKUP, PRIMARY, Routing
from tests.fakes.server import Fault

HTML_BODY = "<h2>Why</h2><p>Because it helps.</p><ul><li>One</li><li>Two</li></ul>"


@pytest.fixture
def page(db: None) -> Page:
    return Page.objects.create(
        title="Solar panels for small roofs",
        slug="solar-small-roofs",
        body=HTML_BODY,
        notes="- fits 10 m2\n- pays back in 8 years",
        summary="Old summary.",
        meta_description="Old description.",
    )


def test_meta_description_is_saved_and_served_by_the_first_provider(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="Small roofs can still power a home with the right panels.")

    result = ai_service.page_meta_description_apply(page=page)

    page.refresh_from_db()
    assert page.meta_description == "Small roofs can still power a home with the right panels."
    assert result.provider == "primary-openai"
    assert result.model == "gpt-4o-mini"  # the `fast` alias, the feature's default
    assert result.usage.total_tokens > 0
    log = CallLog.objects.get()
    assert (log.caller, log.provider, log.outcome) == ("pages.meta_description", "primary-openai", "success")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('"Quoted description."', "Quoted description."),
        ("Meta description: “Curly quotes”", "Curly quotes"),
        ("  spread\n over   lines ", "spread over lines"),
    ],
)
def test_meta_description_cleans_quotes_labels_and_whitespace(
    routing: Routing, page: Page, reply: str, expected: str
) -> None:
    routing.server.set_reply(PRIMARY, text=reply)

    assert ai_service.page_meta_description_generate(page=page).text == expected


def test_meta_description_over_160_chars_is_cut_at_a_word_boundary(routing: Routing, page: Page) -> None:
    words = [f"word{i:02d}," for i in range(40)]  # 7 chars + space each: far over 160
    routing.server.set_reply(PRIMARY, text=f'"{" ".join(words)}"')

    result = ai_service.page_meta_description_apply(page=page)

    assert len(result.text) <= META_DESCRIPTION_MAX
    assert result.text.startswith("word00, word01,")
    assert result.text.split()[-1].rstrip(",") in {w.rstrip(",") for w in words}  # no half word
    assert not result.text.endswith(",")
    page.refresh_from_db()
    assert page.meta_description == result.text


def test_meta_description_cleaner_cuts_one_long_word_hard() -> None:
    assert ai_service.meta_description_clean("x" * 400) == "x" * META_DESCRIPTION_MAX


def test_summary_is_saved_as_one_paragraph(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="Panels fit.\n\nThey pay back.")

    result = ai_service.page_summary_apply(page=page)

    page.refresh_from_db()
    assert page.summary == "Panels fit. They pay back."
    assert result.provider == "primary-openai"
    assert CallLog.objects.get().caller == "pages.summary"


def test_draft_is_written_from_title_and_notes_with_the_smart_alias(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="```markdown\n## Fit\n\nIt fits.\n```")

    result = ai_service.page_draft_apply(page=page)

    page.refresh_from_db()
    assert page.body == "## Fit\n\nIt fits."  # the wrapping code fence is dropped
    assert result.model == "gpt-4o"
    sent = routing.server.requests(PRIMARY)[-1].json
    user_turn = sent["messages"][-1]["content"]
    assert "Solar panels for small roofs" in user_turn
    assert "pays back in 8 years" in user_turn
    assert CallLog.objects.get().caller == "pages.draft"


def test_rewrite_keeping_the_structure_is_saved(routing: Routing, page: Page) -> None:
    rewritten = "<h2>Why bother</h2><p>It really helps!</p><ul><li>Uno</li><li>Dos</li></ul>"
    routing.server.set_reply(PRIMARY, text=rewritten)

    result = ai_service.page_rewrite_apply(page=page, tone="playful")

    page.refresh_from_db()
    assert page.body == rewritten
    assert "playful" in routing.server.requests(PRIMARY)[-1].json["messages"][0]["content"]
    assert result.provider == "primary-openai"


def test_rewrite_that_breaks_the_structure_is_refused_and_not_saved(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="<h2>Why</h2><p>Because it helps.</p>")

    with pytest.raises(StructureMismatch, match="structure") as excinfo:
        ai_service.page_rewrite_apply(page=page, tone="formal")

    assert excinfo.value.provider == "primary-openai"
    page.refresh_from_db()
    assert page.body == HTML_BODY


def test_a_failed_call_never_overwrites_existing_content(routing: Routing, page: Page) -> None:
    routing.server.script(PRIMARY, Fault(status=503, always=True))
    routing.server.script(BACKUP, Fault(status=500, always=True))

    with pytest.raises(AllProvidersFailed):
        ai_service.page_meta_description_apply(page=page)
    with pytest.raises(AllProvidersFailed):
        ai_service.page_summary_apply(page=page)

    page.refresh_from_db()
    assert (page.meta_description, page.summary) == ("Old description.", "Old summary.")
    assert set(CallLog.objects.values_list("outcome", flat=True)) == {"error"}


def test_an_outage_of_the_first_provider_fails_over_to_the_next(routing: Routing, page: Page) -> None:
    routing.server.script(PRIMARY, Fault(status=503))
    routing.server.set_reply(BACKUP, text="Served by the backup.")

    result = ai_service.page_summary_apply(page=page)

    assert result.provider == "backup-anthropic"
    assert result.model == "claude-3-5-haiku-20241022"
    page.refresh_from_db()
    assert page.summary == "Served by the backup."
    log = CallLog.objects.get()
    assert (log.provider, log.outcome, log.failed_over) == ("backup-anthropic", "success", True)


def test_the_admin_reordering_providers_switches_the_next_call(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="From primary.")
    routing.server.set_reply(BACKUP, text="From backup.")

    first = ai_service.page_summary_apply(page=page)
    routing.swap_order()
    second = ai_service.page_summary_apply(page=page)

    assert (first.provider, second.provider) == ("primary-openai", "backup-anthropic")
    assert (routing.server.count(PRIMARY), routing.server.count(BACKUP)) == (1, 1)
    page.refresh_from_db()
    assert page.summary == "From backup."
    assert list(CallLog.objects.order_by("created_at", "id").values_list("provider", flat=True)) == [
        "primary-openai",
        "backup-anthropic",
    ]


def test_the_alias_of_a_feature_comes_from_settings(routing: Routing, page: Page, settings) -> None:
    settings.PANEL_AI_FEATURE_ALIASES = {**settings.PANEL_AI_FEATURE_ALIASES, "summary": "cheap"}

    result = ai_service.page_summary_generate(page=page)

    assert result.alias == "cheap"
    assert routing.requested_models(PRIMARY) == ["gpt-4.1-nano"]


def test_an_explicit_alias_beats_the_configured_one(routing: Routing, page: Page) -> None:
    ai_service.page_summary_generate(page=page, alias="smart")

    assert routing.requested_models(PRIMARY) == ["gpt-4o"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: ai_service.page_summary_apply(page=p), "no body to summarize"),
        (lambda p: ai_service.page_rewrite_apply(page=p, tone="formal"), "no body to rewrite"),
        (lambda p: ai_service.page_meta_description_apply(page=p), "no body, summary or notes"),
    ],
)
def test_a_page_without_content_fails_before_any_call(routing: Routing, call, match: str) -> None:
    empty = Page.objects.create(title="Empty", slug="empty")

    with pytest.raises(FeatureInputError, match=match):
        call(empty)

    assert routing.server.count(PRIMARY) == routing.server.count(BACKUP) == 0
    assert not CallLog.objects.exists()


def test_an_empty_reply_is_an_error_and_saves_nothing(routing: Routing, page: Page) -> None:
    routing.server.set_reply(PRIMARY, text="   ")

    with pytest.raises(EmptyReply, match="empty reply") as excinfo:
        ai_service.page_summary_apply(page=page)

    assert isinstance(excinfo.value, AIError)
    page.refresh_from_db()
    assert page.summary == "Old summary."


PROSE_BODY = "Panels fit on small roofs and pay back in eight years."


EMPTY_FENCES = ("```\n\n```", "```markdown\n   \n```")


@pytest.mark.parametrize(
    ("call", "field", "reply"),
    [
        *(
            (lambda p: ai_service.page_meta_description_apply(page=p), "meta_description", r)
            for r in ('""', "“ ”", "Meta description:", *EMPTY_FENCES)
        ),
        *((lambda p: ai_service.page_summary_apply(page=p), "summary", r) for r in EMPTY_FENCES),
        *((lambda p: ai_service.page_draft_apply(page=p), "body", r) for r in EMPTY_FENCES),
        *((lambda p: ai_service.page_rewrite_apply(page=p, tone="formal"), "body", r) for r in EMPTY_FENCES),
    ],
)
def test_a_reply_that_cleans_up_to_nothing_is_an_empty_reply_and_saves_nothing(
    routing: Routing, page: Page, call, field: str, reply: str
) -> None:
    # Quotes, a bare label or an empty code fence are not blank before cleaning, only after.
    page.body = PROSE_BODY  # prose has no structure to lose, so only the emptiness check can refuse
    page.save()
    before = getattr(page, field)
    routing.server.set_reply(PRIMARY, text=reply)

    with pytest.raises(EmptyReply, match="held no text"):
        call(page)

    page.refresh_from_db()
    assert getattr(page, field) == before


def test_meta_description_cleaner_never_cuts_down_to_nothing() -> None:
    text = "— " + "x" * 300  # a dash, then one word longer than the limit

    cleaned = ai_service.meta_description_clean(text)

    assert cleaned == text[:META_DESCRIPTION_MAX]
