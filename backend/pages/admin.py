"""Admin for pages, with the AI features as actions and one streaming long-form draft page.

The admin declares; the services in `backend.pages.services` act. Every AI outcome becomes an admin
message naming the provider that served it; every failure becomes an error message with the typed
error's text, and leaves the page untouched (the services save only after a success).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from backend.cms_ai import AIResult, FeatureInputError, feature_alias
from backend.integrations.ai.errors import AIError
from backend.pages.models import Language, Page
from backend.pages.services import advanced_ai_service, ai_service
from backend.pages.services.advanced_ai_service import DraftEvent
from backend.panel.admin_input import SelectionCheckedAdmin

FAILURES = (AIError, FeatureInputError)
_PROGRESS_MARK = "<!--progress-->"


class TranslateForm(forms.Form):
    language = forms.ChoiceField(label="Translate into", choices=Language.choices)


class RewriteForm(forms.Form):
    tone = forms.ChoiceField(
        label="Rewrite in a tone", choices=[(t, t.capitalize()) for t in ai_service.TONES]
    )


def served_by(result: AIResult) -> str:
    """ "served by openai-main (gpt-4o-mini)": the provider and model behind a result, for messages."""
    return f"served by {result.provider or 'an unknown provider'} ({result.model or 'unknown model'})"


@admin.register(Page)
class PageAdmin(SelectionCheckedAdmin):
    list_display = ("title", "language", "status", "has_meta_description", "translation_of", "updated_at")
    list_filter = ("status", "language")
    search_fields = ("title", "slug")
    prepopulated_fields: ClassVar = {"slug": ("title",)}
    readonly_fields = ("translation_of", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "slug", "body")}),
        ("For AI drafts", {"fields": ("notes",)}),
        ("Summary and search", {"fields": ("summary", "meta_description")}),
        ("Publishing", {"fields": ("language", "status", "translation_of", "created_at", "updated_at")}),
    )
    actions = (
        "generate_meta_description",
        "summarize",
        "draft_from_notes",
        "translate",
        "rewrite",
        "suggest_titles",
    )

    @admin.display(boolean=True, description="Meta description")
    def has_meta_description(self, obj: Page) -> bool:
        return bool(obj.meta_description)

    # --- actions --------------------------------------------------------------------------------

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Page],
        what: str,
        run: Callable[[Page], AIResult],
    ) -> None:
        """Run `run` on every selected page; one message per page, success or failure."""
        for page in queryset:
            try:
                result = run(page)
            except FAILURES as exc:
                self.message_user(request, f"“{page}”: {what} failed: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"“{page}”: {what} saved, {served_by(result)}.", messages.SUCCESS)

    @admin.action(description="Generate meta description", permissions=["change"])
    def generate_meta_description(self, request: HttpRequest, queryset: QuerySet[Page]) -> None:
        self._each(
            request, queryset, "meta description", lambda p: ai_service.page_meta_description_apply(page=p)
        )

    @admin.action(description="Summarize", permissions=["change"])
    def summarize(self, request: HttpRequest, queryset: QuerySet[Page]) -> None:
        self._each(request, queryset, "summary", lambda p: ai_service.page_summary_apply(page=p))

    @admin.action(description="Draft body from notes", permissions=["change"])
    def draft_from_notes(self, request: HttpRequest, queryset: QuerySet[Page]) -> None:
        self._each(request, queryset, "draft", lambda p: ai_service.page_draft_apply(page=p))

    @admin.action(description="Translate to…", permissions=["change"])
    def translate(self, request: HttpRequest, queryset: QuerySet[Page]) -> HttpResponse | None:
        form = TranslateForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_form(request, queryset, form, "translate", "Translate pages")
        language = form.cleaned_data["language"]
        for page in queryset:
            try:
                done = advanced_ai_service.page_translation_create(page=page, language=language)
            except FAILURES as exc:
                self.message_user(request, f"“{page}”: translation failed: {exc}", messages.ERROR)
                continue
            url = reverse("admin:pages_page_change", args=[done.page.pk])
            verb = "created" if done.created else "updated"
            self.message_user(
                request,
                format_html(
                    "“{}”: translation <a href='{}'>“{}”</a> {}, {}.",
                    page,
                    url,
                    done.page,
                    verb,
                    served_by(done.result),
                ),
                messages.SUCCESS,
            )
        return None

    @admin.action(description="Rewrite in a tone…", permissions=["change"])
    def rewrite(self, request: HttpRequest, queryset: QuerySet[Page]) -> HttpResponse | None:
        form = RewriteForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_form(request, queryset, form, "rewrite", "Rewrite pages")
        tone = form.cleaned_data["tone"]
        self._each(
            request, queryset, f"{tone} rewrite", lambda p: ai_service.page_rewrite_apply(page=p, tone=tone)
        )
        return None

    @admin.action(description="Suggest titles", permissions=["change"])
    def suggest_titles(self, request: HttpRequest, queryset: QuerySet[Page]) -> None:
        for page in queryset:
            try:
                variants = advanced_ai_service.page_titles_generate(page=page)
            except FAILURES as exc:
                self.message_user(request, f"“{page}”: title suggestions failed: {exc}", messages.ERROR)
                continue
            titles = " · ".join(f"“{t}”" for t in variants.titles)
            self.message_user(request, f"“{page}”: title ideas {titles}, {served_by(variants.result)}.")

    def _action_form(
        self, request: HttpRequest, queryset: QuerySet[Page], form: forms.Form, action: str, title: str
    ) -> TemplateResponse:
        """The intermediate page of an action that needs one more choice (a language, a tone)."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "pages": queryset,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "alias": feature_alias(action),  # each action is named after its feature
        }
        return TemplateResponse(request, "admin/pages/page/action_form.html", context)

    # --- the long-form draft page ---------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.long_draft_view)
        return [path("<int:object_id>/long-draft/", view, name="pages_page_long_draft"), *super().get_urls()]

    def long_draft_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        """GET: what will happen; POST: run the draft, streaming each step to the browser as it goes."""
        page = get_object_or_404(Page, pk=object_id)
        if not self.has_change_permission(request, page):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"Long-form draft: {page}",
            "opts": self.model._meta,
            "original": page,
            "page": page,
            "alias": feature_alias("long_draft"),
            "running": request.method == "POST",
            "progress_mark": _PROGRESS_MARK,
        }
        if request.method != "POST":
            return TemplateResponse(request, "admin/pages/page/long_draft.html", context)
        html = render_to_string("admin/pages/page/long_draft.html", context, request=request)
        head, _, tail = html.partition(_PROGRESS_MARK)
        stream = _framed(head, _long_draft_lines(page), tail)
        body: Iterable[str] | AsyncIterator[str] = (
            _async_iter(stream) if isinstance(request, ASGIRequest) else stream
        )
        return StreamingHttpResponse(body, content_type="text/html; charset=utf-8")


