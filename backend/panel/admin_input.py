"""Admin pieces that keep hand-made or tampered POST data from turning into a 500 page.

Django's admin trusts two inputs that a browser normally fills from the page itself: the ids of
the rows selected for an action (`_selected_action`) and the value of an autocomplete select.
Either one, edited to something that is not a valid primary key (`abc`, a number past the
column's range), makes Django raise while building a query. Here both are checked first: an
invalid selected id is dropped (so an action with nothing valid selected gets Django's usual
"Items must be selected" message), and an invalid autocomplete value is left out of the options
(the form then shows its own "Select a valid choice" error).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponseBase

__all__ = ["SelectionCheckedAdmin", "TolerantAutocompleteSelect", "valid_keys"]


def valid_keys(field: models.Field[Any, Any], values: Iterable[object]) -> list[str]:
    """The values that `field` (a primary key or a relation's target) can be queried with."""
    valid = []
    for value in values:
        if value is None:
            continue
        try:
            field.run_validators(field.to_python(value))  # integer fields check the column's range
        except (ValidationError, TypeError, ValueError, OverflowError):
            continue
        valid.append(str(value))
    return valid


class SelectionCheckedAdmin(admin.ModelAdmin):
    """A `ModelAdmin` whose actions only ever see selected ids that are valid primary keys."""

    def response_action(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> HttpResponseBase | None:
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        valid = valid_keys(self.model._meta.pk, selected)
        if len(valid) != len(selected):
            data = request.POST.copy()
            data.setlist(ACTION_CHECKBOX_NAME, valid)
            request.POST = data  # type: ignore[misc]
        return super().response_action(request, queryset)


class TolerantAutocompleteSelect(AutocompleteSelect):
    """An `AutocompleteSelect` that renders a submitted value it cannot look up as no selection."""

    def optgroups(self, name: str, value: list[Any], attr: dict[str, Any] | None = None) -> Any:
        target = self.field.remote_field
        opts = target.model._meta
        to_field = opts.get_field(getattr(target, "field_name", None) or opts.pk.name)
        return super().optgroups(name, valid_keys(to_field, value), attr)
