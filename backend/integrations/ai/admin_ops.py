"""Operator tools in Django admin: the call log, the usage dashboard and its CSV export, the catalog.

- `CallLogAdmin` is read-only (only superusers may delete) and adds two views: the usage
  dashboard (`/admin/ai/calllog/dashboard/`) and the CSV export of the same filters
  (`/admin/ai/calllog/export/`), both for staff with view permission on the call log.
- `CatalogModelAdmin` lists models and prices, syncs them from OpenRouter
  (`/admin/ai/catalogmodel/sync/`, POST) and answers the route form's model-id autocomplete
  (`/admin/ai/catalogmodel/model-ids/?q=...&kind=...` or `&provider=<pk>`).

The views only parse input, call `dashboard`, `charts` and `catalog`, and turn their errors into
messages; `admin.py` imports this module so Django's autodiscovery registers it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from backend.panel.admin_input import SelectionCheckedAdmin

from . import catalog, charts, dashboard, errors
from .models import CallLog, CatalogModel, ModelAlias, Provider, RoutingSettings

_MILLION: Final = Decimal(1_000_000)
_EXPORT_BATCH: Final = 500
AUTOCOMPLETE_LIMIT: Final = 20


# --- call log ------------------------------------------------------------------------------------


@admin.register(CallLog)
class CallLogAdmin(SelectionCheckedAdmin):
    list_display = (
        "created_at",
        "caller",
        "alias",
        "provider",
        "model",
        "outcome",
        "latency",
        "total_tokens",
        "cost_display",
    )
    list_filter = ("outcome", "provider", "alias", "created_at", "failed_over", "streamed")
    search_fields = ("=request_id", "caller", "requested_model")
    list_per_page = 100
    show_full_result_count = False  # one COUNT(*) per page is enough on a million rows
    show_facets = admin.ShowFacets.NEVER  # per-value counts would scan the whole log
    change_list_template = "admin/ai/calllog/change_list.html"
    readonly_fields = ("attempts_display",)
    exclude = ("attempts",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: CallLog) -> str:
        return charts.format_ms(obj.latency_ms)

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj: CallLog) -> str:
        return charts.format_cost(obj.cost)

    @admin.display(description="attempts")
    def attempts_display(self, obj: CallLog) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.attempts, indent=2, ensure_ascii=False))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="ai_calllog_dashboard"),
            path("export/", view(self.export_view), name="ai_calllog_export"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"dashboard_url": reverse("admin:ai_calllog_dashboard"), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Calls, errors, failovers, tokens, cost and latency for one period, per provider, alias, caller."""
        self._require_view(request)
        default = dashboard.UsageFilters.default()
        initial = {"start": default.start, "end": default.end}
        form = dashboard.UsageFilterForm(request.GET or None, initial=initial)
        filters = form.filters()
        report = dashboard.build_report(filters)
        providers = report.breakdowns.get("provider")
        provider_groups = providers.groups if providers else ()
        query = filters.as_query()
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "totals": _row(report.totals, query, ""),
            "charts": [
                ("Calls per day", charts.calls_per_day(report.days)),
                ("Cost per provider", charts.cost_by_provider(provider_groups)),
                ("Latency per provider (successful calls)", charts.latency_by_provider(provider_groups)),
            ],
            "tables": [_table(b, query) for b in report.breakdowns.values()],
            "export_url": f"{reverse('admin:ai_calllog_export')}?{urlencode(query)}",
            "export_text_url": f"{reverse('admin:ai_calllog_export')}?{urlencode({**query, 'text': '1'})}",
            "offer_text": RoutingSettings.load().store_prompts,
            "sample_note": dashboard.sample_note(report),
            "filter_fields": [(form[name], _suggestions(report, name)) for name in form.fields],
        }
        return TemplateResponse(request, "admin/ai/calllog/dashboard.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The call log of the dashboard's filters as CSV, streamed in chunks (no prompt text by default)."""
        self._require_view(request)
        form = dashboard.UsageFilterForm(request.GET or None)
        if form.is_bound and not form.is_valid():
            messages.error(request, "Nothing was exported: " + " ".join(_form_errors(form)))
            return HttpResponseRedirect(f"{reverse('admin:ai_calllog_dashboard')}?{request.GET.urlencode()}")
        filters = form.filters()
        include_text = request.GET.get("text") == "1" and filters.queryset().exclude(prompt_text="").exists()
        rows = dashboard.export_rows(filters, include_text=include_text)
        body = _async_batches(rows) if isinstance(request, ASGIRequest) else _batches(rows)
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        name = f"calls-{filters.start.isoformat()}-to-{filters.end.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _batches(lines: Iterator[str]) -> Iterator[str]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= _EXPORT_BATCH:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


async def _async_batches(lines: Iterator[str]) -> AsyncIterator[str]:
    """The same batches for ASGI: a sync iterator there would be read whole into memory first."""
    batches = _batches(lines)
    next_batch = sync_to_async(lambda: next(batches, None), thread_sensitive=True)
    while (batch := await next_batch()) is not None:
        yield batch


def _form_errors(form: dashboard.UsageFilterForm) -> list[str]:
    return [str(message) for field_errors in form.errors.values() for message in field_errors]


def _row(stats: dashboard.GroupStats, query: dict[str, str], dimension: str) -> dict[str, Any]:
    link = f"?{urlencode({**query, dimension: stats.key})}" if dimension and stats.key else ""
    return {
        "key": stats.key or "(blank)",
        "link": link,
        "calls": f"{stats.calls:,}",
        "errors": f"{stats.errors:,}",
        "error_rate": f"{stats.error_rate:.1%}",
        "failovers": f"{stats.failovers:,}",
        "prompt_tokens": f"{stats.prompt_tokens:,}",
        "completion_tokens": f"{stats.completion_tokens:,}",
        "total_tokens": f"{stats.total_tokens:,}",
        "cost": charts.format_cost(stats.cost),
        "unpriced": f"{stats.unpriced:,}" if stats.unpriced else "",
        "p50": charts.format_ms(stats.p50_ms),
        "p95": charts.format_ms(stats.p95_ms),
    }


def _table(breakdown: dashboard.Breakdown, query: dict[str, str]) -> dict[str, Any]:
    return {
        "dimension": breakdown.dimension,
        "id": f"table-by-{breakdown.dimension}",
        "rows": [_row(g, query, breakdown.dimension) for g in breakdown.groups],
        "hidden": breakdown.hidden,
    }


def _suggestions(report: dashboard.UsageReport, dimension: str) -> list[str] | None:
    """Values for a filter input's datalist: what the period shows plus configured names (None: a date)."""
    if dimension not in dashboard.DIMENSIONS:
        return None
    breakdown = report.breakdowns.get(dimension)
    found = {g.key for g in breakdown.groups if g.key} if breakdown else set()
    configured = {"provider": Provider.objects, "alias": ModelAlias.objects}.get(dimension)
    if configured is not None:
        found.update(configured.values_list("name", flat=True))
    return sorted(found)


# --- catalog -------------------------------------------------------------------------------------


def per_million(value: Decimal | None) -> str:
    """A per-token price as dollars per million tokens, the unit price lists use."""
    if value is None:
        return "—"
    return f"${(value * _MILLION).normalize():f}"


@admin.register(CatalogModel)
class CatalogModelAdmin(SelectionCheckedAdmin):
    list_display = (
        "model_id",
        "provider_kind",
        "name",
        "context_length",
        "prompt_per_m",
        "completion_per_m",
        "cache_read_per_m",
        "retired",
        "synced_at",
    )
    list_filter = ("provider_kind", "retired")
    search_fields = ("model_id", "name", "canonical_slug")
    list_per_page = 100
    change_list_template = "admin/ai/catalogmodel/change_list.html"

    @admin.display(description="prompt $/M", ordering="prompt_price")
    def prompt_per_m(self, obj: CatalogModel) -> str:
        return per_million(obj.prompt_price)

    @admin.display(description="completion $/M", ordering="completion_price")
    def completion_per_m(self, obj: CatalogModel) -> str:
        return per_million(obj.completion_price)

    @admin.display(description="cache read $/M", ordering="cache_read_price")
    def cache_read_per_m(self, obj: CatalogModel) -> str:
        return per_million(obj.cache_read_price)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("sync/", view(self.sync_view), name="ai_catalogmodel_sync"),
            path("model-ids/", view(self.model_ids_view), name="ai_catalogmodel_model_ids"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "sync_url": reverse("admin:ai_catalogmodel_sync"),
            "can_sync": self.has_change_permission(request) and self.has_add_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Fetch OpenRouter's catalog with the first enabled OpenRouter provider's URL and key."""
        return _sync(self, request)

    def model_ids_view(self, request: HttpRequest) -> JsonResponse:
        """Catalog model ids containing `q`, for one provider kind (or a provider row's kind)."""
        if not _may_autocomplete(self, request):
            raise PermissionDenied
        kind = request.GET.get("kind", "")
        provider_pk = request.GET.get("provider", "")
        if not kind and provider_pk.isdigit():
            kind = Provider.objects.filter(pk=int(provider_pk)).values_list("kind", flat=True).first() or ""
        return JsonResponse({"results": _autocomplete(request.GET.get("q", "").strip()[:200], kind)})


def _sync(model_admin: CatalogModelAdmin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (model_admin.has_change_permission(request) and model_admin.has_add_permission(request)):
        raise PermissionDenied
    changelist = reverse("admin:ai_catalogmodel_changelist")
    source = catalog.openrouter_source()
    pages: list[str] = []
    try:
        result = catalog.sync_openrouter_models(
            base_url=source.base_url, api_key=source.api_key, progress=pages.append
        )
    except errors.ProviderError as exc:
        model_admin.message_user(
            request,
            f"Nothing was changed: could not fetch the catalog ({source.label}): {exc}",
            messages.ERROR,
        )
        return HttpResponseRedirect(changelist)
    model_admin.message_user(
        request, f"Synced from OpenRouter ({source.label}): {result.summary()}", messages.SUCCESS
    )
    return HttpResponseRedirect(changelist)


def _may_autocomplete(model_admin: CatalogModelAdmin, request: HttpRequest) -> bool:
    user = request.user
    return model_admin.has_view_permission(request) or any(
        user.has_perm(f"ai.{action}_modelalias") for action in ("add", "change")
    )


def _autocomplete(query: str, kind: str) -> list[dict[str, Any]]:
    rows: QuerySet[CatalogModel] = CatalogModel.objects.all()
    if kind:
        rows = rows.filter(provider_kind=kind)
    if query:
        rows = rows.filter(model_id__icontains=query)
    rows = rows.order_by("retired", "model_id")[:AUTOCOMPLETE_LIMIT]
    return [
        {
            "id": row.model_id,
            "kind": row.provider_kind,
            "name": row.name,
            "retired": row.retired,
            "prompt_per_million": per_million(row.prompt_price),
            "completion_per_million": per_million(row.completion_price),
        }
        for row in rows
    ]