def _framed(head: str, lines: Iterator[str], tail: str) -> Iterator[str]:
    yield head
    yield from lines
    yield tail


def _long_draft_lines(page: Page) -> Iterator[str]:
    """The progress of a long-form draft of `page` as HTML lines; saves the body at the end."""
    try:
        for event in advanced_ai_service.page_long_draft_stream(page=page):
            line = _progress_line(event)
            if event.kind == "done" and event.result is not None:
                page.body = event.text
                page.save(update_fields=["body", "updated_at"])
                line = format_html(
                    "<li class='success'>Draft saved: {}, {} tokens, {}.</li>",
                    _sections(event.total),
                    event.result.usage.total_tokens,
                    served_by(event.result),
                )
            if line:
                yield line
    except FAILURES as exc:
        yield format_html("<li class='error'>The draft failed; the page was not changed: {}</li>", exc)


def _sections(count: int) -> str:
    return f"{count} section{'' if count == 1 else 's'}"


def _progress_line(event: DraftEvent) -> str:
    if event.kind == "outline":
        return format_html(
            "<li>Outline: {} ({}), served by {}.</li>",
            _sections(event.total),
            " · ".join(event.sections),
            event.provider,
        )
    if event.kind == "section":
        return format_html(
            "<li>Writing section {} of {}: {}…</li>", (event.index or 0) + 1, event.total, event.heading
        )
    if event.kind == "retry":
        return format_html(
            "<li class='warning'>The stream broke, restarting the section: {}</li>", event.text
        )
    if event.kind == "section_done":
        return format_html(
            "<li>Section {} written ({} characters), served by {}.</li>",
            (event.index or 0) + 1,
            len(event.text),
            event.provider,
        )
    return ""


async def _async_iter(lines: Iterator[str]) -> AsyncIterator[str]:
    """Serve a sync iterator (which touches the DB) to an ASGI server one item at a time."""
    sentinel: Any = object()
    while True:
        item = await sync_to_async(next, thread_sensitive=True)(lines, sentinel)
        if item is sentinel:
            return
        yield item
