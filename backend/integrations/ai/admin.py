"""Django admin for the registry: providers, model aliases with their routes, routing settings.

The admin declares; services act (`services.provider_save`). The API key is write-only: no page
renders it, staff with view permission only do not even see its masked hint, and neither search,
filter nor URL lookups may touch it. Extending `ProviderAdmin` (object buttons, actions) is done
by appending to `actions` and overriding templates/admin/ai/provider/change_form.html. The
operator tools (test connection, route explain) live in `admin_tools`, the base classes here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from backend.panel.admin_input import TolerantAutocompleteSelect

from . import services
from .admin_tools import AliasToolsAdmin, ProviderToolsAdmin
from .forms import ProviderForm, RoutingSettingsForm
from .models import ModelAlias, ModelRoute, Provider, RoutingSettings

# Form fields whose values are secrets: kept out of Django's error reports.
SENSITIVE_FIELDS = ("new_api_key", "api_key")

_KEY_FIELDS_EDITABLE = ("key_hint", "new_api_key", "remove_key", "api_key_env")
_KEY_FIELDS_READ_ONLY = ("key_state", "api_key_env")


@admin.register(Provider)
class ProviderAdmin(ProviderToolsAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "priority", "enabled", "weight", "base_url_column", "key_status_column")
    list_display_links = ("name",)
    list_editable = ("priority", "enabled", "weight")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "base_url", "api_key_env")
    ordering = ("priority", "name")
    readonly_fields = ("key_hint", "key_state")
    # A list, so other modules can append admin actions; "Test connection" is in admin_tools.
    actions: ClassVar[list[Any]] = ["test_connection"]

    # --- pages ----------------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None) -> Any:
        if not self.has_change_permission(request, obj) and obj is not None:
            key_fields: tuple[str, ...] = _KEY_FIELDS_READ_ONLY
        elif obj is None:
            key_fields = ("new_api_key", "api_key_env")
        else:
            key_fields = _KEY_FIELDS_EDITABLE
        return [
            (None, {"fields": ("name", "kind", "enabled", "priority", "weight")}),
            (
                "Connection",
                {
                    "fields": (
                        "base_url",
                        "api_version",
                        "api_key_header",
                        "timeout_seconds",
                        "max_retries",
                        "max_connections",
                        "extra_headers",
                    )
                },
            ),
            (
                "API key",
                {
                    "fields": key_fields,
                    "description": "A stored key wins over the environment variable. Keys are "
                    "encrypted with FIELD_ENCRYPTION_KEY and never shown again.",
                },
            ),
        ]

    def get_list_display(self, request: HttpRequest) -> Any:
        if self.has_change_permission(request):
            return self.list_display
        return tuple("key_state_column" if f == "key_status_column" else f for f in self.list_display)

    @method_decorator(sensitive_post_parameters(*SENSITIVE_FIELDS))
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return super().add_view(request, form_url, extra_context)

    @method_decorator(sensitive_post_parameters(*SENSITIVE_FIELDS))
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return super().change_view(request, object_id, form_url, extra_context)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if "api_key" in lookup.split("__"):
            return False  # ciphertext: a lookup would match nothing, or probe the key
        return super().lookup_allowed(lookup, value, request)

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        services.provider_save(
            provider=obj,
            new_api_key=form.cleaned_data.get("new_api_key", ""),
            remove_key=form.cleaned_data.get("remove_key", False),
        )

    # --- columns and read-only fields -----------------------------------------------------------

    @admin.display(description="Base URL", ordering="base_url")
    def base_url_column(self, obj: Provider) -> str:
        return obj.base_url or "default"

    @admin.display(description="API key")
    def key_status_column(self, obj: Provider) -> str:
        return obj.key_status()[1]

    @admin.display(description="API key")
    def key_state_column(self, obj: Provider) -> str:
        return obj.key_status(reveal_hint=False)[1]

    @admin.display(description="Stored key")
    def key_hint(self, obj: Provider | None) -> str:
        if obj is None or obj.pk is None:
            return "none yet"
        return obj.key_status()[1]

    @admin.display(description="API key")
    def key_state(self, obj: Provider | None) -> str:
        if obj is None or obj.pk is None:
            return "none yet"
        return obj.key_status(reveal_hint=False)[1]


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    fields = ("priority", "provider", "model", "weight", "enabled")
    ordering = ("priority", "id")
    autocomplete_fields = ("provider",)
    extra = 1

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "provider":  # a tampered provider id is a form error, not a 500
            kwargs.setdefault("widget", TolerantAutocompleteSelect(db_field, self.admin_site))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    class Media:
        js = ("ai/model_autocomplete.js",)  # model-id suggestions from the catalog (admin_ops)


@admin.register(ModelAlias)
class ModelAliasAdmin(AliasToolsAdmin):
    list_display = ("name", "description", "strategy", "enabled", "route_count", "explain_link")
    list_filter = ("enabled", "strategy")
    search_fields = ("name", "description")
    ordering = ("name",)
    inlines = (ModelRouteInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelAlias]:
        return super().get_queryset(request).annotate(_route_count=Count("routes"))

    @admin.display(description="Routes", ordering="_route_count")
    def route_count(self, obj: ModelAlias) -> int:
        return getattr(obj, "_route_count", 0)


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(admin.ModelAdmin):
    """One page: the list redirects to the single row, which can be neither added nor deleted."""

    form = RoutingSettingsForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = RoutingSettings.load()
        return HttpResponseRedirect(reverse("admin:ai_routingsettings_change", args=[row.pk]))

    def response_change(self, request: HttpRequest, obj: RoutingSettings) -> HttpResponse:
        response = super().response_change(request, obj)
        if "_continue" not in request.POST:
            # The list is this page: stay on it rather than bounce through the redirect.
            return HttpResponseRedirect(request.path)
        return response


from . import admin_ops  # noqa: E402,F401  (registers the call log, catalog and dashboard admins)
