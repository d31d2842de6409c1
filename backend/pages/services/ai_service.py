"""Single-call AI features for pages: draft, summary, meta description, rewrite in a tone.

Each `*_generate` function makes one call through the registry's facade and returns an `AIResult`
without touching the database; each `*_apply` function generates and then saves the one field it
writes, so a failure (any `AIError`, or `FeatureInputError` before a call) leaves the page as it
was. Aliases come from `feature_alias()` (settings `PANEL_AI_FEATURE_ALIASES`) unless given.
"""

from __future__ import annotations

import re
from typing import Final

from backend.cms_ai import (
    AIResult,
    EmptyReply,
    FeatureInputError,
    StructureMismatch,
    complete_text,
    messages_build,
    strip_code_fence,
)
from backend.pages.models import META_DESCRIPTION_MAX, Language, Page
from backend.pages.structure import body_format, structure_difference

__all__ = [
    "TONES",
    "body_excerpt",
    "language_name",
    "meta_description_clean",
    "page_draft_apply",
    "page_draft_generate",
    "page_meta_description_apply",
    "page_meta_description_generate",
    "page_rewrite_apply",
    "page_rewrite_generate",
    "page_summary_apply",
    "page_summary_generate",
    "reply_cleaned",
]

TONES: Final = ("friendly", "formal", "concise", "persuasive", "playful", "neutral")

# Enough of a body to write a summary or description from, without paying for a whole long page.
_EXCERPT_CHARS: Final = 6000
_QUOTES: Final = "\"'“”‘’«»„"
_LABEL_RE: Final = re.compile(r"^\s*(?:\*\*)?meta[ -]?description(?:\*\*)?\s*:\s*", re.IGNORECASE)
_TRAILING_PUNCT: Final = ",;:-–—(/ "


def language_name(code: str) -> str:
    """The English name of a page language code (`fr` -> `French`), the code itself when unknown."""
    try:
        return str(Language(code).label)
    except ValueError:
        return code


def body_excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def reply_cleaned(result: AIResult, text: str, *, what: str) -> AIResult:
    """`result` carrying `text`, the reply cleaned up; `EmptyReply` when cleaning left nothing.

    A reply of only quotes, a label or an empty code fence is not blank to `complete_text()`, but
    saving what is left of it would wipe the field it was meant to fill.
    """
    if not text.strip():
        raise EmptyReply(
            f"The {what} from {result.provider or 'the provider'} held no text once cleaned up "
            f"(it replied {result.text.strip()[:40]!r}); nothing was saved. Try again, or route the "
            f"alias '{result.alias}' to another model under Admin › AI › Model aliases.",
            provider=result.provider,
            model=result.model,
        )
    return result.with_text(text)


def _require_body(page: Page, feature: str) -> None:
    if not page.body.strip():
        raise FeatureInputError(f"“{page.title}” has no body to {feature} yet: write or draft one first.")


def page_draft_generate(*, page: Page, notes: str | None = None, alias: str | None = None) -> AIResult:
    """A page body written from the page's title and notes (`notes` overrides `page.notes`)."""
    notes = page.notes if notes is None else notes
    if not page.title.strip():
        raise FeatureInputError("The page needs a title before a draft can be written.")
    messages = messages_build(
        system=(
            "You write web pages for a content management system. Write the body of the page in "
            f"{language_name(page.language)}, in Markdown: an opening paragraph, then sections with "
            "## headings, short paragraphs and lists where they help. Do not repeat the title. "
            "Reply with the body only."
        ),
        user=f"Title: {page.title}\n\nNotes:\n{notes.strip() or '(none: use the title)'}",
    )
    result = complete_text(
        feature="draft",
        caller="pages.draft",
        messages=messages,
        alias=alias,
        max_tokens=1500,
        temperature=0.7,
    )
    return reply_cleaned(result, strip_code_fence(result.text.strip()), what="draft")


def page_draft_apply(*, page: Page, notes: str | None = None, alias: str | None = None) -> AIResult:
    """Draft the body and save it to the page."""
    result = page_draft_generate(page=page, notes=notes, alias=alias)
    _save(page, body=result.text)
    return result


