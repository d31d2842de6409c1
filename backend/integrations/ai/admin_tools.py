"""Operator tools in Django admin: test connection, route explain and the streaming playground.

- `ProviderToolsAdmin` (for `ProviderAdmin`): a "Test connection" button on each provider's page
  (POST `/admin/ai/provider/<pk>/test-connection/`) and the admin action of the same name for many
  selected providers. Both run `diagnostics.check_provider()` with the row's real key and report
  the outcome and latency as a message; they need change permission on providers.
- `AliasToolsAdmin` (for `ModelAliasAdmin`): `/admin/ai/modelalias/explain/?model=<alias or model>`
  shows the candidates in the order the next call would try them, from `router.explain()` (the
  router's own resolution), for staff who may view aliases.
- The playground (`/admin/ai/playground/`, routed in `backend/panel/urls.py`): a page (sync, through
  the admin site's login and CSRF wrapper) and an async view that streams the reply as
  newline-delimited JSON events (`playground.py`), both for holders of `ai.use_playground`.

The views parse input, call the registry, and turn its answers into messages and pages.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Final

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from backend.panel.admin_input import SelectionCheckedAdmin

from . import diagnostics, playground, router
from .admin_ops import per_million
from .models import ModelAlias, Provider, RoutingSettings

logger = logging.getLogger(__name__)

PLAYGROUND_PERMISSION: Final = "ai.use_playground"

# Message level per check outcome: the key works; it is fine but something needs a look; it fails.
_LEVELS: Final = {
    "works": messages.SUCCESS,
    "no_credits": messages.WARNING,
    "model_missing": messages.WARNING,
    "not_configured": messages.WARNING,
}


# --- test connection -----------------------------------------------------------------------------


def run_check(name: str) -> tuple[int, str]:
    """(message level, message) for one provider's connection check; never raises, never shows the key."""
    try:
        result = diagnostics.check_provider(name)
    except Exception:
        logger.exception("Connection check for provider %s failed unexpectedly.", name)
        return messages.ERROR, f"Provider {name}: Error: the check itself failed; see the server log."
    status = f" (HTTP {result['status']})" if result.get("status") else ""
    facts = _facts(result.get("details") or {})
    took = f"{result['latency_ms']:.0f} ms"
    text = f"Provider {name}: {result['label']}{status} in {took}. {result['message']}{facts}"
    return _LEVELS.get(result["outcome"], messages.ERROR), text


def _facts(details: dict[str, Any]) -> str:
    shown = [
        f"{key.replace('_', ' ')}: {value}"
        for key, value in details.items()
        if key != "ok" and isinstance(value, str | int | float | bool)
    ]
    return f" ({'; '.join(shown[:6])})" if shown else ""


