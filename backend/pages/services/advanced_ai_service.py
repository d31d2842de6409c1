"""Multi-step and checked AI features for pages: long-form drafts, translations, title variants.

- `page_long_draft_stream()` writes a long page outline-first, then section by section, streaming
  each section through `ai.stream()` and yielding `DraftEvent`s as it goes; every step is its own
  registry call, so a provider that fails between steps is failed over like any other call.
  `page_long_draft_apply()` drains it and saves the body.
- `page_translation_create()` translates a page into another language as a new draft page (or
  updates the earlier translation), after checking that the HTML/Markdown structure survived.
- `page_titles_generate()` asks for title variants as JSON, validated, retried once if invalid.

Nothing is saved unless every step succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from django.db import transaction
from django.utils.html import strip_tags
from django.utils.text import slugify

from backend.cms_ai import (
    AIResult,
    FeatureInputError,
    MalformedReply,
    StructureMismatch,
    complete_json,
    complete_text,
    feature_alias,
    messages_build,
    strip_code_fence,
)
from backend.integrations import ai
from backend.integrations.ai.errors import StreamInterrupted
from backend.integrations.ai.types import StreamChunk, Usage
from backend.pages.models import Page, Status
from backend.pages.services.ai_service import body_excerpt, language_name, reply_cleaned
from backend.pages.structure import body_format, structure_difference

__all__ = [
    "DraftEvent",
    "TitleVariants",
    "Translation",
    "outline_parse",
    "page_long_draft_apply",
    "page_long_draft_stream",
    "page_titles_generate",
    "page_translation_create",
    "page_translation_generate",
    "titles_validate",
]

MAX_SECTIONS: Final = 8
_OUTLINE_MARKER_RE: Final = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#{1,6})\s*")
_TITLE_MAX: Final = 200
_CLOSING_TAG_RE: Final = re.compile(r"</[a-zA-Z][\w:-]*\s*>|<br\s*/?>")


# --- Long-form draft -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftEvent:
    """One step of a long-form draft, as `page_long_draft_stream()` yields it.

    `kind` is one of:
    - `outline`: the plan is known; `sections` lists the headings, `provider` served it;
    - `section`: section `index` (0-based) of `total` starts; `heading` names it;
    - `delta`: a piece of that section's text (`text`);
    - `retry`: the section's stream broke mid-way (`text` says why); it restarts, drop its deltas;
    - `section_done`: the section is written; `text` is all of it, `provider` served it;
    - `done`: the whole draft; `text` is the body, `result` totals every call.
    """

    kind: str
    index: int | None = None
    total: int = 0
    heading: str = ""
    text: str = ""
    provider: str = ""
    sections: tuple[str, ...] = ()
    result: AIResult | None = None


def outline_parse(text: str, *, limit: int = MAX_SECTIONS) -> tuple[str, ...]:
    """Section headings from a model's outline: one per line, list or heading markers dropped."""
    headings: list[str] = []
    for line in strip_code_fence(text.strip()).splitlines():
        heading = _OUTLINE_MARKER_RE.sub("", line).strip().strip("*_\"'“”").strip()
        if heading and heading not in headings:
            headings.append(heading)
    return tuple(headings[:limit])


def _outline_generate(
    *, page: Page, notes: str, alias: str, max_sections: int
) -> tuple[tuple[str, ...], AIResult]:
    messages = messages_build(
        system=(
            f"You plan long web pages. Outline the page below as 3 to {max_sections} section headings "
            f"in {language_name(page.language)}, in reading order. Reply with the headings only, one "
            "per line, as a Markdown bullet list."
        ),
        user=f"Title: {page.title}\n\nNotes:\n{notes.strip() or '(none: use the title)'}",
    )
    result = complete_text(
        feature="long_draft",
        caller="pages.long_draft.outline",
        messages=messages,
        alias=alias,
        max_tokens=400,
        temperature=0.4,
    )
    sections = outline_parse(result.text, limit=max_sections)
    if not sections:
        raise MalformedReply(
            f"The outline from {result.provider} held no section headings; nothing was saved. Try again.",
            provider=result.provider,
            model=result.model,
        )
    return sections, result


def _section_messages(
    *, page: Page, notes: str, sections: tuple[str, ...], index: int
) -> list[dict[str, str]]:
    outline = "\n".join(f"- {heading}" for heading in sections)
    return messages_build(
        system=(
            "You write one section of a long web page at a time, in "
            f"{language_name(page.language)} and Markdown. Write only the section asked for, without "
            "its heading (use ### for any subheading). Do not repeat other sections."
        ),
        user=(
            f"Page title: {page.title}\n\nNotes:\n{notes.strip() or '(none)'}\n\nOutline:\n{outline}\n\n"
            f"Write the section: {sections[index]}"
        ),
    )


