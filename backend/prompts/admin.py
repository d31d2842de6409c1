"""Admin for prompt templates, with a per-template Run page.

The Run page shows one field per placeholder; submitting it runs the template through
`prompt_template_run()` and shows the reply with the provider, model, tokens, cost and latency.
A failure is an error message with the typed error's text, on the same page, never a 500.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from backend.cms_ai import AIResult, FeatureInputError
from backend.integrations.ai.errors import AIError
from backend.panel.admin_input import SelectionCheckedAdmin
from backend.prompts.models import PromptTemplate
from backend.prompts.rendering import PromptSyntaxError
from backend.prompts.services.ai_service import prompt_template_alias, prompt_template_run


class RunForm(forms.Form):
    """One text field per placeholder of the template."""

    def __init__(self, *args: object, variables: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name in variables:
            self.fields[name] = forms.CharField(
                label=name, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), strip=False
            )


@admin.register(PromptTemplate)
class PromptTemplateAdmin(SelectionCheckedAdmin):
    list_display = ("name", "description", "alias_used", "response_format", "run_link")
    list_filter = ("response_format",)
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        ("Prompt", {"fields": ("system_prompt", "template")}),
        ("Model", {"fields": ("alias", "temperature", "max_tokens", "response_format")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Alias")
    def alias_used(self, obj: PromptTemplate) -> str:
        return prompt_template_alias(template=obj)

    @admin.display(description="Run")
    def run_link(self, obj: PromptTemplate) -> str:
        return format_html(
            "<a href='{}'>Run…</a>", reverse("admin:prompts_prompttemplate_run", args=[obj.pk])
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.run_view)
        return [path("<int:object_id>/run/", view, name="prompts_prompttemplate_run"), *super().get_urls()]

    def run_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: the variables form; POST: run the template and show the reply and its figures."""
        template = get_object_or_404(PromptTemplate, pk=object_id)
        # Seeing the form needs view permission; running it spends tokens, so it needs change.
        allowed = self.has_change_permission if request.method == "POST" else self.has_view_permission
        if not allowed(request, template):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run prompt: {template.name}",
            "opts": self.model._meta,
            "original": template,
            "template_obj": template,
            "alias": prompt_template_alias(template=template),
            "result": None,
        }
        try:
            variables = template.variables
        except PromptSyntaxError as exc:
            self.message_user(request, f"This template cannot run: {exc}", messages.ERROR)
            return TemplateResponse(request, "admin/prompts/prompttemplate/run.html", context)
        form = RunForm(request.POST or None, variables=variables)
        context["form"] = form
        if request.method == "POST" and form.is_valid():
            context["result"] = self._run(request, template, form.cleaned_data)
        return TemplateResponse(request, "admin/prompts/prompttemplate/run.html", context)

    def _run(
        self, request: HttpRequest, template: PromptTemplate, variables: dict[str, str]
    ) -> AIResult | None:
        try:
            result = prompt_template_run(template=template, variables=variables)
        except (AIError, FeatureInputError) as exc:
            self.message_user(request, f"“{template}” failed: {exc}", messages.ERROR)
            return None
        self.message_user(
            request, f"“{template}” ran, served by {result.provider} ({result.model}).", messages.SUCCESS
        )
        return result