class ProviderToolsAdmin(SelectionCheckedAdmin):
    """`ProviderAdmin`'s base: the "Test connection" view behind the change page's button
    (templates/admin/ai/provider/change_form.html) and the `test_connection` action."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/test-connection/",
                view(self.test_connection_view),
                name="ai_provider_test_connection",
            ),
            *super().get_urls(),
        ]

    @method_decorator(require_POST)
    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Check one provider with its real key; the outcome comes back as a message on its page."""
        provider = self.get_object(request, object_id)
        if provider is None:
            self.message_user(request, "That provider no longer exists.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:ai_provider_changelist"))
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        level, text = run_check(provider.name)
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:ai_provider_change", args=[provider.pk]))

    @admin.action(description="Test connection of the selected providers", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for name in queryset.order_by("priority", "name").values_list("name", flat=True):
            level, text = run_check(name)
            self.message_user(request, text, level)


# --- route explain -------------------------------------------------------------------------------


class ExplainForm(forms.Form):
    model = forms.CharField(required=False, max_length=200, strip=True, label="Alias or model name")


def explain_url(name: str = "") -> str:
    base = reverse("admin:ai_modelalias_explain")
    return f"{base}?{urlencode({'model': name})}" if name else base


def _recovery(recovers_at: float | None) -> dict[str, Any] | None:
    if not recovers_at:
        return None
    return {
        "at": datetime.fromtimestamp(recovers_at, tz=UTC),
        "in_seconds": max(0, round(recovers_at - time.time())),
    }


def candidate_rows(explanation: router.Explanation) -> list[dict[str, Any]]:
    """The explanation's candidates as table rows (prices per million tokens)."""
    names = {c.provider for c in explanation.candidates}
    pks = dict(Provider.objects.filter(name__in=names).values_list("name", "pk"))
    rows = []
    for c in explanation.candidates:
        price = c.price
        pk = pks.get(c.provider)
        rows.append(
            {
                "info": c,
                "provider_url": reverse("admin:ai_provider_change", args=[pk]) if pk is not None else "",
                "recovery": _recovery(c.recovers_at),
                "circuit": c.circuit.replace("_", " "),
                "prompt_price": per_million(price.prompt if price else None),
                "completion_price": per_million(price.completion if price else None),
                "cache_read_price": per_million(price.cache_read if price else None),
                "latency": "—" if c.latency_ms is None else f"{c.latency_ms:.0f} ms",
            }
        )
    return rows


class AliasToolsAdmin(SelectionCheckedAdmin):
    """`ModelAliasAdmin`'s base: the route explain page, linked from the list (`explain_link`
    column, object tools) and from each alias's page (templates/admin/ai/modelalias/)."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("explain/", view(self.explain_view), name="ai_modelalias_explain"),
            *super().get_urls(),
        ]

    @admin.display(description="Routing")
    def explain_link(self, obj: ModelAlias) -> str:
        return format_html('<a href="{}" class="explain-link">explain</a>', explain_url(obj.name))

    def explain_view(self, request: HttpRequest) -> HttpResponse:
        """Where the next call for the typed alias or model name would go, in order, and why."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        form = ExplainForm(request.GET or None)
        explanation = None
        if form.is_valid():
            explanation = router.explain(form.cleaned_data["model"] or None)
        elif not form.is_bound:
            explanation = router.explain(None)
        settings_row = RoutingSettings.load()
        aliases = ModelAlias.objects.order_by("name").values_list("name", "enabled")
        context = {
            **self.admin_site.each_context(request),
            "title": "Route explain",
            "opts": self.model._meta,
            "form": form,
            "explanation": explanation,
            "rows": candidate_rows(explanation) if explanation else [],
            "default_alias": settings_row.default_alias,
            "aliases": list(aliases),
            "alias_url": _alias_url(explanation.alias) if explanation and explanation.alias else "",
            "shuffled": _shuffles(explanation),
        }
        return TemplateResponse(request, "admin/ai/modelalias/explain.html", context)


def _alias_url(name: str) -> str:
    pk = ModelAlias.objects.filter(name=name).values_list("pk", flat=True).first()
    return reverse("admin:ai_modelalias_change", args=[pk]) if pk is not None else ""


def _shuffles(explanation: router.Explanation | None) -> bool:
    """Whether the order shown is one weighted draw of several possible orders."""
    if explanation is None or len(explanation.candidates) < 2:
        return False
    if explanation.strategy == "weighted":
        return True
    tiers = [(c.route_priority, c.provider_priority) for c in explanation.candidates]
    return len(set(tiers)) < len(tiers)


# --- playground ----------------------------------------------------------------------------------


def _may_use_playground(user: Any) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(PLAYGROUND_PERMISSION))


def playground_view(request: HttpRequest) -> HttpResponse:
    """The playground page (GET); the form posts to `playground_stream_view` from playground.js."""
    if not _may_use_playground(request.user):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "AI playground",
        "form": playground.PlaygroundForm(),
        "stream_url": reverse("ai_playground_stream"),
        "explain_url": explain_url() if request.user.has_perm("ai.view_modelalias") else "",
    }
    return TemplateResponse(request, "admin/ai/playground.html", context)


def _validated(data: Any) -> tuple[playground.PlaygroundRun | None, str]:
    form = playground.PlaygroundForm(data)
    if not form.is_valid():
        return None, form.error_text()
    return form.run(), ""


@csrf_protect
@never_cache
async def playground_stream_view(request: HttpRequest) -> HttpResponse:
    """POST: run the playground form and stream the reply as newline-delimited JSON events.

    An async view: under ASGI the reply is relayed from `ai.astream` as it arrives without holding
    a thread; under WSGI the same view hands the server a sync iterator over `ai.stream`.
    """
    user = await request.auser()
    if not (user.is_active and user.is_staff and await user.ahas_perm(PLAYGROUND_PERMISSION)):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    run, problem = await sync_to_async(_validated)(request.POST)
    if run is None:
        event = playground.line(
            {"type": "error", "message": problem, "error": "InvalidInput", "partial": False}
        )
        return HttpResponse(event, status=400, content_type=playground.CONTENT_TYPE)
    body = playground.aevents(run) if isinstance(request, ASGIRequest) else playground.events(run)
    response = StreamingHttpResponse(body, content_type=playground.CONTENT_TYPE)
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each line on at once
    return response