def page_summary_generate(*, page: Page, alias: str | None = None) -> AIResult:
    """A two- or three-sentence plain-text summary of the page body, in the page's language."""
    _require_body(page, "summarize")
    messages = messages_build(
        system=(
            "Summarize the web page below in two or three plain sentences in "
            f"{language_name(page.language)}. No heading, no list, no Markdown. Reply with the summary only."
        ),
        user=f"Title: {page.title}\n\n{body_excerpt(page.body)}",
    )
    result = complete_text(
        feature="summary",
        caller="pages.summary",
        messages=messages,
        alias=alias,
        max_tokens=300,
        temperature=0.3,
    )
    return reply_cleaned(result, " ".join(strip_code_fence(result.text.strip()).split()), what="summary")


def page_summary_apply(*, page: Page, alias: str | None = None) -> AIResult:
    """Summarize the page and save the summary."""
    result = page_summary_generate(page=page, alias=alias)
    _save(page, summary=result.text)
    return result


def meta_description_clean(text: str, *, limit: int = META_DESCRIPTION_MAX) -> str:
    """A model's meta description made fit to publish: one line, unquoted, at most `limit` chars.

    Whitespace is collapsed, a leading "Meta description:" label and wrapping quotes are dropped,
    and a text longer than `limit` is cut at the last word boundary that fits (a single word longer
    than `limit` is cut hard), without trailing commas or dashes.
    """
    text = " ".join(strip_code_fence(text.strip()).split())
    text = _LABEL_RE.sub("", text).strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    text = text.strip(_QUOTES + " ")
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else text[:limit]
    # Only dashes or commas before the first space (e.g. "— " then one very long word): cut hard.
    return head[:limit].rstrip(_TRAILING_PUNCT) or text[:limit].rstrip(_TRAILING_PUNCT)


def page_meta_description_generate(*, page: Page, alias: str | None = None) -> AIResult:
    """A meta description of at most 160 characters, enforced here whatever the model wrote."""
    source = page.summary.strip() or page.body.strip() or page.notes.strip()
    if not source:
        raise FeatureInputError(
            f"“{page.title}” has no body, summary or notes to describe yet: write or draft the body first."
        )
    messages = messages_build(
        system=(
            "Write the meta description search engines show for the web page below: one sentence in "
            f"{language_name(page.language)}, at most {META_DESCRIPTION_MAX - 5} characters, no quotes, "
            "no line breaks. Reply with the description only."
        ),
        user=f"Title: {page.title}\n\n{body_excerpt(source, 3000)}",
    )
    result = complete_text(
        feature="meta_description",
        caller="pages.meta_description",
        messages=messages,
        alias=alias,
        max_tokens=200,
        temperature=0.3,
    )
    return reply_cleaned(result, meta_description_clean(result.text), what="meta description")


def page_meta_description_apply(*, page: Page, alias: str | None = None) -> AIResult:
    """Write the meta description and save it."""
    result = page_meta_description_generate(page=page, alias=alias)
    _save(page, meta_description=result.text)
    return result


def page_rewrite_generate(*, page: Page, tone: str, alias: str | None = None) -> AIResult:
    """The page body rewritten in `tone`, with its HTML/Markdown structure checked to be intact."""
    _require_body(page, "rewrite")
    tone = tone.strip()
    if not tone:
        raise FeatureInputError(f"Choose a tone to rewrite in, e.g. one of: {', '.join(TONES)}.")
    fmt = body_format(page.body)
    messages = messages_build(
        system=(
            f"Rewrite the web page body below in a {tone} tone, in {language_name(page.language)}. Keep "
            f"its {fmt.upper()} structure exactly: the same headings, lists, links and tags in the same "
            "order. Change only the wording. Reply with the rewritten body only."
        ),
        user=page.body,
    )
    result = complete_text(
        feature="rewrite", caller="pages.rewrite", messages=messages, alias=alias, temperature=0.7
    )
    text = reply_cleaned(result, strip_code_fence(result.text.strip()), what="rewrite").text
    if problem := structure_difference(page.body, text):
        raise StructureMismatch(
            f"The rewrite from {result.provider} changed the page's structure ({problem}); the page was "
            "not changed. Try again, or route the alias to a stronger model.",
            provider=result.provider,
            model=result.model,
        )
    return result.with_text(text)


def page_rewrite_apply(*, page: Page, tone: str, alias: str | None = None) -> AIResult:
    """Rewrite the body in `tone` and save it."""
    result = page_rewrite_generate(page=page, tone=tone, alias=alias)
    _save(page, body=result.text)
    return result


def _save(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        setattr(page, name, value)
    page.save(update_fields=[*fields, "updated_at"])