def _result_from_final(chunk: StreamChunk | None, *, text: str, alias: str) -> AIResult:
    if chunk is None:
        return AIResult(text=text, provider="", model="", alias=alias)
    return AIResult(
        text=text,
        provider=chunk.provider,
        model=chunk.model,
        alias=alias,
        usage=chunk.usage or Usage(),
        cost=chunk.cost,
        latency_ms=chunk.latency_ms,
        attempts=chunk.attempts,
        finish_reason=chunk.finish_reason or "stop",
    )


def _section_stream(
    *, messages: list[dict[str, str]], alias: str, index: int, total: int
) -> Iterator[DraftEvent]:
    """Stream one section; a stream that breaks mid-way is restarted once (a `retry` event)."""
    for attempt in range(2):
        parts: list[str] = []
        final: StreamChunk | None = None
        try:
            for chunk in ai.stream(
                messages=messages,
                model=alias,
                caller="pages.long_draft.section",
                max_tokens=900,
                temperature=0.7,
            ):
                if chunk.text:
                    parts.append(chunk.text)
                    yield DraftEvent(kind="delta", index=index, total=total, text=chunk.text)
                if chunk.final:
                    final = chunk
        except StreamInterrupted as exc:
            if attempt:
                raise
            yield DraftEvent(kind="retry", index=index, total=total, text=str(exc))
            continue
        text = strip_code_fence("".join(parts).strip())
        result = reply_cleaned(
            _result_from_final(final, text="".join(parts), alias=alias), text, what=f"section {index + 1}"
        )
        yield DraftEvent(
            kind="section_done", index=index, total=total, text=text, provider=result.provider, result=result
        )
        return


def page_long_draft_stream(
    *, page: Page, notes: str | None = None, alias: str | None = None, max_sections: int = MAX_SECTIONS
) -> Iterator[DraftEvent]:
    """Draft a long body outline-first, then section by section, yielding progress as it goes.

    Saves nothing: the last event (`done`) carries the body and an `AIResult` totalling every call.
    Raises the facade's `AIError`s (a failed step ends the draft) and `MalformedReply` for an
    outline with no headings.
    """
    if not page.title.strip():
        raise FeatureInputError("The page needs a title before a draft can be written.")
    notes = page.notes if notes is None else notes
    resolved = feature_alias("long_draft", alias)
    sections, outline_result = _outline_generate(
        page=page, notes=notes, alias=resolved, max_sections=max_sections
    )
    yield DraftEvent(kind="outline", total=len(sections), sections=sections, provider=outline_result.provider)
    results = [outline_result]
    parts: list[str] = []
    for index, heading in enumerate(sections):
        yield DraftEvent(kind="section", index=index, total=len(sections), heading=heading)
        messages = _section_messages(page=page, notes=notes, sections=sections, index=index)
        for event in _section_stream(messages=messages, alias=resolved, index=index, total=len(sections)):
            if event.kind == "section_done" and event.result is not None:
                results.append(event.result)
                parts.append(f"## {heading}\n\n{event.text}")
            yield event
    body = "\n\n".join(parts)
    yield DraftEvent(kind="done", total=len(sections), text=body, result=AIResult.combine(results, text=body))


def page_long_draft_apply(
    *,
    page: Page,
    notes: str | None = None,
    alias: str | None = None,
    on_event: Callable[[DraftEvent], None] | None = None,
) -> AIResult:
    """Run the long-form draft to its end and save the body; `on_event` sees every progress event."""
    done: DraftEvent | None = None
    for event in page_long_draft_stream(page=page, notes=notes, alias=alias):
        if on_event is not None:
            on_event(event)
        if event.kind == "done":
            done = event
    if done is None or done.result is None:  # pragma: no cover - the stream always ends with `done`
        raise RuntimeError("The long-form draft ended without its final event.")
    page.body = done.text
    page.save(update_fields=["body", "updated_at"])
    return done.result


# --- Translation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslatedContent:
    """A page's title and body in another language, checked, not yet saved."""

    language: str
    title: str
    body: str
    result: AIResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Translation:
    """The saved translation page and the facts of the calls that wrote it."""

    page: Page
    created: bool
    result: AIResult


def _title_clean(text: str) -> str:
    """The first line of text in a reply meant to be a title, without tags, markers or quotes."""
    lines = strip_tags(_CLOSING_TAG_RE.sub("\n", strip_code_fence(text.strip()))).splitlines()
    for line in lines:
        title = _OUTLINE_MARKER_RE.sub("", line).strip().strip("\"'“”«»").strip()
        if title:
            return title[:_TITLE_MAX]
    return ""


def page_translation_generate(*, page: Page, language: str, alias: str | None = None) -> TranslatedContent:
    """The page's title and body translated into `language`, the body's structure checked intact.

    Raises `StructureMismatch` when the translated body's tags (HTML) or headings, list items,
    quotes and code fences (Markdown) differ from the source's.
    """
    if language == page.language:
        raise FeatureInputError(
            f"“{page.title}” is already in {language_name(language)}: pick another language."
        )
    if not page.body.strip():
        raise FeatureInputError(f"“{page.title}” has no body to translate yet: write or draft one first.")
    target, source = language_name(language), language_name(page.language)
    fmt = body_format(page.body)
    title = complete_text(
        feature="translate",
        caller="pages.translate",
        messages=messages_build(
            system=f"Translate this web page title from {source} into {target}. Reply with the title only.",
            user=page.title,
        ),
        alias=alias,
        max_tokens=100,
        temperature=0.2,
    )
    body = complete_text(
        feature="translate",
        caller="pages.translate",
        messages=messages_build(
            system=(
                f"Translate the web page body below from {source} into {target}. It is {fmt.upper()}: keep "
                "every tag, heading, list item, link and code block exactly where it is, translate only "
                "the human-readable text, leave code and URLs unchanged. Reply with the translation only."
            ),
            user=page.body,
        ),
        alias=alias,
        temperature=0.2,
    )
    translated = reply_cleaned(body, strip_code_fence(body.text.strip()), what="translation").text
    if problem := structure_difference(page.body, translated):
        raise StructureMismatch(
            f"The {target} translation from {body.provider} did not keep the page's structure ({problem}); "
            "nothing was saved. Try again, or route the 'translate' alias to a stronger model.",
            provider=body.provider,
            model=body.model,
        )
    clean_title = _title_clean(title.text) or page.title
    return TranslatedContent(
        language=language,
        title=clean_title,
        body=translated,
        result=AIResult.combine([title, body], text=translated),
    )


def _unique_slug(base: str) -> str:
    slug, n = base, 2
    while Page.objects.filter(slug=slug).exists():
        suffix = f"-{n}"
        slug, n = f"{base[: 200 - len(suffix)]}{suffix}", n + 1
    return slug


def page_translation_create(*, page: Page, language: str, alias: str | None = None) -> Translation:
    """Translate `page` into `language` and save it as a draft translation page.

    An earlier translation of the page into that language is updated in place (title and body);
    otherwise a new draft page is created with the slug `<slug>-<language>`.
    """
    content = page_translation_generate(page=page, language=language, alias=alias)
    with transaction.atomic():
        existing = Page.objects.select_for_update().filter(translation_of=page, language=language).first()
        if existing is not None:
            existing.title, existing.body = content.title, content.body
            existing.save(update_fields=["title", "body", "updated_at"])
            return Translation(page=existing, created=False, result=content.result)
        created = Page.objects.create(
            title=content.title,
            slug=_unique_slug(slugify(f"{page.slug}-{language}")[:200]),
            body=content.body,
            language=language,
            status=Status.DRAFT,
            translation_of=page,
        )
    return Translation(page=created, created=True, result=content.result)


# --- Title variants ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TitleVariants:
    titles: tuple[str, ...]
    result: AIResult


def titles_validate(data: Any, *, count: int = 5) -> tuple[str, ...]:
    """Titles from `{"titles": ["...", ...]}`; raises `ValueError`/`TypeError` saying what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("titles"), list):
        raise TypeError('expected an object with a "titles" list of strings')
    titles: list[str] = []
    for item in data["titles"]:
        if not isinstance(item, str):
            raise TypeError(f'"titles" holds a {type(item).__name__}, expected only strings')
        title = " ".join(item.split())
        if len(title) > _TITLE_MAX:
            raise ValueError(f"a title is {len(title)} characters long, the limit is {_TITLE_MAX}")
        if title and title not in titles:
            titles.append(title)
    if not titles:
        raise ValueError('"titles" is empty')
    return tuple(titles[:count])


def page_titles_generate(*, page: Page, count: int = 5, alias: str | None = None) -> TitleVariants:
    """`count` alternative titles for the page, as validated JSON (one retry on an invalid reply)."""
    if count < 1:
        raise FeatureInputError("Ask for at least one title.")
    source = page.body.strip() or page.notes.strip()
    messages = messages_build(
        system=(
            f"Suggest {count} alternative titles for the web page below, in {language_name(page.language)}, "
            f"each under 70 characters. Reply with JSON only, in the form "
            '{"titles": ["first title", "second title"]}.'
        ),
        user=f"Current title: {page.title}\n\n{body_excerpt(source, 3000)}",
    )
    titles, result = complete_json(
        feature="titles",
        caller="pages.titles",
        messages=messages,
        validate=lambda data: titles_validate(data, count=count),
        alias=alias,
        max_tokens=400,
        temperature=0.8,
    )
    return TitleVariants(titles=titles, result=result)
